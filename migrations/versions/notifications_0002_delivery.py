"""notifications: delivery bookkeeping on messages, print batches for letters

Revision ID: notifications_0002
Revises: f7c8b3bcc73f
"""
import sqlalchemy as sa
from alembic import op

revision = "notifications_0002"
down_revision = "f7c8b3bcc73f"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "print_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("folder", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("print_batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_print_batch_status"), ["status"], unique=False)

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sending_started_at", sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column("provider", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("print_batch_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_message_provider"), ["provider"], unique=False)
        batch_op.create_index(batch_op.f("ix_message_print_batch_id"), ["print_batch_id"],
                              unique=False)
        batch_op.create_foreign_key("fk_message_print_batch_id", "print_batch",
                                    ["print_batch_id"], ["id"])


def downgrade():
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_constraint("fk_message_print_batch_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_message_print_batch_id"))
        batch_op.drop_index(batch_op.f("ix_message_provider"))
        batch_op.drop_column("print_batch_id")
        batch_op.drop_column("provider")
        batch_op.drop_column("sending_started_at")
    with op.batch_alter_table("print_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_print_batch_status"))
    op.drop_table("print_batch")
