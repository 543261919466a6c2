"""legal correctness: request checklist, one art. 19 task per professional, identity doubt

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-30 03:30:00

- request_steps: the policy's per-request-type steps as a checklist on each request (issue 13 item 4);
- recipient_notifications.professional_id: one GDPR art. 19 task per professional linked to the patient (item 6);
- requests.identity_doubt / identity_doubt_at: the reasonable doubt staff record before asking for an
  identity-document copy (item 2; GDPR art. 12(6), décret n° 2019-536 art. 77).
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('request_steps',
    sa.Column('id', sa.Integer(), nullable=False, comment='Internal identifier'),
    sa.Column('request_id', sa.Integer(), nullable=False, comment='The request'),
    sa.Column('step_key', sa.String(length=64), nullable=False, comment='Stable key of the step (policy step key or a legal step)'),
    sa.Column('scope', sa.String(length=64), nullable=False, comment='Policy activity key for a per-activity step; empty for the whole request'),
    sa.Column('source', sa.String(length=16), nullable=False, comment="Where the step comes from: 'policy' (request_types) or 'law' (CSP)"),
    sa.Column('required', sa.Boolean(), nullable=False, comment='A required step blocks the answer or the closure'),
    sa.Column('required_before', sa.String(length=24), nullable=False, comment='The status the step must be done before: answered or closed'),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True, comment='When it was ticked; null while open'),
    sa.Column('done_by', sa.String(length=200), nullable=True, comment='Who ticked it (staff, professional, system)'),
    sa.Column('note', sa.Text(), nullable=True, comment='What was found or done, as the person ticking wrote it'),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False, comment='When the step was put on the request'),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_request_steps_request_id_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_steps')),
    sa.UniqueConstraint('request_id', 'step_key', 'scope', name='uq_request_steps_step'),
    comment='Checklist of each request: the steps of its type (GDPR art. 15-21) and of the law (CSP)'
    )
    with op.batch_alter_table('request_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_steps_request_id'), ['request_id'], unique=False)

    with op.batch_alter_table('recipient_notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('professional_id', sa.Integer(), nullable=True, comment="For the joint controller 'professional': which professional linked to the patient (GDPR art. 19)"))
        batch_op.drop_constraint('uq_recipient_notifications_task', type_='unique')
        batch_op.create_unique_constraint('uq_recipient_notifications_task', ['request_id', 'activity', 'recipient_key', 'professional_id'])
        batch_op.create_index(batch_op.f('ix_recipient_notifications_professional_id'), ['professional_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_recipient_notifications_professional_id_professionals'), 'professionals', ['professional_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identity_doubt', sa.Text(), nullable=True, comment="Why staff have a reasonable doubt about the requester's identity (an ID copy is asked only then)"))
        batch_op.add_column(sa.Column('identity_doubt_at', sa.DateTime(timezone=True), nullable=True, comment='When that doubt was recorded'))


def downgrade():
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_column('identity_doubt_at')
        batch_op.drop_column('identity_doubt')

    with op.batch_alter_table('recipient_notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_recipient_notifications_professional_id_professionals'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_recipient_notifications_professional_id'))
        batch_op.drop_constraint('uq_recipient_notifications_task', type_='unique')
        batch_op.create_unique_constraint('uq_recipient_notifications_task', ['request_id', 'activity', 'recipient_key'])
        batch_op.drop_column('professional_id')

    with op.batch_alter_table('request_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_steps_request_id'))

    op.drop_table('request_steps')
