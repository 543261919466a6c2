"""hardening (issue 12): outbox bodies keep no usable link (sealed until sent); sign-in throttled per email and address

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


    # Sign-in throttling counts wrong passwords per email and client address, and only slows (item 5).
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.alter_column('key', existing_type=sa.String(length=64), existing_nullable=False,
                              comment='HMAC-SHA256 of the lower-cased email and the client address',
                              existing_comment='HMAC-SHA256 of the lower-cased email')
        batch_op.alter_column('locked_until', existing_type=sa.DateTime(timezone=True), existing_nullable=True,
                              comment='Next attempt not checked before this instant',
                              existing_comment='Attempts refused until this instant')
    if op.get_bind().dialect.name != 'sqlite':   # SQLite keeps no comments
        op.create_table_comment('login_throttles',
                                'Wrong passwords per email and client address (HMAC-keyed): slowing, never a lock',
                                existing_comment='Failed sign-in attempts for emails without an account (HMAC-keyed)')
    # Rows keyed by the email alone count nothing any more; they would be purged within a day anyway.
    op.execute(sa.text('DELETE FROM login_throttles'))


def downgrade():
    if op.get_bind().dialect.name != 'sqlite':
        op.create_table_comment('login_throttles',
                                'Failed sign-in attempts for emails without an account (HMAC-keyed)',
                                existing_comment='Wrong passwords per email and client address (HMAC-keyed): slowing, never a lock')
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.alter_column('locked_until', existing_type=sa.DateTime(timezone=True), existing_nullable=True,
                              comment='Attempts refused until this instant',
                              existing_comment='Next attempt not checked before this instant')
        batch_op.alter_column('key', existing_type=sa.String(length=64), existing_nullable=False,
                              comment='HMAC-SHA256 of the lower-cased email',
                              existing_comment='HMAC-SHA256 of the lower-cased email and the client address')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('body_html', existing_type=sa.Text(), existing_nullable=True,
                              comment='Email HTML body',
                              existing_comment='Email HTML body with its secret links redacted')
        batch_op.alter_column('body_text', existing_type=sa.Text(), existing_nullable=True,
                              comment='Email plain-text body, or webhook JSON body',
                              existing_comment='Email plain-text body with its secret links redacted, or webhook JSON body')
        batch_op.drop_column('body_sha256')
        batch_op.drop_column('sealed_body')
