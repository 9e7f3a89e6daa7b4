"""online payments: checkouts through a payment provider

Revision ID: online_0003
Revises: f7c8b3bcc73f
"""
from alembic import op
import sqlalchemy as sa

revision = "online_0003"
down_revision = "f7c8b3bcc73f"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "online_checkout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("provider_id", sa.String(length=100), nullable=True),
        sa.Column("checkout_url", sa.String(length=500), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("invoices", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("provider_status", sa.String(length=20), nullable=True),
        sa.Column("provider_data", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payment.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "provider_id", name="uq_online_checkout_provider_id"),
    )
    with op.batch_alter_table("online_checkout", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_online_checkout_customer_id"), ["customer_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_online_checkout_payment_id"), ["payment_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_online_checkout_status"), ["status"], unique=False)


def downgrade():
    with op.batch_alter_table("online_checkout", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_online_checkout_status"))
        batch_op.drop_index(batch_op.f("ix_online_checkout_payment_id"))
        batch_op.drop_index(batch_op.f("ix_online_checkout_customer_id"))
    op.drop_table("online_checkout")
