"""encryption at rest: bank_account.iban encrypted + iban_hash, customer.national_number

Revision ID: crypto_0003
Revises: f7c8b3bcc73f

bank_account.iban is widened from 34 to 255 characters: a Fernet token of a 34-character IBAN
is 140 characters (version, timestamp, IV, padded AES block, HMAC; base64). Its plain-text index
goes (an index on random ciphertext finds nothing); the keyed hash column is indexed instead.

Data: every existing IBAN is encrypted and hashed here, with the key the application uses
(config ENCRYPTION_KEYS / env CREDITDESK_ENCRYPTION_KEY, and CREDITDESK_LOOKUP_KEY): run the
upgrade with the same environment as the application. Downgrade decrypts them back.
"""
import hashlib
import hmac
import os

import sqlalchemy as sa
from alembic import op

revision = "crypto_0003"
down_revision = "f7c8b3bcc73f"
branch_labels = None
depends_on = None

BATCH = 1000


def _state():
    from app.core.crypto import build_state

    try:
        from flask import current_app

        config = current_app.config
        return build_state(config.get("ENCRYPTION_KEYS"), config.get("LOOKUP_KEY"))
    except RuntimeError:  # outside the app (plain alembic): the environment
        return build_state(os.environ.get("CREDITDESK_ENCRYPTION_KEY"),
                           os.environ.get("CREDITDESK_LOOKUP_KEY"))


def _rewrite(convert) -> None:
    """Rewrite bank_account.iban (and iban_hash) row by row in batches with ``convert``."""
    bind = op.get_bind()
    table = sa.table("bank_account", sa.column("id", sa.Integer),
                     sa.column("iban", sa.String), sa.column("iban_hash", sa.String))
    last_id = 0
    while True:
        rows = bind.execute(sa.select(table.c.id, table.c.iban).where(table.c.id > last_id)
                            .order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            break
        updates = [convert(row_id, iban) for row_id, iban in rows if iban]
        updates = [u for u in updates if u is not None]
        if updates:
            bind.execute(table.update().where(table.c.id == sa.bindparam("b_id"))
                         .values(iban=sa.bindparam("b_iban"), iban_hash=sa.bindparam("b_hash")),
                         updates)
        last_id = rows[-1][0]


def upgrade():
    with op.batch_alter_table("bank_account", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_account_iban")
        batch_op.alter_column("iban", existing_type=sa.String(length=34),
                              type_=sa.String(length=255), existing_nullable=False)
        batch_op.add_column(sa.Column("iban_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_bank_account_iban_hash", ["iban_hash"], unique=False)
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("national_number", sa.String(length=255), nullable=True))

    from app.core.crypto import FERNET_PREFIX, normalise_iban

    state = None

    def encrypt(row_id, iban):
        nonlocal state
        if iban.startswith(FERNET_PREFIX):
            return None  # already encrypted (a re-run)
        state = state or _state()
        digest = hmac.new(state["lookup"], normalise_iban(iban).encode(),
                          hashlib.sha256).hexdigest()
        return {"b_id": row_id, "b_iban": state["fernet"].encrypt(iban.encode()).decode(),
                "b_hash": digest}

    _rewrite(encrypt)


def downgrade():
    from app.core.crypto import FERNET_PREFIX

    state = None

    def decrypt(row_id, token):
        nonlocal state
        if not token.startswith(FERNET_PREFIX):
            return None
        state = state or _state()
        return {"b_id": row_id, "b_iban": state["fernet"].decrypt(token.encode()).decode()[:34],
                "b_hash": None}

    _rewrite(decrypt)
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("national_number")
    with op.batch_alter_table("bank_account", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_account_iban_hash")
        batch_op.drop_column("iban_hash")
        batch_op.alter_column("iban", existing_type=sa.String(length=255),
                              type_=sa.String(length=34), existing_nullable=False)
        batch_op.create_index("ix_bank_account_iban", ["iban"], unique=False)
