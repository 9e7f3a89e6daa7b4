"""payments: statement lines (kind, suggestion, review), returned payments, instalment payments

Revision ID: payments_0002
Revises: f7c8b3bcc73f
"""
from alembic import op
import sqlalchemy as sa

revision = "payments_0002"
down_revision = "f7c8b3bcc73f"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "installment_payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("installment_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["installment_id"], ["installment.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payment.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("installment_payment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_installment_payment_installment_id"),
                              ["installment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_installment_payment_payment_id"), ["payment_id"],
                              unique=False)

    with op.batch_alter_table("bank_statement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("sequence_number", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("line_count", sa.Integer(), server_default="0",
                                      nullable=False))
        batch_op.add_column(sa.Column("duplicate_count", sa.Integer(), server_default="0",
                                      nullable=False))
        batch_op.add_column(sa.Column("skipped_count", sa.Integer(), server_default="0",
                                      nullable=False))

    with op.batch_alter_table("statement_line", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=10), server_default="payment",
                                      nullable=False))
        batch_op.add_column(sa.Column("transaction_code", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("customer_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("suggestion", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reviewed_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_statement_line_customer_id", "customer",
                                    ["customer_id"], ["id"])
        batch_op.create_foreign_key("fk_statement_line_reviewed_by_id", "ab_user",
                                    ["reviewed_by_id"], ["id"])
        batch_op.create_index(batch_op.f("ix_statement_line_customer_id"), ["customer_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_statement_line_end_to_end_id"), ["end_to_end_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_statement_line_mandate_reference"),
                              ["mandate_reference"], unique=False)

    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("return_reason", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("return_line_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key("fk_payment_return_line_id", "statement_line",
                                    ["return_line_id"], ["id"])
        batch_op.create_index(batch_op.f("ix_payment_counterparty_iban"), ["counterparty_iban"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_payment_statement_line_id"), ["statement_line_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_payment_return_line_id"), ["return_line_id"],
                              unique=False)


def downgrade():
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_return_line_id"))
        batch_op.drop_index(batch_op.f("ix_payment_statement_line_id"))
        batch_op.drop_index(batch_op.f("ix_payment_counterparty_iban"))
        batch_op.drop_constraint("fk_payment_return_line_id", type_="foreignkey")
        batch_op.drop_column("notified_at")
        batch_op.drop_column("return_line_id")
        batch_op.drop_column("return_reason")
        batch_op.drop_column("returned_at")

    with op.batch_alter_table("statement_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statement_line_mandate_reference"))
        batch_op.drop_index(batch_op.f("ix_statement_line_end_to_end_id"))
        batch_op.drop_index(batch_op.f("ix_statement_line_customer_id"))
        batch_op.drop_constraint("fk_statement_line_reviewed_by_id", type_="foreignkey")
        batch_op.drop_constraint("fk_statement_line_customer_id", type_="foreignkey")
        for column in ("reviewed_by_id", "reviewed_at", "note", "suggestion", "customer_id",
                       "transaction_code", "kind"):
            batch_op.drop_column(column)

    with op.batch_alter_table("installment_payment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_installment_payment_payment_id"))
        batch_op.drop_index(batch_op.f("ix_installment_payment_installment_id"))
    op.drop_table("installment_payment")

    with op.batch_alter_table("bank_statement", schema=None) as batch_op:
        for column in ("skipped_count", "duplicate_count", "line_count", "sequence_number",
                       "currency"):
            batch_op.drop_column(column)
