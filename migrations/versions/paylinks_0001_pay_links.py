"""paylinks: pay links in messages, their uses, SMS sign-in codes

Revision ID: paylinks_0001
Revises: f7c8b3bcc73f
"""
import sqlalchemy as sa
from alembic import op

revision = "paylinks_0001"
down_revision = "f7c8b3bcc73f"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "pay_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("invoice_ids", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=100), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_pay_link_customer_id", "pay_link", ["customer_id"])
    op.create_table(
        "pay_link_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pay_link_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ref_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["pay_link_id"], ["pay_link.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pay_link_event_pay_link_id", "pay_link_event", ["pay_link_id"])
    op.create_index("ix_pay_link_event_customer_at", "pay_link_event", ["customer_id", "at"])
    op.create_table(
        "sms_signin_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sms_signin_code_customer_id", "sms_signin_code", ["customer_id"])
    op.create_index("ix_sms_signin_code_phone", "sms_signin_code", ["phone"])


def downgrade():
    op.drop_table("sms_signin_code")
    op.drop_table("pay_link_event")
    op.drop_table("pay_link")
