"""retention purge: indexes on the foreign keys pointing at rows the purge deletes

Revision ID: purge_0001
Revises: tp_0003 (and needs the branches that create the tables)

The purge deletes contacts, bank accounts and messages. Seven foreign keys point at those
tables without an index on the referencing column, so each batch scanned the whole referencing
table for the purge's "lose the pointer" UPDATE and again for PostgreSQL's foreign key check
per deleted row (issue 22). Declared in app/retention/models.py (PURGE_FK_INDEXES).
"""
from alembic import op

revision = "purge_0001"
down_revision = "tp_0003"
branch_labels = None
# The tables come from other domains' migration branches (applied as "heads").
depends_on = ("customers_0003", "cashout_0003", "einv_0001", "inbound_0002")

INDEXES = [
    ("ix_portal_access_contact_id", "portal_access", "contact_id"),
    ("ix_email_change_contact_id", "email_change", "contact_id"),
    ("ix_mandate_bank_account_id", "mandate", "bank_account_id"),
    ("ix_refund_bank_account_id", "refund", "bank_account_id"),
    ("ix_dunning_action_message_id", "dunning_action", "message_id"),
    ("ix_e_document_message_id", "e_document", "message_id"),
    ("ix_inbound_message_answer_id", "inbound_message", "answer_id"),
]


def upgrade():
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade():
    for name, table, _column in INDEXES:
        op.drop_index(name, table_name=table)
