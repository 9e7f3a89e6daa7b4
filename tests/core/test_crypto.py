"""Encryption at rest: IBANs and national numbers are ciphertext in the database, yet IBAN
search and payment matching by known account still work (through the keyed hash)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from flask import current_app
from sqlalchemy import select, text

from app.core import crypto
from app.core.validation import ValidationError
from app.customers.models import BankAccount, Customer
from app.customers.services import clean_customer, find_bank_accounts_by_iban, upsert_customer
from app.extensions import db
from app.payments.incoming.matching import Matcher
from app.payments.incoming.models import StatementLine
from app.payments.rules import IBAN_AMOUNT
from tests.backoffice.conftest import session_csrf
from tests.helpers import make_customer, make_invoice

IBAN = "BE68539007547034"
NATIONAL = "85073003328"


def _account(customer: Customer, iban: str = IBAN, status: str = "active") -> BankAccount:
    account = BankAccount(customer=customer, iban=iban, purpose="known", status=status)
    db.session.add(account)
    db.session.commit()
    return account


def _raw(sql: str, **params):
    return db.session.execute(text(sql), params).scalar()


def test_iban_is_ciphertext_in_the_database_and_plain_in_python():
    account = _account(make_customer())
    raw = _raw("SELECT iban FROM bank_account WHERE id = :id", id=account.id)
    assert raw != IBAN and IBAN not in raw and raw.startswith("gAAAAA")
    assert len(raw) <= 255
    db.session.expire_all()
    assert db.session.get(BankAccount, account.id).iban == IBAN
    digest = _raw("SELECT iban_hash FROM bank_account WHERE id = :id", id=account.id)
    assert digest == crypto.iban_hash(IBAN) and IBAN not in digest


def test_search_by_iban_uses_the_hash_whatever_the_spelling():
    mine, other = make_customer(), make_customer()
    account = _account(mine)
    _account(other, "NL91ABNA0417164300")
    found = find_bank_accounts_by_iban("be68 5390 0754 7034")
    assert [a.id for a in found] == [account.id]
    assert find_bank_accounts_by_iban("BE68-5390.0754 7034")[0].id == account.id
    assert find_bank_accounts_by_iban("BE71096123456769") == []
    assert find_bank_accounts_by_iban("") == []


def test_sql_comparison_on_ciphertext_is_refused():
    with pytest.raises(TypeError):
        select(BankAccount).where(BankAccount.iban == IBAN)


def test_changing_the_iban_changes_the_hash():
    account = _account(make_customer())
    account.iban = "NL91ABNA0417164300"
    db.session.commit()
    assert find_bank_accounts_by_iban(IBAN) == []
    assert find_bank_accounts_by_iban("nl91 abna 0417 1643 00")[0].id == account.id


def test_key_rotation_old_values_still_read_and_reencrypt(app):
    account = _account(make_customer())
    old_token = _raw("SELECT iban FROM bank_account WHERE id = :id", id=account.id)
    old_keys = app.config["ENCRYPTION_KEYS"]
    new_key = Fernet.generate_key().decode()
    app.config["ENCRYPTION_KEYS"] = f"{new_key},{old_keys}"
    try:
        db.session.expire_all()
        assert db.session.get(BankAccount, account.id).iban == IBAN  # old key still decrypts
        rotated = crypto.reencrypt(old_token)
        assert Fernet(new_key.encode()).decrypt(rotated.encode()).decode() == IBAN
        # The lookup key comes from the oldest key: hashes survive the rotation.
        assert find_bank_accounts_by_iban(IBAN)[0].id == account.id
    finally:
        app.config["ENCRYPTION_KEYS"] = old_keys


def test_a_wrong_key_is_a_clear_error(app):
    account = _account(make_customer())
    old_keys = app.config["ENCRYPTION_KEYS"]
    app.config["ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    try:
        db.session.expire_all()
        with pytest.raises(crypto.CryptoConfigError):
            db.session.get(BankAccount, account.id).iban  # noqa: B018
    finally:
        app.config["ENCRYPTION_KEYS"] = old_keys
        db.session.rollback()


def test_national_number_is_validated_and_encrypted():
    customer, _ = upsert_customer(clean_customer({"number": "NN-1", "name": "Jan Peeters",
                                                  "national_number": "85.07.30-033.28"}))
    db.session.commit()
    raw = _raw("SELECT national_number FROM customer WHERE id = :id", id=customer.id)
    assert raw.startswith("gAAAAA") and NATIONAL not in raw
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).national_number == NATIONAL
    # Born in 2000 or later: the check digits count a 2 in front.
    born_2001 = clean_customer({"number": "NN-2", "name": "X", "national_number": "01010100126"})
    assert born_2001["national_number"] == "01010100126"
    with pytest.raises(ValidationError) as wrong:
        clean_customer({"number": "NN-3", "name": "Y", "national_number": "85073003329"})
    assert "national_number" in wrong.value.errors


def test_admin_customer_form_shows_and_checks_the_national_number(app, staff_client):
    customer = make_customer(national_number=NATIONAL)
    client = staff_client("Admin")
    page = client.get(f"/customerview/edit/{customer.id}").get_data(as_text=True)
    assert 'name="national_number"' in page and NATIONAL in page
    form = {"name": customer.name, "kind": "person", "language": "fr", "country": "BE",
            "delivery_channel": "email", "payment_method": "transfer", "legal_status": "none",
            "email": customer.email, "dunning_policy": "__None",
            "national_number": "12345678901", "csrf_token": session_csrf(app, client)}
    refused = client.post(f"/customerview/edit/{customer.id}", data=form)
    assert refused.status_code == 200
    assert "Not a valid Belgian national register number." in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).national_number == NATIONAL


def test_admin_bank_account_search_by_iban(app, staff_client):
    mine = make_customer(name="Has the account")
    make_customer(name="Another one")
    _account(mine)
    _account(db.session.scalar(select(Customer).where(Customer.name == "Another one")),
             "NL91ABNA0417164300")
    client = staff_client("AR clerk")
    listing = client.get("/bankaccountview/list/?_flt_0_iban=be68 5390 0754 7034")
    html = listing.get_data(as_text=True)
    assert listing.status_code == 200
    assert "BE68539007547034" in html and "NL91ABNA0417164300" not in html


def test_matching_by_known_account_still_works():
    customer = make_customer()
    invoice = make_invoice(customer, "75.00")
    _account(customer)
    line = StatementLine(kind="payment", amount=Decimal("75.00"), currency="EUR",
                         booking_date=date.today(), counterparty_iban=IBAN,
                         free_text="thanks", status="new")
    proposals = Matcher().propose([line])[0]
    assert proposals and proposals[0].rule == IBAN_AMOUNT
    assert proposals[0].customer_id == customer.id and proposals[0].invoices[0].id == invoice.id


def test_embedded_default_key_file_is_private(tmp_path, monkeypatch):
    import config

    monkeypatch.delenv("CREDITDESK_ENCRYPTION_KEY", raising=False)
    monkeypatch.setattr(config, "INSTANCE_PATH", tmp_path)
    key = config._instance_key("CREDITDESK_ENCRYPTION_KEY", "encryption_key", config._fernet_key)
    assert Fernet(key.encode())  # a valid Fernet key
    assert (tmp_path / "encryption_key").stat().st_mode & 0o777 == 0o600
    assert config._instance_key("CREDITDESK_ENCRYPTION_KEY", "encryption_key",
                                config._fernet_key) == key  # generated once
    assert current_app.config["ENCRYPTION_KEYS"] != key
