"""reminder holds: one mechanism that makes a customer's reminders wait (replies, Peppol, staff)

Revision ID: inbound_0001
Revises: f7c8b3bcc73f
"""
import sqlalchemy as sa
from alembic import op

revision = "inbound_0001"
down_revision = "f7c8b3bcc73f"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reminder_hold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("invoice_ids", sa.JSON(), nullable=True),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reminder_hold", schema=None) as batch_op:
        batch_op.create_index("ix_reminder_hold_customer_open", ["customer_id", "released_at"],
                              unique=False)
        batch_op.create_index("ix_reminder_hold_source", ["source"], unique=False)


def downgrade():
    with op.batch_alter_table("reminder_hold", schema=None) as batch_op:
        batch_op.drop_index("ix_reminder_hold_source")
        batch_op.drop_index("ix_reminder_hold_customer_open")
    op.drop_table("reminder_hold")
