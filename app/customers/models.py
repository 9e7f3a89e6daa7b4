"""Customer and what hangs off it: contacts, addresses, bank accounts, SEPA mandates, contracts."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    event,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedString, iban_hash
from app.core.models import ZERO, Money, TimestampMixin, UTCDateTime, utcnow

CUSTOMER_KINDS = {"person": _l("Person"), "company": _l("Company")}
LANGUAGES = {"fr": _l("French"), "nl": _l("Dutch"), "en": _l("English")}
# "peppol": a business customer whose documents go over Peppol (app.einvoicing); its
# messages and reminders still go by e-mail.
DELIVERY_CHANNELS = {"email": _l("E-mail"), "paper": _l("Paper"), "peppol": _l("Peppol e-invoice")}
PAYMENT_METHODS = {"transfer": _l("Bank transfer"), "direct_debit": _l("Direct debit")}
LEGAL_STATUSES = {
    "none": _l("None"),
    "legal_proceedings": _l("Legal proceedings"),
    "collection_agency": _l("With collection agency"),
    "insolvent": _l("Insolvent"),
}
COUNTRIES = {"BE": _l("Belgium"), "NL": _l("Netherlands"), "FR": _l("France"),
             "LU": _l("Luxembourg"), "DE": _l("Germany")}
CONTACT_ROLES = {"billing": _l("Billing contact"), "reminder": _l("Reminder contact"),
                 "other": _l("Other")}
ADDRESS_KINDS = {"billing": _l("Billing address"), "postal": _l("Postal address")}
BANK_ACCOUNT_PURPOSES = {"refund": _l("Refunds"), "direct_debit": _l("Direct debit"),
                         "known": _l("Known payer account")}
BANK_ACCOUNT_STATUSES = {"pending": _l("Pending (cool-off)"), "active": _l("Active"),
                         "retired": _l("No longer used")}
MANDATE_STATUSES = {"pending": _l("Pending"), "active": _l("Active"), "revoked": _l("Revoked"),
                    "lapsed": _l("Lapsed")}
MANDATE_SCHEMES = {"CORE": "CORE", "B2B": "B2B"}
MANDATE_SEQUENCES = {"recurrent": _l("Recurrent"), "one_off": _l("One-off")}


class Customer(TimestampMixin, Model):
    __tablename__ = "customer"
    # Room on each page for the new version of a row whose balance changes (an UPDATE of
    # unindexed columns stays on its page: HOT, no entry in the eight indexes); migration tp_0004.
    __table_args__ = {"postgresql_with": {"fillfactor": 80}}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # the ERP's customer number
    name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="person")
    vat_number: Mapped[str | None] = mapped_column(String(20))
    # Belgian national register number (rijksregisternummer), 11 digits, encrypted at rest.
    national_number: Mapped[str | None] = mapped_column(EncryptedString())
    language: Mapped[str] = mapped_column(String(2), default="fr")
    country: Mapped[str] = mapped_column(String(2), default="BE")
    email: Mapped[str | None] = mapped_column(String(200), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    delivery_channel: Mapped[str] = mapped_column(String(10), default="email")
    sms_reminders: Mapped[bool] = mapped_column(Boolean, default=False)
    payment_method: Mapped[str] = mapped_column(String(20), default="transfer")
    preferred_payment_day: Mapped[int | None] = mapped_column(Integer)
    legal_status: Mapped[str] = mapped_column(String(20), default="none", index=True)
    risk_flags: Mapped[list] = mapped_column(JSON, default=list)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Denormalised sum of open invoice amounts minus open credit notes, kept by services.
    balance: Mapped[Decimal] = mapped_column(Money, default=ZERO)  # no index: tp_0003
    dunning_policy_id: Mapped[int | None] = mapped_column(ForeignKey("dunning_policy.id"))
    dunning_paused_until: Mapped[date | None] = mapped_column(Date)
    dunning_pause_reason: Mapped[str | None] = mapped_column(Text)
    relationship_ended_on: Mapped[date | None] = mapped_column(Date)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    contacts: Mapped[list[Contact]] = relationship(back_populates="customer",
                                                   cascade="all, delete-orphan")
    addresses: Mapped[list[Address]] = relationship(back_populates="customer",
                                                    cascade="all, delete-orphan")
    bank_accounts: Mapped[list[BankAccount]] = relationship(back_populates="customer",
                                                            cascade="all, delete-orphan")
    mandates: Mapped[list[Mandate]] = relationship(back_populates="customer",
                                                   cascade="all, delete-orphan")
    contracts: Mapped[list[Contract]] = relationship(back_populates="customer",
                                                     cascade="all, delete-orphan")
    dunning_policy = relationship("DunningPolicy")

    @property
    def is_business(self) -> bool:
        return self.kind == "company"

    def __repr__(self) -> str:
        return f"{self.number} {self.name}"


class Contact(TimestampMixin, Model):
    """A person at the customer: the name used in messages, and who may log in to the portal."""

    __tablename__ = "contact"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="billing")
    email: Mapped[str | None] = mapped_column(String(200), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(2))
    portal_access: Mapped[bool] = mapped_column(Boolean, default=True)
    customer: Mapped[Customer] = relationship(back_populates="contacts")

    def __repr__(self) -> str:
        return self.name


class Address(TimestampMixin, Model):
    __tablename__ = "address"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="billing")
    line1: Mapped[str] = mapped_column(String(200))
    line2: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str] = mapped_column(String(16))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), default="BE")
    customer: Mapped[Customer] = relationship(back_populates="addresses")

    def lines(self) -> list[str]:
        return [line for line in (self.line1, self.line2, f"{self.postal_code} {self.city}") if line]

    def __repr__(self) -> str:
        return ", ".join(self.lines())


class BankAccount(TimestampMixin, Model):
    """An IBAN we know for the customer; a new refund account stays pending for a cool-off."""

    __tablename__ = "bank_account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    # Encrypted at rest; found through iban_hash (app.customers.services.find_bank_accounts_by_iban).
    iban: Mapped[str] = mapped_column(EncryptedString())
    iban_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    bic: Mapped[str | None] = mapped_column(String(11))
    holder: Mapped[str | None] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(20), default="known")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    active_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    customer: Mapped[Customer] = relationship(back_populates="bank_accounts")

    def __repr__(self) -> str:
        return self.iban


@event.listens_for(BankAccount.iban, "set")
def _keep_iban_hash(target: BankAccount, value, _old, _initiator) -> None:
    """The lookup hash follows the IBAN, whoever sets it (admin, portal, import, demo)."""
    target.iban_hash = iban_hash(value)


class Mandate(TimestampMixin, Model):
    """A SEPA direct-debit mandate with its signature evidence."""

    __tablename__ = "mandate"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    bank_account_id: Mapped[int | None] = mapped_column(ForeignKey("bank_account.id"))
    reference: Mapped[str] = mapped_column(String(35), unique=True)  # UMR
    creditor_id: Mapped[str | None] = mapped_column(String(35))
    scheme: Mapped[str] = mapped_column(String(4), default="CORE")
    sequence: Mapped[str] = mapped_column(String(10), default="recurrent")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    signed_on: Mapped[date | None] = mapped_column(Date)
    signed_place: Mapped[str | None] = mapped_column(String(100))
    signature_name: Mapped[str | None] = mapped_column(String(200))
    signature_ip: Mapped[str | None] = mapped_column(String(45))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    mandate_text: Mapped[str | None] = mapped_column(Text)
    last_collection_on: Mapped[date | None] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Evidence of an electronic signature: the language the text was shown in, the ticked
    # consent and the browser (with signature_name, signature_ip and signed_at above).
    language: Mapped[str | None] = mapped_column(String(2))
    signature_consent: Mapped[bool | None] = mapped_column(Boolean)
    signature_user_agent: Mapped[str | None] = mapped_column(String(300))
    customer: Mapped[Customer] = relationship(back_populates="mandates")
    bank_account: Mapped[BankAccount | None] = relationship()

    def __repr__(self) -> str:
        return self.reference


class Contract(TimestampMixin, Model):
    __tablename__ = "contract"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    description: Mapped[str | None] = mapped_column(String(200))
    start_date: Mapped[date | None] = mapped_column(Date)
    renewal_date: Mapped[date | None] = mapped_column(Date, index=True)
    renewal_notice_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    customer: Mapped[Customer] = relationship(back_populates="contracts")

    def __repr__(self) -> str:
        return self.reference


# --- the 360° view: what staff write down about a customer -----------------------------------
NOTE_KINDS = {"note": _l("Note"), "call": _l("Phone call"), "pause": _l("Reminders paused")}
CALL_DIRECTIONS = {"inbound": _l("Customer called us"), "outbound": _l("We called the customer")}
CALL_OUTCOMES = {"reached": _l("Reached"), "no_answer": _l("No answer"),
                 "voicemail": _l("Left a voicemail"), "promise": _l("Promised to pay"),
                 "wrong_number": _l("Wrong number")}


class CustomerNote(Model):
    """A staff note, a logged phone call or a reminder pause, on the customer's timeline."""

    __tablename__ = "customer_note"
    __table_args__ = (Index("ix_customer_note_customer_created", "customer_id", "created_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    kind: Mapped[str] = mapped_column(String(10), default="note")
    text: Mapped[str] = mapped_column(Text)
    call_direction: Mapped[str | None] = mapped_column(String(10))
    call_outcome: Mapped[str | None] = mapped_column(String(20))
    paused_until: Mapped[date | None] = mapped_column(Date)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    user_name: Mapped[str | None] = mapped_column(String(100))  # kept if the user is deleted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    customer: Mapped[Customer] = relationship()


# Staff search by phone number (typed any way, compared in its compact form).
Index("ix_customer_phone", Customer.phone)
# The one-box search's other exact keys (app/customer360/search.py; migration search_0005, which
# also adds a PostgreSQL-only trigram index on lower(name) for the name search).
Index("ix_customer_email_lower", func.lower(Customer.email))
Index("ix_contact_email_lower", func.lower(Contact.email))
Index("ix_contact_phone", Contact.phone)
Index("ix_customer_name_trgm", func.lower(Customer.name).label("lower_name"),
      postgresql_using="gin", postgresql_ops={"lower_name": "gin_trgm_ops"}
      ).ddl_if(dialect="postgresql")
