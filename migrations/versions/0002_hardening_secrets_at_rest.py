"""hardening (issue 12): outbox bodies keep no usable link; the email as sent is sealed until it is sent

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 03:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed_body', sa.Text(), nullable=True, comment='The email as it is sent, links included, encrypted with the file keys; erased once sent or given up'))
        batch_op.add_column(sa.Column('body_sha256', sa.String(length=64), nullable=True, comment='SHA-256 of the email as sent (text, then HTML), kept after its links are erased'))
        batch_op.alter_column('body_text', existing_type=sa.Text(), existing_nullable=True,
                              comment='Email plain-text body with its secret links redacted, or webhook JSON body',
                              existing_comment='Email plain-text body, or webhook JSON body')
        batch_op.alter_column('body_html', existing_type=sa.Text(), existing_nullable=True,
                              comment='Email HTML body with its secret links redacted',
                              existing_comment='Email HTML body')


def downgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('body_html', existing_type=sa.Text(), existing_nullable=True,
                              comment='Email HTML body',
                              existing_comment='Email HTML body with its secret links redacted')
        batch_op.alter_column('body_text', existing_type=sa.Text(), existing_nullable=True,
                              comment='Email plain-text body, or webhook JSON body',
                              existing_comment='Email plain-text body with its secret links redacted, or webhook JSON body')
        batch_op.drop_column('body_sha256')
        batch_op.drop_column('sealed_body')
