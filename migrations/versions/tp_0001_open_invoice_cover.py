"""throughput: a covering partial index of the open invoices for the staff figures; snapshots

Revision ID: tp_0001
Revises: f7c8b3bcc73f

The staff dashboard and the aging report aggregate the open invoices (status open or partially
paid: about a tenth of the book) by due date, customer and open amount. ``ix_invoice_open_cover``
holds exactly those rows and columns, so on PostgreSQL each figure is an index-only scan of the
open invoices instead of a bitmap scan that visits the heap pages of a million invoices.
SQLite (no INCLUDE) gets the same partial index on due_date.

``figure_snapshot`` keeps costly staff figures (the DSO trend) with the time they were computed
(app.core.snapshots).
"""
import sqlalchemy as sa
from alembic import op

revision = "tp_0001"
down_revision = "f7c8b3bcc73f"
branch_labels = None
depends_on = None

OPEN = "status IN ('open', 'partially_paid')"


def upgrade():
    op.create_table(
        "figure_snapshot",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index("ix_invoice_open_cover", "invoice", ["due_date"],
                    postgresql_include=["customer_id", "open_amount"],
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))


def downgrade():
    op.drop_index("ix_invoice_open_cover", table_name="invoice")
    op.drop_table("figure_snapshot")
