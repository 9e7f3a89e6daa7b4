"""throughput: the open-invoice covering index keyed by customer

Revision ID: tp_0002
Revises: tp_0001

``ix_invoice_open_cover`` (tp_0001) was keyed by due date. The aging report's per-customer
figures group the open invoices by customer: keyed by (customer_id, due_date) with the open
amount included, PostgreSQL streams that grouping from the index in customer order (no hash
aggregate spilling to disk), and the dashboard's totals still read nothing else.
"""
import sqlalchemy as sa
from alembic import op

revision = "tp_0002"
down_revision = "tp_0001"
branch_labels = None
depends_on = None

OPEN = "status IN ('open', 'partially_paid')"


def upgrade():
    op.drop_index("ix_invoice_open_cover", table_name="invoice")
    op.create_index("ix_invoice_open_cover", "invoice", ["customer_id", "due_date"],
                    postgresql_include=["open_amount"],
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))


def downgrade():
    op.drop_index("ix_invoice_open_cover", table_name="invoice")
    op.create_index("ix_invoice_open_cover", "invoice", ["due_date"],
                    postgresql_include=["customer_id", "open_amount"],
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
