"""Uploaded file names cannot deceive or run (issue 12, "Low": attachment names cleaned).

A customer's dispute file keeps only a cleaned name: no folder, no control or bidi-override
characters, and the extension of what the file really is (sniffed from its bytes), so a PDF
named "x.html" is offered as "x.pdf". The download is always an attachment with nosniff.
"""
from __future__ import annotations

import io
import unicodedata

import pytest
from sqlalchemy import select

from app.core.file_names import clean_file_name
from app.extensions import db
from app.requests.models import Attachment, CustomerRequest
from tests.helpers import make_customer, make_invoice
from tests.requests.self_service_support import same_day  # noqa: F401

pytestmark = pytest.mark.usefixtures("same_day")

PDF = b"%PDF-1.4\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u200b\ufeff"


def _invisible(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]


@pytest.mark.parametrize(("name", "extension", "expected"), [
    ("../../etc/passwd", "pdf", "passwd.pdf"),
    ("C:\\Users\\x\\evil.html", "pdf", "evil.pdf"),
    ("invoice\u202efdp.html", "pdf", "invoicefdp.pdf"),
    ("a\u2066b\u2069c.svg", "png", "abc.png"),
    ("quote\u200e\u200f.xhtml", "pdf", "quote.pdf"),
    ("x.js", "jpg", "x.jpg"),
    ("line\r\nbreak\x00.htm", "pdf", "linebreak.pdf"),
    ("a<b>|c?.pdf", "pdf", "a_b__c_.pdf"),
    ("\u202e\u200b", "pdf", "attachment.pdf"),
    ("...", "png", "attachment.png"),
    ("photo.JPG", "jpg", "photo.jpg"),
    ("statement\u202e.xml", "", "statement.xml"),
    ("x" * 400 + ".pdf", "pdf", "x" * 146 + ".pdf"),
])
def test_clean_file_name(name, extension, expected):
    assert clean_file_name(name, extension) == expected


@pytest.fixture
def signed_in(app):
    from app.notifications.defaults import install_defaults
    from tests.portal.conftest import install_magic_link_templates, sign_in

    install_defaults()
    install_magic_link_templates()
    customer = make_customer(name="Jeanne Peeters", email="names@example.test", language="en")
    invoice = make_invoice(customer, total="300.00", due_in_days=-10)
    client = app.test_client()
    sign_in(client, customer.email)
    return client, invoice


def _dispute(client, invoice, files):
    from tests.portal.conftest import csrf_from

    url = f"/portal/invoices/{invoice.id}/dispute"
    token = csrf_from(client.get(url).get_data(as_text=True))
    return client.post(url, content_type="multipart/form-data", data={
        "csrf_token": token, "reason": "quality", "text": "see the files", "files": files})


def test_hostile_names_are_cleaned_on_upload_and_download(signed_in):
    client, invoice = signed_in
    response = _dispute(client, invoice, [
        (io.BytesIO(PDF), "../../..\\evil" + BIDI + "lmth.html"),
        (io.BytesIO(PNG), "image.svg"),
        (io.BytesIO(PDF), "script.js"),
    ])
    assert response.status_code == 302, response.get_data(as_text=True)
    names = sorted(a.file_name for a in db.session.scalars(select(Attachment)))
    assert names == ["evillmth.pdf", "image.png", "script.pdf"]

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert not _invisible(page.replace("\n", "").replace("\r", "").replace("\t", ""))
    for attachment in db.session.scalars(select(Attachment)):
        download = client.get(f"/portal/attachments/{attachment.id}")
        assert download.status_code == 200
        disposition = download.headers["Content-Disposition"]
        assert disposition.startswith("attachment;")
        assert attachment.file_name in disposition and ".html" not in disposition
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert download.mimetype == attachment.content_type
        assert download.mimetype in ("application/pdf", "image/png")


def test_html_svg_and_scripts_are_refused_whatever_their_name(signed_in):
    client, invoice = signed_in
    for name, data in (("page.html", b"<html><script>alert(1)</script></html>"),
                       ("evil.pdf", b"<svg xmlns='http://www.w3.org/2000/svg' onload='x'/>"),
                       ("x.png", b"alert(document.cookie)")):
        response = _dispute(client, invoice, [(io.BytesIO(data), name)])
        assert response.status_code == 400
        assert "is not a PDF, PNG or JPEG file" in response.get_data(as_text=True)
    assert db.session.scalar(select(Attachment)) is None


def test_an_older_row_with_a_dangerous_name_or_type_is_still_served_inert(signed_in, app):
    """A row stored before names were cleaned (or edited in the database) downloads as an
    inert file: octet-stream, a harmless name, attachment, nosniff."""
    from pathlib import Path

    from app.requests.attachments import upload_root

    client, invoice = signed_in
    _dispute(client, invoice, [(io.BytesIO(PDF), "quote.pdf")])
    attachment = db.session.scalar(select(Attachment))
    attachment.file_name, attachment.content_type = "page\u202e.html", "text/html"
    db.session.commit()
    assert Path(upload_root() / attachment.storage_path).is_file()
    download = client.get(f"/portal/attachments/{attachment.id}")
    assert download.status_code == 200
    assert download.mimetype == "application/octet-stream"
    assert 'filename=page.bin' in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_bank_statement_file_names_are_cleaned(app):
    from app.payments.incoming.importing import import_statement

    report = import_statement(b"not a statement", "..\\..\\camt\u202elmx.html\r\n")
    assert report.file_name == "camtlmx.html"
    assert db.session.scalar(select(CustomerRequest)) is None
