"""performance (issue 19): the queue's search by the end of a reference reads the references backwards in an index

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 12:55:00

"123" finds DSAR-2026-000123 (issue 18). The search was ``reference LIKE '%123'``, which reads every request
(130-230 ms over 1,000,000); it is now ``reverse(reference) LIKE '321%'`` on this index (models.request
.REFERENCE_TAIL_INDEX). text_pattern_ops: a prefix LIKE reads it whatever the database's collation. PostgreSQL only:
SQLite has no reverse(), and keeps the LIKE.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_requests_reference_reversed ON requests (reverse(reference) text_pattern_ops)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index('ix_requests_reference_reversed', table_name='requests')
