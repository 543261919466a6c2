"""legal correctness: kinds of clarification, medical-record items, refusal date, art. 12(5) decision

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 03:40:00

- request_pauses.kind: identity or scope; whether it suspends the period is a policy rule
  (décret n° 2019-536 art. 77; GDPR art. 12(3)) (issue 13 item 1);
- medical_record_items and requests.medical_record_old_due_date: how old each item of a medical
  record is, set by its holder (CSP L.1111-7, R.1111-1) (item 5);
- requests.refused_at / refusal_late: when a refusal was given and whether after the one-month
  date (GDPR art. 12(4)) (item 9);
- requests.unfounded_or_excessive*: the art. 12(5) decision and its grounds (item 10).
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('medical_record_items',
    sa.Column('id', sa.Integer(), nullable=False, comment='Internal identifier'),
    sa.Column('request_id', sa.Integer(), nullable=False, comment='The request'),
    sa.Column('label', sa.String(length=200), nullable=False, comment='What the item is, as the holder names it (no health content)'),
    sa.Column('older_than_5_years', sa.Boolean(), nullable=False, comment='The information dates from more than five years ago (2-month period)'),
    sa.Column('set_by', sa.String(length=200), nullable=False, comment='Who established it (staff or professional label)'),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False, comment='When it was last set'),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_medical_record_items_request_id_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_medical_record_items')),
    comment='Items of a requested medical record and their age (CSP L.1111-7, R.1111-1)'
    )
    with op.batch_alter_table('medical_record_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_medical_record_items_request_id'), ['request_id'], unique=False)

    with op.batch_alter_table('request_pauses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='scope', nullable=False, comment='Kind of clarification (identity, scope): whether it suspends the period is a policy rule'))

    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('medical_record_old_due_date', sa.Date(), nullable=True, comment='CSP R.1111-1: 2 months from receipt, for the items over five years old'))
        batch_op.add_column(sa.Column('refused_at', sa.DateTime(timezone=True), nullable=True, comment='When a whole or partial refusal was given (GDPR art. 12(4): within one month)'))
        batch_op.add_column(sa.Column('refusal_late', sa.Boolean(), server_default=sa.false(), nullable=False, comment='The refusal came after the one-month date of GDPR art. 12(4), extension or not'))
        batch_op.add_column(sa.Column('unfounded_or_excessive', sa.String(length=24), nullable=True, comment='GDPR art. 12(5) decision: manifestly_unfounded or excessive; null: none'))
        batch_op.add_column(sa.Column('unfounded_or_excessive_grounds', sa.Text(), nullable=True, comment='Why, as the controller must demonstrate it (GDPR art. 12(5))'))
        batch_op.add_column(sa.Column('unfounded_or_excessive_by', sa.String(length=200), nullable=True, comment='Who decided it'))
        batch_op.alter_column('medical_info_older_than_5_years', existing_type=sa.Boolean(), existing_nullable=False,
                              comment='Some item of the medical record is over five years old, as its holder established it',
                              existing_comment='The medical information asked for is over five years old (2-month rule)')


def downgrade():
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.alter_column('medical_info_older_than_5_years', existing_type=sa.Boolean(), existing_nullable=False,
                              comment='The medical information asked for is over five years old (2-month rule)',
                              existing_comment='Some item of the medical record is over five years old, as its holder established it')
        batch_op.drop_column('unfounded_or_excessive_by')
        batch_op.drop_column('unfounded_or_excessive_grounds')
        batch_op.drop_column('unfounded_or_excessive')
        batch_op.drop_column('refusal_late')
        batch_op.drop_column('refused_at')
        batch_op.drop_column('medical_record_old_due_date')

    with op.batch_alter_table('request_pauses', schema=None) as batch_op:
        batch_op.drop_column('kind')

    with op.batch_alter_table('medical_record_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_medical_record_items_request_id'))

    op.drop_table('medical_record_items')
