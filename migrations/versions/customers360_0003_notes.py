"""customers 360°: staff notes, logged calls and reminder pauses; search by phone

Revision ID: customers360_0003
Revises: f7c8b3bcc73f
"""
import sqlalchemy as sa
from alembic import op

revision = "customers360_0003"
down_revision = "f7c8b3bcc73f"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "customer_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("call_direction", sa.String(length=10), nullable=True),
        sa.Column("call_outcome", sa.String(length=20), nullable=True),
        sa.Column("paused_until", sa.Date(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("user_name", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("customer_note", schema=None) as batch_op:
        batch_op.create_index("ix_customer_note_customer_created", ["customer_id", "created_at"],
                              unique=False)
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.create_index("ix_customer_phone", ["phone"], unique=False)


def downgrade():
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_phone")
    with op.batch_alter_table("customer_note", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_note_customer_created")
    op.drop_table("customer_note")
