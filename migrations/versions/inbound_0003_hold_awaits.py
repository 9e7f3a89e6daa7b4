"""reminder holds say what they await (a payment, a deferral/plan, a dispute, new details), so
the booking of a payment or the customer's own request releases them; failing addresses say who
cleared them

Revision ID: inbound_0003
Revises: inbound_0002
"""
import sqlalchemy as sa
from alembic import op

revision = "inbound_0003"
down_revision = "inbound_0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("reminder_hold", schema=None) as batch_op:
        batch_op.add_column(sa.Column("awaits", sa.String(length=12), nullable=True))
    with op.batch_alter_table("failing_email_address", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cleared_by", sa.String(length=100), nullable=True))


def downgrade():
    with op.batch_alter_table("failing_email_address", schema=None) as batch_op:
        batch_op.drop_column("cleared_by")
    with op.batch_alter_table("reminder_hold", schema=None) as batch_op:
        batch_op.drop_column("awaits")
