"""outbox (issue 19 item 7): an email is rendered by its delivery job; what its columns hold until then

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 10:08:00

Only the comments change: sealed_body holds the email's sealed context until the delivery job renders it (a row
written before this version still holds the rendered email, and is sent as it is), and body_text is written when
the email is sent.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

SEALED_BEFORE = "The email as it is sent, links included, encrypted with the file keys; erased once sent or given up"
SEALED_AFTER = ("What the email is sent from, links included, encrypted with the file keys: its context until the "
                "delivery job renders it (or the rendered email); erased once sent or given up")
TEXT_BEFORE = "Email plain-text body with its secret links redacted, or webhook JSON body"
TEXT_AFTER = "Email plain-text body as sent, its secret links redacted (written when sent), or webhook JSON body"


def _comments(sealed: str, sealed_was: str, text: str, text_was: str) -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.alter_column('sealed_body', existing_type=sa.Text(), existing_nullable=True, comment=sealed,
                           existing_comment=sealed_was)
        batch.alter_column('body_text', existing_type=sa.Text(), existing_nullable=True, comment=text,
                           existing_comment=text_was)


def upgrade():
    if op.get_bind().dialect.name == 'sqlite':
        return   # SQLite keeps no column comments: nothing to change (and no table to rebuild for it)
    _comments(SEALED_AFTER, SEALED_BEFORE, TEXT_AFTER, TEXT_BEFORE)


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        return
    _comments(SEALED_BEFORE, SEALED_AFTER, TEXT_BEFORE, TEXT_AFTER)
