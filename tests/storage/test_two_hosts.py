"""Stateless hosts: two app instances, each with its own instance folder, on one database and
one file store. A file stored through host A is served by host B — over real HTTP to both —
for each kind of file: a dispute attachment, the ERP's invoice PDF, a CSV upload between its
preview and its import, and the letters of a print batch. Run once on a real S3-compatible
server (moto's) and once on a shared folder (file://).

And when the store is down: a clear message, no row and no file half-written."""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from app.portal.auth import create_magic_link, sign
from app.requests.models import Attachment, CustomerRequest, Dispute
from tests.helpers import PASSWORD, make_customer, make_invoice, make_staff_user
from tests.imports.conftest import customers_csv
from tests.storage.conftest import app_context_of, free_port

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ERP_PDF = b"%PDF-1.7\n% the ERP's own invoice\n%%EOF\n"

# Any form's token (FAB forms, portal forms, hand-written ones: attribute order varies).
CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')

pytestmark = pytest.mark.usefixtures("message_templates")


@pytest.fixture
def message_templates(app):
    from app.notifications.defaults import install_defaults

    install_defaults()


@pytest.fixture(params=["object-store", "shared-folder"])
def storage_url(request, tmp_path):
    if request.param == "object-store":
        return request.getfixturevalue("object_store").url()
    return f"file://{tmp_path / 'shared-files'}"


def csrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=30)
    assert page.status_code == 200, page.text[:500]
    match = CSRF.search(page.text)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def customer_session(host, customer) -> requests.Session:
    """The customer signed in to the portal through ``host`` (magic link, Continue)."""
    link = f"{host.url}/portal/login/{sign(create_magic_link(customer, None, None, None))}"
    db.session.commit()
    session = requests.Session()
    done = session.post(link, data={"csrf_token": csrf(session, link)}, allow_redirects=False,
                        timeout=30)
    assert done.status_code == 302, done.text[:500]
    session.get(f"{host.url}/portal/language/en", timeout=30)
    return session


def staff_session(host, role: str = "Admin") -> requests.Session:
    user = make_staff_user(host.app, role)
    db.session.commit()
    session = requests.Session()
    url = f"{host.url}/login/"
    done = session.post(url, data={"username": user.username, "password": PASSWORD,
                                   "csrf_token": csrf(session, url)}, allow_redirects=False,
                        timeout=30)
    assert done.status_code in (302, 303), done.text[:500]
    return session


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def open_dispute_on(host, session, invoice, files) -> requests.Response:
    url = f"{host.url}/portal/invoices/{invoice.id}/dispute"
    return session.post(url, data={"csrf_token": csrf(session, url), "reason": "wrong_amount",
                                   "amount": "40", "text": "The quote said 60."},
                        files=files, allow_redirects=False, timeout=60)


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_dispute_attachment_sent_through_one_host_is_served_by_the_other(hosts, storage_url):
    host_a, host_b = hosts(storage_url)
    customer = make_customer(name="Nina Claes", email="nina@example.test", language="en")
    invoice = make_invoice(customer, total="100.00", due_in_days=-10)
    portal = customer_session(host_a, customer)

    sent = open_dispute_on(host_a, portal, invoice, [("files", ("quote.pdf", PDF,
                                                                "application/pdf"))])
    assert sent.status_code == 302, sent.text[:800]
    [attachment] = db.session.scalars(select(Attachment)).all()

    # Host B: the same customer (a load balancer sent the next request there) ...
    mine = portal.get(f"{host_b.url}/portal/attachments/{attachment.id}", timeout=30,
                      allow_redirects=False)
    assert mine.status_code == 200 and mine.content == PDF  # the bytes, not a bucket URL
    assert "no-store" in mine.headers["Cache-Control"]
    # ... and a clerk signed in on host B.
    staff = staff_session(host_b)
    seen = staff.get(f"{host_b.url}/requests/queue/{attachment.request_id}/attachments/"
                     f"{attachment.id}", timeout=30)
    assert seen.status_code == 200 and seen.content == PDF
    # Serving stays authorised: another customer, or nobody, gets nothing from host B.
    other = make_customer(name="Other", email="other@example.test", language="en")
    intruder = customer_session(host_b, other)
    assert intruder.get(f"{host_b.url}/portal/attachments/{attachment.id}",
                        timeout=30).status_code == 404
    anonymous = requests.get(f"{host_b.url}/portal/attachments/{attachment.id}", timeout=30,
                             allow_redirects=False)
    assert anonymous.status_code in (302, 401, 403) and PDF not in anonymous.content
    # Neither host kept it on its own disk.
    assert files_under(host_a.folder) == [] and files_under(host_b.folder) == []


def test_erp_pdf_import_upload_and_print_batch_move_between_hosts(hosts, storage_url):
    host_a, host_b = hosts(storage_url)
    customer = make_customer(name="Paul Janssens", email="paul@example.test", language="en",
                             delivery_channel="paper", address_line1="Rue Haute 12",
                             postal_code="1000", city="Bruxelles")
    invoice = make_invoice(customer, total="80.00", due_in_days=-5)
    staff_a, staff_b = staff_session(host_a), staff_session(host_b)

    # The ERP's PDF, uploaded on A, is what the customer downloads from B.
    upload = f"{host_a.url}/invoices/pdf/{invoice.id}/upload"
    stored = staff_a.post(upload, data={"csrf_token": csrf(staff_a, upload)},
                          files={"pdf": ("erp.pdf", ERP_PDF, "application/pdf")},
                          allow_redirects=False, timeout=30)
    assert stored.status_code == 302, stored.text[:800]
    portal = customer_session(host_b, customer)
    got = portal.get(f"{host_b.url}/portal/invoices/{invoice.id}/pdf", timeout=30)
    assert got.status_code == 200 and got.content == ERP_PDF

    # A CSV upload previewed on A is imported from B.
    csv = customers_csv([["C900", "Boulangerie Two Hosts", "company", "fr",
                          "bakery@example.test", "Rue de Fer 5", "5000", "Namur"]])
    sent = staff_a.post(f"{host_a.url}/imports/upload/customers",
                        data={"csrf_token": csrf(staff_a, f"{host_a.url}/imports/")},
                        files={"file": ("export.csv", csv, "text/csv")},
                        allow_redirects=False, timeout=30)
    assert sent.status_code == 302, sent.text[:800]
    preview_path = sent.headers["Location"].replace(host_a.url, "")
    preview = staff_b.get(f"{host_b.url}{preview_path}", timeout=30)
    assert preview.status_code == 200 and "Boulangerie Two Hosts" in preview.text
    token = preview_path.rsplit("/", 1)[-1]
    done = staff_b.post(f"{host_b.url}/imports/run", data={
        "csrf_token": CSRF.search(preview.text).group(1), "kind": "customers", "token": token},
        timeout=30)
    assert done.status_code == 200, done.text[:800]
    from app.customers.models import Customer

    db.session.expire_all()
    assert db.session.scalar(select(Customer).where(Customer.number == "C900")) is not None

    # A letter printed by host A (as its worker would) is in the zip host B hands out.
    from app.notifications.events import preview_context
    from app.notifications.models import PrintBatch
    from app.notifications.outbox import queue_message

    with app_context_of(host_a):
        paper = db.session.get(type(customer), customer.id)
        [letter] = queue_message(paper, event="payment_received",
                                 template_key="payment_received",
                                 context=preview_context("payment_received", paper),
                                 idempotency_key="two-hosts",
                                 attachments=[{"invoice_id": invoice.id}])
        db.session.commit()
        assert letter.channel == "letter" and letter.status == "sent", letter.error
        letter_id = letter.id
    batch = db.session.scalar(select(PrintBatch))
    show = f"{host_b.url}/printbatchview/show/{batch.id}"
    archive = staff_b.post(f"{host_b.url}/printbatchview/zip/{batch.id}",
                           data={"csrf_token": csrf(staff_b, show)}, timeout=60)
    assert archive.status_code == 200, archive.text[:800]
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert f"{letter_id:08d}.pdf" in names and "manifest.csv" in names
    # The enclosed invoice is the ERP's PDF, read from the store as well.
    enclosure = next(n for n in names if n.startswith(f"{letter_id:08d}-enclosure-"))
    assert zipfile.ZipFile(io.BytesIO(archive.content)).read(enclosure) == ERP_PDF

    assert files_under(host_a.folder) == [] and files_under(host_b.folder) == []


def test_store_down_gives_a_clear_message_and_changes_nothing(hosts, storage_url, tmp_path):
    from app.core.storage import EXTENSION_KEY, from_url

    host_a, host_b = hosts(storage_url)
    customer = make_customer(name="Lea Maes", email="lea@example.test", language="en")
    invoice = make_invoice(customer, total="100.00", due_in_days=-10)
    portal = customer_session(host_a, customer)
    # A stored attachment first, while the store is up.
    assert open_dispute_on(host_a, portal, invoice, [("files", ("quote.pdf", PDF,
                                                                "application/pdf"))]
                           ).status_code == 302
    [attachment] = db.session.scalars(select(Attachment)).all()

    # Then the store goes away: an object store nobody answers on, or a share not mounted.
    if storage_url.startswith("s3://"):
        down = from_url(f"s3://creditdesk-files/gone?endpoint=http://127.0.0.1:{free_port()}"
                        "&max_attempts=1&connect_timeout=1")
    else:
        blocker = tmp_path / "unmounted"
        blocker.write_text("not a folder")
        down = from_url(f"file://{blocker}")
    for host in (host_a, host_b):
        host.app.extensions[EXTENSION_KEY] = down

    second = make_invoice(customer, total="50.00", due_in_days=-10)
    refused = open_dispute_on(host_a, portal, second, [
        ("files", ("a.pdf", PDF, "application/pdf")), ("files", ("b.pdf", PDF,
                                                                  "application/pdf"))])
    assert refused.status_code == 400
    assert "file store cannot be reached right now, so nothing was saved" in refused.text
    assert count(Dispute) == 1 and count(Attachment) == 1 and count(CustomerRequest) == 1

    served = portal.get(f"{host_b.url}/portal/attachments/{attachment.id}", timeout=30)
    assert served.status_code == 503 and "file store cannot be reached" in served.text

    staff = staff_session(host_b)
    queue = staff.get(f"{host_b.url}/requests/queue/{attachment.request_id}/attachments/"
                      f"{attachment.id}", timeout=30)
    assert queue.status_code == 503 and "file store cannot be reached" in queue.text
    upload = f"{host_b.url}/invoices/pdf/{invoice.id}/upload"
    erp = staff.post(upload, data={"csrf_token": csrf(staff, upload)},
                     files={"pdf": ("erp.pdf", ERP_PDF, "application/pdf")}, timeout=30)
    assert erp.status_code == 400 and "nothing was saved" in erp.text
    db.session.expire_all()
    assert db.session.get(type(invoice), invoice.id).pdf_path is None
