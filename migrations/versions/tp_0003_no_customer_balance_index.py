"""throughput: no B-tree on customer.balance

Revision ID: tp_0003
Revises: tp_0002

``customer.balance`` is rewritten by every booking (the statement import refreshes the balance
of every customer it paid, once per file). With an index on the column PostgreSQL cannot update
those rows in place (no HOT update): every new row version adds an entry to every index of the
table. Nothing looks customers up by balance: the staff list filters or sorts 100,000 rows by
it at most (a scan of the table, milliseconds), the refund proposal reads the few credit
balances in a nightly job. On a copy of the bench data the 60k-customer balance update of a
100k-entry statement took 4.29 s with the index and 1.47 s without it (issue 22).
"""
from alembic import op

revision = "tp_0003"
down_revision = "tp_0002"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_customer_balance", table_name="customer")


def downgrade():
    op.create_index("ix_customer_balance", "customer", ["balance"])
