"""e-invoicing: customers' Peppol addresses and the e-documents sent and received

Revision ID: einv_0001
Revises: f7c8b3bcc73f
"""
import sqlalchemy as sa
from alembic import op

revision = "einv_0001"
down_revision = "f7c8b3bcc73f"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "customer_peppol",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_scheme", sa.String(length=4), nullable=True),
        sa.Column("endpoint_id", sa.String(length=60), nullable=True),
        sa.Column("buyer_reference", sa.String(length=100), nullable=True),
        sa.Column("reachable", sa.Boolean(), nullable=True),
        sa.Column("reachable_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id"),
    )
    op.create_table(
        "e_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("doc_type", sa.String(length=20), nullable=False),
        sa.Column("number", sa.String(length=60), nullable=False),
        sa.Column("sender", sa.String(length=70), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("credit_note_id", sa.Integer(), nullable=True),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("failed_rules", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("xml", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("ap_message_id", sa.String(length=200), nullable=True),
        sa.Column("ap_status", sa.String(length=60), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["credit_note_id"], ["credit_note.id"]),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoice.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("direction", "doc_type", "number", "sender",
                            name="uq_e_document_number"),
    )
    with op.batch_alter_table("e_document", schema=None) as batch_op:
        batch_op.create_index("ix_e_document_status", ["direction", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_e_document_customer_id"), ["customer_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_e_document_credit_note_id"), ["credit_note_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_e_document_invoice_id"), ["invoice_id"],
                              unique=False)


def downgrade():
    op.drop_table("e_document")
    op.drop_table("customer_peppol")
