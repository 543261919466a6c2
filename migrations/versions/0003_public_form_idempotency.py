"""hardening (issue 12 item 9): the public form sent twice is one request

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 04:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('form_submission_hash', sa.String(length=64), nullable=True,
                                      comment="SHA-256 of the public form's one-time nonce and fields: the same form sent twice is one request"))
        batch_op.create_unique_constraint(batch_op.f('uq_requests_form_submission_hash'), ['form_submission_hash'])


def downgrade():
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_requests_form_submission_hash'), type_='unique')
        batch_op.drop_column('form_submission_hash')
