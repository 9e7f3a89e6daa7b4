"""cash-in: statement identity, balance check, imported-anyway reason, account known

Revision ID: cashin_0001
Revises: payments_0003
"""
import sqlalchemy as sa
from alembic import op

revision = "cashin_0001"
down_revision = "payments_0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("bank_statement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("statement_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("balance_status", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("balance_difference", sa.Numeric(precision=12, scale=2),
                                      nullable=True))
        batch_op.add_column(sa.Column("imported_anyway_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("account_known", sa.Boolean(), server_default="1",
                                      nullable=False))
        batch_op.create_unique_constraint("uq_bank_statement_statement_key", ["statement_key"])


def downgrade():
    with op.batch_alter_table("bank_statement", schema=None) as batch_op:
        batch_op.drop_constraint("uq_bank_statement_statement_key", type_="unique")
        for column in ("account_known", "imported_anyway_reason", "balance_difference",
                       "balance_status", "statement_key"):
            batch_op.drop_column(column)
