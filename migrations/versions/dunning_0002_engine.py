"""dunning: level day basis and switch, action channels/hand-over, per-invoice reminder lines,
invoice reminder clock, fees and exclusion bookkeeping

Revision ID: dunning_0002
Revises: f7c8b3bcc73f
"""
from alembic import op
import sqlalchemy as sa

revision = "dunning_0002"
down_revision = "f7c8b3bcc73f"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("dunning_level", schema=None) as batch_op:
        batch_op.add_column(sa.Column("days_basis", sa.String(length=10), nullable=False,
                                      server_default="due"))
        batch_op.add_column(sa.Column("active", sa.Boolean(), nullable=False,
                                      server_default=sa.true()))

    with op.batch_alter_table("dunning_action", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_ids", sa.JSON(), nullable=False,
                                      server_default="[]"))
        batch_op.add_column(sa.Column("channels", sa.String(length=60), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("effective_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("handover_status", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("handover_plugin", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("handover_reference", sa.String(length=200),
                                      nullable=True))
        batch_op.add_column(sa.Column("handover_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("handed_over_at", sa.DateTime(timezone=True),
                                      nullable=True))

    op.create_table(
        "dunning_action_invoice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("level_sequence", sa.Integer(), nullable=False),
        sa.Column("advanced", sa.Boolean(), nullable=False),
        sa.Column("days_late", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("fees", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.ForeignKeyConstraint(["action_id"], ["dunning_action.id"]),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoice.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dunning_action_invoice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dunning_action_invoice_action_id"), ["action_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_dunning_action_invoice_invoice_id"),
                              ["invoice_id"], unique=False)

    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dunning_blocked_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("dunning_blocked_by", sa.String(length=100),
                                      nullable=True))
        batch_op.add_column(sa.Column("last_reminder_effective_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("dunning_fees_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("dunning_fees", sa.Numeric(precision=12, scale=2),
                                      nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("invoice", schema=None) as batch_op:
        batch_op.drop_column("dunning_fees")
        batch_op.drop_column("dunning_fees_from")
        batch_op.drop_column("last_reminder_effective_on")
        batch_op.drop_column("dunning_blocked_by")
        batch_op.drop_column("dunning_blocked_on")
    with op.batch_alter_table("dunning_action_invoice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dunning_action_invoice_invoice_id"))
        batch_op.drop_index(batch_op.f("ix_dunning_action_invoice_action_id"))
    op.drop_table("dunning_action_invoice")
    with op.batch_alter_table("dunning_action", schema=None) as batch_op:
        batch_op.drop_column("handed_over_at")
        batch_op.drop_column("handover_error")
        batch_op.drop_column("handover_reference")
        batch_op.drop_column("handover_plugin")
        batch_op.drop_column("handover_status")
        batch_op.drop_column("effective_on")
        batch_op.drop_column("channels")
        batch_op.drop_column("message_ids")
    with op.batch_alter_table("dunning_level", schema=None) as batch_op:
        batch_op.drop_column("active")
        batch_op.drop_column("days_basis")
