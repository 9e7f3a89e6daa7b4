"""cash out: direct-debit collection batches, refunds and credit transfer files, write-offs

Revision ID: cashout_0003
Revises: f7c8b3bcc73f
"""
from alembic import op
import sqlalchemy as sa

revision = "cashout_0003"
down_revision = "f7c8b3bcc73f"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=12, scale=2)


def _stamps():
    return [sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)]


def _index(table, *columns, unique=False):
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=unique)


def upgrade():
    op.create_table(
        "collection_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=35), nullable=True),
        sa.Column("payment_info_id", sa.String(length=35), nullable=True),
        sa.Column("collection_date", sa.Date(), nullable=False),
        sa.Column("sequence_type", sa.String(length=4), nullable=False),
        sa.Column("scheme", sa.String(length=4), nullable=False),
        sa.Column("creditor_id", sa.String(length=35), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("transaction_count", sa.Integer(), nullable=False),
        sa.Column("total_amount", MONEY, nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("file_xml", sa.Text(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(["created_by_id"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
        sa.UniqueConstraint("payment_info_id"),
    )
    _index("collection_batch", "collection_date", "status")

    op.create_table(
        "collection_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("mandate_id", sa.Integer(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("end_to_end_id", sa.String(length=35), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["collection_batch.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoice.id"]),
        sa.ForeignKeyConstraint(["mandate_id"], ["mandate.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("collection_item", "batch_id", "customer_id", "end_to_end_id", "invoice_id",
           "mandate_id")

    op.create_table(
        "credit_transfer_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=35), nullable=True),
        sa.Column("execution_date", sa.Date(), nullable=False),
        sa.Column("transaction_count", sa.Integer(), nullable=False),
        sa.Column("total_amount", MONEY, nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("file_xml", sa.Text(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(["created_by_id"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )

    op.create_table(
        "refund",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("bank_account_id", sa.Integer(), nullable=True),
        sa.Column("iban", sa.String(length=255), nullable=True),
        sa.Column("bic", sa.String(length=11), nullable=True),
        sa.Column("proposed_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("end_to_end_id", sa.String(length=35), nullable=True),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consumed", sa.JSON(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(["approved_by_id"], ["ab_user.id"]),
        sa.ForeignKeyConstraint(["bank_account_id"], ["bank_account.id"]),
        sa.ForeignKeyConstraint(["batch_id"], ["credit_transfer_batch.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["proposed_by_id"], ["ab_user.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["customer_request.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("refund", "batch_id", "customer_id", "end_to_end_id", "status")

    op.create_table(
        "write_off",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("proposed_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(["approved_by_id"], ["ab_user.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoice.id"]),
        sa.ForeignKeyConstraint(["proposed_by_id"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("write_off", "customer_id", "invoice_id", "status")


def downgrade():
    for table in ("write_off", "refund", "credit_transfer_batch", "collection_item",
                  "collection_batch"):
        op.drop_table(table)
