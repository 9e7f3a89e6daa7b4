"""Records for the direct-debit, refund and adjustment tests, made through the real models."""
from __future__ import annotations

from datetime import date, timedelta
from importlib.resources import files

from app.core.models import utcnow
from app.customers.models import BankAccount, Customer, Mandate
from app.extensions import db
from tests.helpers import make_customer

IBANS = ["BE71096123456769", "BE68539007547034", "BE62510007547061", "NL91ABNA0417164300",
         "BE43068999999501", "FR1420041010050500013M02606"]


def schema(name: str):
    """The official XSD as shipped in the sepaxml package (MIT), loaded with xmlschema."""
    import xmlschema

    return xmlschema.XMLSchema(str(files("sepaxml") / "schemas" / f"{name}.xsd"))


def customer_with_mandate(n: int = 0, *, collected_on: date | None = None, status="active",
                          sequence="recurrent", scheme="CORE", **fields) -> Customer:
    customer = make_customer(**fields)
    account = BankAccount(customer=customer, iban=IBANS[n % len(IBANS)], bic="GKCCBEBB",
                          holder=customer.name, purpose="direct_debit", status="active",
                          active_from=utcnow() - timedelta(days=30))
    db.session.add(Mandate(customer=customer, bank_account=account,
                           reference=f"CD-{customer.number}-01", creditor_id="BE81ZZZ0123456749",
                           scheme=scheme, sequence=sequence, status=status,
                           signed_on=date.today() - timedelta(days=100),
                           last_collection_on=collected_on))
    db.session.commit()
    return customer


def refund_account(customer: Customer, iban: str = "BE71096123456769", *, pending=False
                   ) -> BankAccount:
    now = utcnow()
    account = BankAccount(customer=customer, iban=iban, holder=customer.name, purpose="refund",
                          status="pending" if pending else "active",
                          active_from=now + timedelta(hours=72) if pending
                          else now - timedelta(days=10))
    db.session.add(account)
    db.session.commit()
    return account
