"""customer search: indexes for every exact key, and trigram names on PostgreSQL

Revision ID: search_0005
Revises: customers360_0003

The one-box search (app/customers/search.py) looks up e-mails case-insensitively and phones of
contacts too; without these indexes each was a full scan of customer / contact:

* ``ix_customer_email_lower``, ``ix_contact_email_lower``: lower(email);
* ``ix_contact_phone``: contact.phone (the customer's phone has ix_customer_phone).

PostgreSQL only: ``ix_customer_name_trgm``, a GIN trigram index on lower(name), so that the name
search (``lower(name) LIKE '%…%'``) of three characters or more reads the index instead of
every customer. It needs the pg_trgm extension (a "trusted" extension since PostgreSQL 13: the
database owner may create it). If it cannot be created, the index is left out and the name
search stays a scan, which is correct, only slower.
"""
import logging

import sqlalchemy as sa
from alembic import op

revision = "search_0005"
down_revision = "customers360_0003"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade():
    op.create_index("ix_customer_email_lower", "customer", [sa.text("lower(email)")])
    op.create_index("ix_contact_email_lower", "contact", [sa.text("lower(email)")])
    op.create_index("ix_contact_phone", "contact", ["phone"])
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if _trigram_extension(bind):
        op.create_index("ix_customer_name_trgm", "customer",
                        [sa.text("lower(name) gin_trgm_ops")], postgresql_using="gin")
    # Statistics on the new lower(...) expressions now, not at the next autovacuum: without
    # them the planner guesses that 4% of names match and walks ix_customer_name instead.
    op.execute("ANALYZE customer")
    op.execute("ANALYZE contact")


def _trigram_extension(bind) -> bool:
    available = bind.execute(sa.text(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar()
    if not available:
        log.warning("pg_trgm is not available: the customer name search stays a scan")
        return False
    try:
        with bind.begin_nested():  # a refusal must not abort the migration's transaction
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning("pg_trgm could not be created (%s): the customer name search stays a scan",
                    exc.orig)
        return False
    return True


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_customer_name_trgm")
    op.drop_index("ix_contact_phone", table_name="contact")
    op.drop_index("ix_contact_email_lower", table_name="contact")
    op.drop_index("ix_customer_email_lower", table_name="customer")
