"""performance (issue 19): the queue's search by first name reads an index on lower(first_name)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 06:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    # text_pattern_ops: lower(first_name) LIKE 'x%' reads the index whatever the collation (PostgreSQL only).
    ops = ' text_pattern_ops' if op.get_bind().dialect.name == 'postgresql' else ''
    for table in ('request_subjects', 'requesters'):
        op.execute(f'CREATE INDEX ix_{table}_first_name_lower ON {table} (lower(first_name){ops})')


def downgrade():
    op.drop_index('ix_requesters_first_name_lower', table_name='requesters')
    op.drop_index('ix_request_subjects_first_name_lower', table_name='request_subjects')
