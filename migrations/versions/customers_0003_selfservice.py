"""customers: self-service account area — e-mail change links, SMS codes, mandate signature
evidence

Revision ID: customers_0003
Revises: f7c8b3bcc73f
"""
from alembic import op
import sqlalchemy as sa


revision = "customers_0003"
down_revision = "f7c8b3bcc73f"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "email_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("old_email", sa.String(length=200), nullable=True),
        sa.Column("new_email", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_email_change_customer_id", "email_change", ["customer_id"])
    op.create_table(
        "sms_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sms_code_customer_id", "sms_code", ["customer_id"])
    with op.batch_alter_table("mandate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("signature_consent", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("signature_user_agent", sa.String(length=300),
                                      nullable=True))


def downgrade():
    with op.batch_alter_table("mandate", schema=None) as batch_op:
        batch_op.drop_column("signature_user_agent")
        batch_op.drop_column("signature_consent")
        batch_op.drop_column("language")
    op.drop_index("ix_sms_code_customer_id", table_name="sms_code")
    op.drop_table("sms_code")
    op.drop_index("ix_email_change_customer_id", table_name="email_change")
    op.drop_table("email_change")
