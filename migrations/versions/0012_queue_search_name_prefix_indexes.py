"""performance (issue 19): the queue's search by family name or first name reads covering prefix indexes

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 09:11:05

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

TABLES = ('request_subjects', 'requesters')


def upgrade():
    # One index per name and table, as before, but on PostgreSQL:
    # - text_pattern_ops, so that `LIKE 'x%'` reads it whatever the database's collation (the old default-collation
    #   index on last_name_lower was read through a range `>= 'x' AND < 'y'`, which misses names under fr-FR:
    #   'sanchez' sorts after 'sanche{' there);
    # - INCLUDE (request_id), so that the search reads the index alone, never the table (issue 19: 2 × 2,000 heap
    #   pages for a six-letter prefix over 1,000,000 requests).
    #   The first-name index holds first_name too: the LIKE is rechecked on lower(first_name), and PostgreSQL reads
    #   an expression index alone only when it holds the column the expression is made of.
    # Equality on last_name_lower (the duplicate check) reads the new index too.
    postgresql = op.get_bind().dialect.name == 'postgresql'
    ops = ' text_pattern_ops' if postgresql else ''
    for table in TABLES:
        op.drop_index(f'ix_{table}_last_name_lower', table_name=table)
        op.drop_index(f'ix_{table}_first_name_lower', table_name=table)
        op.execute(f'CREATE INDEX ix_{table}_last_name_prefix ON {table} (last_name_lower{ops})'
                   + (' INCLUDE (request_id)' if postgresql else ''))
        op.execute(f'CREATE INDEX ix_{table}_first_name_prefix ON {table} (lower(first_name){ops})'
                   + (' INCLUDE (request_id, first_name)' if postgresql else ''))


def downgrade():
    ops = ' text_pattern_ops' if op.get_bind().dialect.name == 'postgresql' else ''
    for table in TABLES:
        op.drop_index(f'ix_{table}_first_name_prefix', table_name=table)
        op.drop_index(f'ix_{table}_last_name_prefix', table_name=table)
        op.create_index(f'ix_{table}_last_name_lower', table, ['last_name_lower'], unique=False)
        op.execute(f'CREATE INDEX ix_{table}_first_name_lower ON {table} (lower(first_name){ops})')
