"""performance (issue 19): the task sweep's rules 2 and 3 read an index on the very expression each compares

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 10:35:00

Each expression is NULL for a task no rule can fire for (not live, or already acknowledged or escalated), so each
index answers "which live tasks are due" with the few tasks due rather than a scan of every task (over 1,000,000
tasks: 0.3-0.5 s a morning with nothing due before, 10-20 ms after). They are written here as the models compile
them (``models.people.task_reminder_counted_from`` and ``task_unacknowledged_since``): PostgreSQL uses such an
index only for a query holding the same expression, constants included.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

LIVE = "status IN ('open', 'acknowledged') AND revoked_at IS NULL"
INDEXES = {
    'ix_professional_tasks_reminder_counted_from':
        f"CASE WHEN ({LIVE}) THEN coalesce(last_reminder_at, created_at) END",
    'ix_professional_tasks_unacknowledged_since':
        f"CASE WHEN ({LIVE} AND acknowledged_at IS NULL AND escalated_at IS NULL) THEN created_at END",
}


def upgrade():
    for name, expression in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON professional_tasks (({expression}))")


def downgrade():
    for name in INDEXES:
        op.drop_index(name, table_name='professional_tasks')
