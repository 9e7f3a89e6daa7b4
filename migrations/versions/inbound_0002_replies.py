"""inbound: customers' e-mail replies, their attachments, mailbox state, failing addresses

Revision ID: inbound_0002
Revises: inbound_0001
"""
import sqlalchemy as sa
from alembic import op

revision = "inbound_0002"
down_revision = "inbound_0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "inbound_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=False),
        sa.Column("mailbox", sa.String(length=100), nullable=False),
        sa.Column("uid_validity", sa.BigInteger(), nullable=True),
        sa.Column("uid", sa.BigInteger(), nullable=True),
        sa.Column("message_id_header", sa.String(length=300), nullable=True),
        sa.Column("sender", sa.String(length=300), nullable=False),
        sa.Column("sender_name", sa.String(length=200), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("full_text", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("category", sa.String(length=12), nullable=True),
        sa.Column("category_by", sa.String(length=10), nullable=True),
        sa.Column("matched_words", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("answers_message_id", sa.Integer(), nullable=True),
        sa.Column("tied_by", sa.String(length=10), nullable=False),
        sa.Column("token_refused", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("hold_id", sa.Integer(), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["answers_message_id"], ["message.id"]),
        sa.ForeignKeyConstraint(["answer_id"], ["message.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["customer_request.id"]),
        sa.ForeignKeyConstraint(["hold_id"], ["reminder_hold.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key", name="uq_inbound_message_dedupe"),
    )
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_message_status", ["status", "received_at"])
        batch_op.create_index("ix_inbound_message_customer", ["customer_id", "received_at"])
        batch_op.create_index("ix_inbound_message_answers_message_id", ["answers_message_id"])
    op.create_table(
        "inbound_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("storage_path", sa.String(length=300), nullable=True),
        sa.Column("refusal", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound_message.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("inbound_attachment", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_attachment_inbound_id", ["inbound_id"])
    op.create_table(
        "inbound_mailbox",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("uid_validity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("last_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("messages_read", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "failing_email_address",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bounces", sa.Integer(), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound_message.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address"),
    )
    with op.batch_alter_table("failing_email_address", schema=None) as batch_op:
        batch_op.create_index("ix_failing_email_address_customer_id", ["customer_id"])


def downgrade():
    op.drop_table("failing_email_address")
    op.drop_table("inbound_mailbox")
    op.drop_table("inbound_attachment")
    op.drop_table("inbound_message")
