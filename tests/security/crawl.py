"""Walking app.url_map for the security crawls: a realistic dataset, URLs filled with the ids of
real rows, and snapshots of the database to compare before and after a request.

A new route is crawled automatically. A new URL argument must be taught to ``_argument`` (the
crawl fails and names it), so that no route is skipped silently.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from flask import Flask
from sqlalchemy import select, text

from app.extensions import db

STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
STATIC_ENDPOINTS = {"static", "appbuilder.static", "portal.static"}

# Tables a GET may write on purpose, so not compared by the GET-safety crawl:
# - audit_event: staff reading a customer's personal data is logged (app.core.audit);
# - ab_user, staff_session, staff_login_failure: sign-in bookkeeping (last login, activity).
# figure_snapshot: a cached figure (the aging page's DSO trend) computed on the first view;
# pay_link / pay_link_event: opening a pay link is on the customer's timeline by design.
GET_WRITES_BY_DESIGN = {"audit_event", "ab_user", "staff_session", "staff_login_failure",
                        "figure_snapshot", "pay_link", "pay_link_event"}


# --- the dataset -------------------------------------------------------------------------------

def seed_dataset(app: Flask) -> dict:
    """The demo data (customers, invoices in every state, payments, mandates, plans, requests,
    disputes) and one row of the kinds it leaves out. Returns a few records by name."""
    from flask_appbuilder.security.sqla.models import Group

    from app.core.audit_models import AuditEvent
    from app.core.models import PluginConfig, Setting, utcnow
    from app.core.plugins import sync_plugin_configs
    from app.customers.models import Contract, Customer
    from app.demo import seed_demo_data
    from app.dunning.models import (
        DunningAction,
        DunningActionInvoice,
        DunningLevel,
        DunningPolicy,
        DunningRun,
        ReferenceRate,
    )
    from app.invoices.models import CreditNote, Invoice
    from app.notifications.models import Message, MessageTemplate, PrintBatch
    from app.payments.incoming.models import BankStatement, StatementLine
    from app.payments.outgoing.models import CollectionBatch, CreditTransferBatch
    from app.retention.models import (
        LegalHold,
        RetentionRule,
        RetentionRun,
        RetentionTombstone,
    )

    seed_demo_data()
    today = date.today()
    customer = db.session.scalars(select(Customer).order_by(Customer.id)).first()
    invoice = db.session.scalars(select(Invoice).where(Invoice.customer_id == customer.id)
                                 .order_by(Invoice.id)).first()
    policy = DunningPolicy(name="Crawl policy", segment="consumer", country="BE")
    level = DunningLevel(policy=policy, sequence=1, name="Friendly", days_after_due=3,
                         template_key="reminder_friendly", channels="email")
    run = DunningRun(run_date=today, status="done", counts={"reminded": 1})
    template = MessageTemplate(key="crawl_template", channel="email", language="fr",
                               subject="Rappel", body_text="Bonjour {{ name }}")
    statement = BankStatement(format="camt.053", account_iban="BE68539007547034",
                              statement_ref="crawl-1", file_sha256="c" * 64)
    db.session.add_all([
        policy, level, run, template, statement,
        Message(customer=customer, channel="email", recipient="crawl@example.test",
                language="fr", event="reminder", subject="Rappel", body_text="Bonjour",
                idempotency_key="crawl-1", template=template, provider="local_mailbox"),
        StatementLine(statement=statement, booking_date=today, amount=Decimal("12.34"),
                      structured_reference=invoice.structured_reference, dedup_key="crawl-1"),
        CreditNote(customer=customer, invoice=invoice, number="CN-CRAWL-1", issue_date=today,
                   amount=Decimal("5.00"), open_amount=Decimal("5.00")),
        PrintBatch(name="crawl", status="open", folder="/tmp/creditdesk-crawl-letters"),
        LegalHold(customer=customer, reason="Court case"),
        RetentionRun(status="done", counts={"deleted": 0}, tombstones=[
            RetentionTombstone(subject=f"customer:{customer.id}", category="contacts",
                               action="delete")]),
        AuditEvent(actor_type="staff", actor="admin", action="update", entity="customer",
                   entity_id=str(customer.id), customer_id=customer.id, at=utcnow()),
        Setting(key="crawl_setting", value=1, category="requests", description="crawl"),
        PluginConfig(name="crawl_plugin", kind="channel", enabled=False, settings={}),
    ])
    db.session.flush()
    action = DunningAction(run=run, run_date=today - timedelta(days=1), customer=customer,
                           level=level, invoice_ids=[invoice.id], amount_due=invoice.open_amount)
    db.session.add_all([
        action,
        DunningActionInvoice(action=action, invoice_id=invoice.id, run_date=today,
                             level_sequence=1, amount=invoice.open_amount),
        Contract(customer=customer, reference="CONTRACT-CRAWL", renewal_date=today),
        ReferenceRate(kind="ecb", valid_from=date(2024, 1, 1), rate=Decimal("4.5")),
        RetentionRule(category="invoices", period_months=120, legal_basis="Accounting law"),
        CollectionBatch(collection_date=today, sequence_type="RCUR", creditor_id="BE00ZZZ0000",
                        file_xml="<Document/>"),
        CreditTransferBatch(execution_date=today, file_xml="<Document/>"),
        Group(name="crawl-group"),
    ])
    db.session.commit()
    # A file a customer sent with the first request (the crawl's request_id/attachment_id).
    from app.requests import attachments
    from app.requests.models import CustomerRequest

    first_request = db.session.scalars(select(CustomerRequest).order_by(CustomerRequest.id)).first()
    attachments.store(first_request, [attachments.Upload(
        file_name="photo.png", content_type="image/png", extension="png",
        data=b"\x89PNG\r\n\x1a\n" + b"\0" * 64)])
    db.session.commit()
    # A customer's Peppol address, an e-invoice of the crawl's credit note, and a customer's
    # e-mail reply with a file (the e-invoicing and replies screens' ids).
    from app.einvoicing.models import CustomerPeppol, EDocument
    from app.inbound.attachments import keep_attachments
    from app.inbound.models import InboundMessage
    from app.inbound.parsing import Attachment as MailAttachment

    note = db.session.scalars(select(CreditNote).where(CreditNote.number == "CN-CRAWL-1")).one()
    reply = InboundMessage(dedupe_key="crawl-reply-1", customer_id=customer.id,
                           sender="crawl@example.test", subject="Re: Rappel",
                           text="J'ai payé hier.", full_text="J'ai payé hier.")
    db.session.add_all([
        CustomerPeppol(customer_id=customer.id, endpoint_scheme="0208", endpoint_id="0123456749"),
        EDocument(direction="out", doc_type="credit_note", number=note.number, status="held",
                  customer_id=customer.id, credit_note_id=note.id),
        reply,
    ])
    db.session.flush()
    # The company's own (ERP) webhook and a bounced address (the ERP webhooks' and the failing
    # addresses' ids).
    from app.customer_api.models import WebhookEndpoint
    from app.inbound.models import FailingAddress

    db.session.add_all([
        WebhookEndpoint(customer_id=None, url="https://erp.example.test/creditdesk",
                        secret="crawl-secret-" + "0" * 20, events=["invoice.issued"]),
        FailingAddress(address="bounced@example.test", customer_id=customer.id,
                       reason="550 5.1.1 user unknown", inbound_id=reply.id),
    ])
    keep_attachments(reply, [MailAttachment(name="receipt.png", content_type="image/png",
                                            data=b"\x89PNG\r\n\x1a\n" + b"\0" * 64)])
    db.session.commit()
    # The plugin screen records newly installed plugins when it is opened: do it beforehand,
    # as the first visit after an install would.
    sync_plugin_configs()
    db.session.commit()
    return {"customer": customer, "invoice": invoice}


def portal_sign_in(client, customer) -> None:
    """Sign the customer in to the portal on this client (the staff session stays)."""
    from app.portal.auth import create_magic_link, sign
    raw = create_magic_link(customer, None, None, None)
    db.session.commit()
    link = f"/portal/login/{sign(raw)}"
    page = client.get(link)
    assert page.status_code == 200, page.status_code
    done = client.post(link, data={"csrf_token": page_token(page.get_data(as_text=True))})
    assert done.status_code in (302, 303), done.status_code


def page_token(html: str) -> str:
    """The CSRF token a page's forms carry (FAB's and ours write the attributes in either
    order)."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'type="hidden" name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


# --- snapshots ---------------------------------------------------------------------------------

def _tables() -> list[str]:
    from flask_appbuilder import Model

    return sorted(t.name for t in Model.metadata.sorted_tables)


def row_counts() -> dict[str, int]:
    """Rows in every table, in one query."""
    tables = _tables()
    sql = " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM \"{t}\"" for t in tables)
    db.session.rollback()  # read what is committed, not a stale snapshot
    return dict(db.session.execute(text(sql)).all())


def table_digests(exclude=GET_WRITES_BY_DESIGN) -> dict[str, str]:
    """A checksum of every column of every row, per table."""
    db.session.rollback()
    digests = {}
    for table in _tables():
        if table in exclude:
            continue
        rows = [_without_bookkeeping(table, dict(row))
                for row in db.session.execute(text(f'SELECT * FROM "{table}"')).mappings()]
        digest = hashlib.sha256()
        for row in sorted(repr(sorted(row.items())) for row in rows):
            digest.update(row.encode())
        digests[table] = digest.hexdigest()
    return digests


def _without_bookkeeping(table: str, row: dict) -> dict:
    """A portal session's expiry slides with each page the customer opens (idle timeout):
    that column of a session row is bookkeeping, like staff_session's; the rest is compared."""
    if table == "portal_access" and row.get("kind") == "session":
        row.pop("expires_at", None)
        row.pop("used_at", None)
    return row


def changed(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


# --- routes ------------------------------------------------------------------------------------

@dataclass
class Route:
    rule: str
    endpoint: str
    methods: frozenset[str]
    url: str

    @property
    def is_portal(self) -> bool:
        return self.endpoint.startswith("portal.")

    @property
    def is_api(self) -> bool:
        return self.rule.startswith("/api/")


# Pages that need a query argument to show anything (without it: a 400 saying so).
QUERY_STRINGS = {
    "DunningSendView.confirm": lambda: {"date": date.today().isoformat()},
}


class UnknownArgument(LookupError):
    pass


def views_by_endpoint(app: Flask) -> dict:
    return {view.endpoint: view for view in app.appbuilder.baseviews}


def crawl_routes(app: Flask) -> list[Route]:
    """Every registered route but static files, its URL filled with ids of real rows."""
    views = views_by_endpoint(app)
    routes, unknown = [], []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint in STATIC_ENDPOINTS:
            continue
        values = {}
        try:
            for argument in rule.arguments:
                values[argument] = _argument(rule, argument, views)
        except UnknownArgument as exc:
            unknown.append(f"{rule.rule} ({exc})")
            continue
        with app.test_request_context():
            url = app.url_map.bind("localhost").build(rule.endpoint, values, method=None,
                                                      force_external=False)
        if rule.endpoint in QUERY_STRINGS:
            url += "?" + urlencode(QUERY_STRINGS[rule.endpoint]())
        methods = frozenset(rule.methods - {"HEAD", "OPTIONS"})
        routes.append(Route(rule.rule, rule.endpoint, methods, url))
    assert not unknown, ("URL arguments the crawl cannot fill; teach them to "
                         f"tests/security/crawl.py _argument(): {unknown}")
    return routes


def _first_id(model, column="id"):
    value = db.session.scalar(select(getattr(model, column)).order_by(model.id).limit(1))
    return value if value is not None else 1


def _argument(rule, argument: str, views: dict):
    from app.customers.models import Customer
    from app.invoices.models import CreditNote, Invoice
    from app.payments.incoming.models import BankStatement, StatementLine
    from app.payments.models import Allocation, Payment
    from app.payments.online.models import OnlineCheckout
    from app.payments.outgoing.models import CollectionBatch, CreditTransferBatch, Refund, WriteOff
    from app.requests.models import Attachment, CustomerRequest, Dispute, PaymentPlan
    from app.retention.models import RetentionRun

    endpoint = rule.endpoint
    view = views.get(endpoint.rpartition(".")[0])
    model = getattr(getattr(view, "datamodel", None), "obj", None)
    choices = getattr(rule._converters.get(argument), "items", None)
    if choices:  # <any(png, svg):fmt>: one of the words the route itself accepts
        return min(choices)
    if argument == "endpoint_id" or (argument == "pk" and "/erp-webhooks/" in rule.rule):
        from app.customer_api.models import WebhookEndpoint  # the company's own (ERP) webhook

        return db.session.scalar(select(WebhookEndpoint.id).where(
            WebhookEndpoint.customer_id.is_(None)).order_by(WebhookEndpoint.id).limit(1)) or 1
    if argument == "fid":  # a failing e-mail address
        from app.inbound.models import FailingAddress

        return _first_id(FailingAddress)
    if argument == "pk":
        if model is not None:
            return _first_id(model)
        if endpoint.startswith("Customer360View."):
            return _first_id(Customer)
        if endpoint.startswith("InboundReplyView."):
            from app.inbound.models import InboundMessage

            return _first_id(InboundMessage)
        raise UnknownArgument(argument)
    if argument == "aid":  # a customer reply's attachment
        from app.inbound.models import InboundAttachment

        return _first_id(InboundAttachment)
    if argument == "customer_id":
        return _first_id(Customer)
    if argument == "name" and endpoint.endswith(".action"):
        actions = list(getattr(view, "actions", {}) or {})
        return actions[0] if actions else "none"
    if argument == "batch_id":
        return _first_id(CollectionBatch if endpoint.startswith("DirectDebitView.")
                         else CreditTransferBatch)
    if argument == "number":
        return _first_id(Customer if "/customers/" in rule.rule else Invoice, "number")
    models = {
        "invoice_id": Invoice, "request_id": CustomerRequest, "line_id": StatementLine,
        "note_id": CreditNote, "write_off_id": WriteOff, "payment_id": Payment,
        "allocation_id": Allocation, "run_id": RetentionRun, "plan_id": PaymentPlan,
        "dispute_id": Dispute, "attachment_id": Attachment, "statement_id": BankStatement,
        "refund_id": Refund, "checkout_id": OnlineCheckout,
    }
    if argument in ("key_id", "item_id", "link_id"):  # a customer's API key, webhook, pay link
        from app.customer_api.models import ApiKey, WebhookEndpoint
        from app.paylinks.models import PayLink

        if argument == "link_id":
            return _first_id(PayLink)
        return _first_id(WebhookEndpoint if "/webhooks/" in rule.rule else ApiKey)
    if argument in models:
        return _first_id(models[argument])
    if argument in ("group", "key"):  # Settings -> Business rules: a group, one of its rules
        from app.core import settings as registry

        group = next(iter(registry.GROUPS))
        return group if argument == "group" else registry.definitions(group=group)[0].key
    if argument == "run_date":  # a dunning run's day (the seeded run is today's)
        return date.today().isoformat()
    constants = {"kind": "customers", "token": "not-a-token", "fmt": "json",
                 "provider": "demo", "code": "fr", "group_by": "0", "locale": "fr",
                 "version": "v1", "filename": "nothing.txt"}
    if argument in constants:
        return constants[argument]
    raise UnknownArgument(argument)


# --- who may open a route ------------------------------------------------------------------------

def required_permission(app: Flask, endpoint: str) -> tuple[str, str] | None:
    """(permission, view name) FAB's @has_access checks on this route, None when the route is
    not behind @has_access (it checks rights itself, or is public)."""
    views = views_by_endpoint(app)
    prefix, _dot, name = endpoint.rpartition(".")
    view = views.get(prefix)
    if view is None:
        return None
    method = getattr(type(view), name, None)
    guarded = False
    layer = method
    while layer is not None:
        if getattr(layer, "__code__", None) in _guard_codes():
            guarded = True
            break
        layer = getattr(layer, "__wrapped__", None)
    if not guarded:
        return None
    permission = (view.method_permission_name or {}).get(name) or method._permission_name
    permission = permission if permission.startswith("can_") else f"can_{permission}"
    return permission, view.class_permission_name


def _guard_codes() -> set:
    """The code of FAB's @has_access / @has_access_api wrappers (one code object each)."""
    from flask_appbuilder.security import decorators

    def probe():
        pass

    return {decorators.has_access(probe).__code__, decorators.has_access_api(probe).__code__}


def may_open(app: Flask, user, endpoint: str) -> bool | None:
    """Whether FAB lets ``user`` through this route's @has_access; None when it has none."""
    needed = required_permission(app, endpoint)
    if needed is None:
        return None
    permission, view_name = needed
    view = views_by_endpoint(app)[endpoint.rpartition(".")[0]]
    if permission not in view.base_permissions:
        return False
    return app.appbuilder.sm._has_view_access(user, permission, view_name)


def is_login_redirect(response) -> bool:
    return response.status_code in (301, 302, 303, 307, 308) and \
        "/login" in response.headers.get("Location", "")
