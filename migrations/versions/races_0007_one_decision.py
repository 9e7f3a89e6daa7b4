"""races: unique partial indexes behind the locked decisions (one plan, dispute and live refund
per request, one deferral per invoice of a request, one write-off waiting per invoice)

Revision ID: races_0007
Revises: requests_0003 (and cashout_0003, which creates refund and write_off)

Rows made twice by the old race (before app/core/locking.py) would make an index impossible
to build: such an index is then skipped with a warning naming the rows, and the upgrade goes on
(the locks still protect every new decision). Resolve the rows (e.g. cancel the extra plan),
then `flask db downgrade requests_0003 && flask db upgrade` builds the indexes.
"""
import logging

import sqlalchemy as sa
from alembic import op

revision = "races_0007"
down_revision = "requests_0003"
branch_labels = None
depends_on = "cashout_0003"

log = logging.getLogger("alembic.runtime.migration")

# name, table, columns, partial condition
INDEXES = [
    ("uq_payment_plan_request", "payment_plan", ["request_id"],
     "request_id IS NOT NULL AND status <> 'cancelled'"),
    ("uq_deferral_request_invoice", "deferral", ["request_id", "invoice_id"],
     "request_id IS NOT NULL"),
    ("uq_dispute_request", "dispute", ["request_id"], "request_id IS NOT NULL"),
    ("uq_refund_request", "refund", ["request_id"],
     "request_id IS NOT NULL AND status <> 'rejected'"),
    ("uq_write_off_proposed_invoice", "write_off", ["invoice_id"], "status = 'proposed'"),
]


def _duplicates(table: str, columns: list[str], where: str) -> list:
    keys = ", ".join(columns)
    return list(op.get_bind().execute(sa.text(
        f"SELECT {keys}, COUNT(*) FROM {table} WHERE {where} GROUP BY {keys} "
        f"HAVING COUNT(*) > 1")))


def upgrade():
    for name, table, columns, where in INDEXES:
        twice = _duplicates(table, columns, where)
        if twice:
            log.warning("%s not created: %s has rows made twice before the race fix (%s): "
                        "resolve them, then downgrade to requests_0003 and upgrade again",
                        name, table, ", ".join(str(tuple(row)) for row in twice[:20]))
            continue
        op.create_index(name, table, columns, unique=True,
                        postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def downgrade():
    for name, table, _columns, _where in reversed(INDEXES):
        op.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
