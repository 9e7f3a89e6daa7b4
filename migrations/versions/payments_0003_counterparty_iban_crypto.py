"""encryption at rest: payment.counterparty_iban and statement_line.counterparty_iban + iban_hash

Revision ID: payments_0003
Revises: payments_0002

Like bank_account.iban (crypto_0003): the payer's IBAN of payments and statement lines is
stored as a Fernet token (app.core.crypto.EncryptedString), widened from 34 to 255 characters,
and found through a keyed hash column ``iban_hash`` (HMAC-SHA256 of the normalised IBAN,
indexed). The plain-text index on payment.counterparty_iban goes (an index on random
ciphertext finds nothing).

Data: every existing IBAN is encrypted and hashed here, in batches, with the keys the
application uses (config ENCRYPTION_KEYS / env CREDITDESK_ENCRYPTION_KEY, and
CREDITDESK_LOOKUP_KEY): run the upgrade with the same environment as the application
(``flask db upgrade`` / ``flask creditdesk init-db``). Rows already encrypted are left as they
are, so an interrupted upgrade can run again. Downgrade decrypts them back.
"""
import sqlalchemy as sa
from alembic import op

revision = "payments_0003"
down_revision = "payments_0002"
branch_labels = None
depends_on = None

BATCH = 1000
TABLES = ("payment", "statement_line")


def _rewrite(table_name: str, convert) -> None:
    """Rewrite ``table_name``.counterparty_iban and iban_hash in batches of BATCH rows:
    ``convert(value)`` gives (new value, new hash), or None to leave the row as it is."""
    bind = op.get_bind()
    table = sa.table(table_name, sa.column("id", sa.Integer),
                     sa.column("counterparty_iban", sa.String),
                     sa.column("iban_hash", sa.String))
    last_id = 0
    while True:
        rows = bind.execute(
            sa.select(table.c.id, table.c.counterparty_iban)
            .where(table.c.id > last_id, table.c.counterparty_iban.is_not(None))
            .order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            break
        updates = []
        for row_id, value in rows:
            converted = convert(value) if value else None
            if converted is not None:
                updates.append({"b_id": row_id, "b_iban": converted[0], "b_hash": converted[1]})
        if updates:
            bind.execute(table.update().where(table.c.id == sa.bindparam("b_id"))
                         .values(counterparty_iban=sa.bindparam("b_iban"),
                                 iban_hash=sa.bindparam("b_hash")), updates)
        last_id = rows[-1][0]


# The application's own helpers and keys (migrations run inside the app: migrations/env.py).
def _protect(iban: str):
    from app.core.crypto import encrypt, iban_hash, is_token

    if is_token(iban):
        return None  # already encrypted (a re-run)
    return encrypt(iban), iban_hash(iban)


def _reveal(token: str):
    from app.core.crypto import decrypt, is_token

    if not is_token(token):
        return None  # still plain text
    return decrypt(token)[:34], None


def upgrade():
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_counterparty_iban")
        batch_op.alter_column("counterparty_iban", existing_type=sa.String(length=34),
                              type_=sa.String(length=255), existing_nullable=True)
        batch_op.add_column(sa.Column("iban_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_payment_iban_hash", ["iban_hash"], unique=False)
    with op.batch_alter_table("statement_line", schema=None) as batch_op:
        batch_op.alter_column("counterparty_iban", existing_type=sa.String(length=34),
                              type_=sa.String(length=255), existing_nullable=True)
        batch_op.add_column(sa.Column("iban_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_statement_line_iban_hash", ["iban_hash"], unique=False)

    for table_name in TABLES:
        _rewrite(table_name, _protect)


def downgrade():
    for table_name in TABLES:
        _rewrite(table_name, _reveal)
    with op.batch_alter_table("statement_line", schema=None) as batch_op:
        batch_op.drop_index("ix_statement_line_iban_hash")
        batch_op.drop_column("iban_hash")
        batch_op.alter_column("counterparty_iban", existing_type=sa.String(length=255),
                              type_=sa.String(length=34), existing_nullable=True)
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_iban_hash")
        batch_op.drop_column("iban_hash")
        batch_op.alter_column("counterparty_iban", existing_type=sa.String(length=255),
                              type_=sa.String(length=34), existing_nullable=True)
        batch_op.create_index("ix_payment_counterparty_iban", ["counterparty_iban"],
                              unique=False)
