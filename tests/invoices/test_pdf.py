"""Invoice PDFs: drawn in the customer's language with the payment details and QR code, or the
ERP's own PDF once uploaded; and the back-office download/upload screens."""
from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from flask import current_app
from flask_babel import force_locale
from pypdf import PdfReader
from reportlab.pdfgen import canvas

from app.core.i18n import money
from app.core.settings import set_setting
from app.core.validation import ValidationError
from app.extensions import db
from app.invoices import epc
from app.invoices.models import Invoice, InvoiceLine
from app.invoices.pdf import MAX_ERP_PDF_BYTES, invoice_pdf_bytes, render_invoice_pdf, store_erp_pdf
from app.invoices.references import format_ogm, format_rf
from tests.helpers import csrf_token, make_customer, make_invoice

ISSUED = date(2025, 3, 5)


def text_of(data: bytes) -> str:
    """The PDF's text, spaces normalised (amounts use no-break spaces)."""
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def invoice_for(language: str, total: str = "1234.56", **customer_fields) -> Invoice:
    customer = make_customer(name="Brasserie Élise", language=language,
                             address_line1="Rue de l'Église 12", postal_code="4000",
                             city="Liège", **customer_fields)
    return make_invoice(customer, total=total, issue_date=ISSUED, description="Consulting")


def erp_pdf(marker: str = "ERP ORIGINAL") -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(100, 700, marker)
    page.save()
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def _empty_upload_folder(app):
    """The upload folder lives for the whole session; each test here starts with it empty."""
    shutil.rmtree(Path(app.config["UPLOAD_DIR"]) / "invoices", ignore_errors=True)


def uploaded_files() -> list[Path]:
    folder = Path(current_app.config["UPLOAD_DIR"]) / "invoices"
    return sorted(folder.iterdir()) if folder.exists() else []


# --- the drawn PDF --------------------------------------------------------------------------

def scan_caption(language: str) -> str:
    """The QR caption as the customer reads it (the PDF is in the customer's language)."""
    from flask_babel import force_locale, gettext

    from app.core.i18n import language_locale

    with force_locale(language_locale(language)):
        return gettext("Scan with your banking app")


def test_rendered_invoice_is_a_pdf_with_number_references_and_amount():
    invoice = invoice_for("fr")
    data = render_invoice_pdf(invoice)
    assert data.startswith(b"%PDF-")
    text = text_of(data)
    assert invoice.number in text
    assert format_ogm(invoice.structured_reference) in text  # +++000/0000/00101+++
    assert format_rf(invoice.rf_reference) in text
    assert "BE04 0682 4613 7931" in text and "GKCCBEBB" in text
    assert "CreditDesk Demo SA" in text
    assert "Brasserie Élise" in text and "Rue de l'Église 12" in text and "4000 Liège" in text
    assert "Consulting" in text  # no lines: the invoice's description and total
    assert scan_caption("fr") in " ".join(text.split())  # the caption may wrap


@pytest.mark.parametrize("language, amount, issued, lang_tag", [
    ("fr", "1 234,56 €", "5 mars 2025", "fr-BE"),
    ("nl", "€ 1.234,56", "5 mrt 2025", "nl-BE"),
    ("en", "€1,234.56", "Mar 5, 2025", "en"),
])
def test_amounts_and_dates_follow_the_customers_language(app, language, amount, issued,
                                                         lang_tag):
    invoice = invoice_for(language)
    # A staff member browsing in another language must not change the customer's document.
    other = "nl" if language != "nl" else "fr"
    with app.test_request_context(f"/?lang={other}"):
        data = render_invoice_pdf(invoice)
        assert money(Decimal("1234.56")) != amount.replace(" ", "\u00a0")  # locale restored
    text = text_of(data)
    assert amount in text
    assert issued in text
    assert PdfReader(io.BytesIO(data)).trailer["/Root"]["/Lang"] == lang_tag
    others = {"1 234,56", "1.234,56", "1,234.56"} - {amount.strip("€ ")}
    assert not any(o in text for o in others)


def test_force_locale_is_applied_while_rendering(monkeypatch):
    seen = []
    import app.invoices.pdf as pdf_module

    real_day = pdf_module.day

    def spy(value, *args):
        from flask_babel import get_locale

        seen.append(str(get_locale()))
        return real_day(value, *args)

    monkeypatch.setattr(pdf_module, "day", spy)
    with force_locale("en"):
        render_invoice_pdf(invoice_for("nl"))
    assert seen and set(seen) == {"nl_BE"}


def test_invoice_lines_are_listed_with_vat():
    invoice = invoice_for("en", total="605.00")
    invoice.lines.append(InvoiceLine(position=1, description="Audit of receivables",
                                     quantity=Decimal("2.5"), unit_price=Decimal("200.00"),
                                     vat_rate=Decimal(21), amount=Decimal("605.00")))
    db.session.commit()
    text = text_of(render_invoice_pdf(invoice))
    assert "Audit of receivables" in text
    assert "2.5" in text and "€200.00" in text and "21%" in text and "€605.00" in text
    assert "Consulting" not in text  # the lines replace the one-line summary


def test_many_lines_flow_onto_more_pages_and_payment_details_stay_whole():
    invoice = invoice_for("fr", total="4000.00")
    for n in range(1, 61):
        invoice.lines.append(InvoiceLine(position=n, description=f"Line {n}",
                                         unit_price=Decimal(50), amount=Decimal("66.67")))
    db.session.commit()
    reader = PdfReader(io.BytesIO(render_invoice_pdf(invoice)))
    assert len(reader.pages) >= 2
    last = reader.pages[-1].extract_text()
    assert "Line 60" in text_of(render_invoice_pdf(invoice))
    assert format_ogm(invoice.structured_reference) in last
    assert scan_caption("fr") in " ".join(last.split())


def test_partly_paid_invoice_asks_for_the_open_amount():
    invoice = invoice_for("en", total="100.00")
    invoice.open_amount, invoice.status = Decimal("40.00"), "partially_paid"
    db.session.commit()
    text = text_of(render_invoice_pdf(invoice))
    assert "-€60.00" in text or "−€60.00" in text
    assert "€40.00" in text
    assert epc.invoice_payload(invoice).split("\n")[7] == "EUR40.00"


def test_paid_invoice_says_paid_and_has_no_qr_code():
    invoice = invoice_for("en", total="100.00")
    invoice.open_amount, invoice.status, invoice.paid_on = Decimal(0), "paid", date(2025, 4, 1)
    db.session.commit()
    text = text_of(render_invoice_pdf(invoice))
    assert "Paid" in text and "Apr 1, 2025" in text
    assert scan_caption("en") not in text
    assert format_ogm(invoice.structured_reference) not in text


def test_company_data_comes_from_settings():
    set_setting("company.name", "Brasserie Lambic SRL")
    set_setting("company.iban", "BE68539007547034")
    set_setting("company.vat_number", "BE0403170701")
    db.session.commit()
    text = text_of(render_invoice_pdf(invoice_for("fr")))
    assert "Brasserie Lambic SRL" in text
    assert "BE68 5390 0754 7034" in text
    assert "BE0403170701" in text
    assert "CreditDesk Demo SA" not in text


def test_letters_helvetica_lacks_do_not_break_the_pdf():
    invoice = invoice_for("fr")
    invoice.customer.name = "Łukasz Żółć"
    db.session.commit()
    text = text_of(render_invoice_pdf(invoice))
    assert "Lukasz Zó" in text  # accents WinAnsi has are kept, others drop to the base letter


@pytest.mark.skipif(not (shutil.which("pdftoppm") and shutil.which("zbarimg")),
                    reason="needs poppler-utils and zbar-tools to decode the printed QR code")
def test_printed_qr_code_decodes_to_the_epc_payload(tmp_path):
    invoice = invoice_for("fr")
    (tmp_path / "invoice.pdf").write_bytes(render_invoice_pdf(invoice))
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1",
                    str(tmp_path / "invoice.pdf"), str(tmp_path / "page")], check=True)
    page = next(tmp_path.glob("page*.png"))
    decoded = subprocess.run(["zbarimg", "-q", "--raw", "-Sdisable", "-Sqrcode.enable",
                              str(page)], capture_output=True, text=True, check=True).stdout
    assert decoded.rstrip("\n") == epc.invoice_payload(invoice)


# --- the ERP's PDF --------------------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"<html>not a pdf</html>", "not a PDF"),
    (b"%PDF-1.7\n1 0 obj\n", "not a PDF"),  # cut off: no end marker
    (b"%PDF-1.4\n" + b"0" * MAX_ERP_PDF_BYTES + b"\n%%EOF\n", "too large"),
])
def test_a_file_that_is_not_a_small_pdf_is_refused_and_nothing_changes(data, message):
    invoice = invoice_for("fr")
    with pytest.raises(ValidationError) as caught:
        store_erp_pdf(invoice, data)
    assert message in caught.value.errors["pdf"][0]
    assert invoice.pdf_path is None
    assert uploaded_files() == []


def test_uploaded_erp_pdf_is_served_instead_of_the_drawn_one():
    invoice = invoice_for("fr")
    original = erp_pdf()
    path = store_erp_pdf(invoice, original)
    db.session.commit()
    assert path.startswith("invoices/") and invoice.number not in path
    assert invoice_pdf_bytes(invoice) == original
    other = invoice_for("fr")
    assert invoice_pdf_bytes(other) != original  # the other invoice still gets ours


def test_a_pdf_path_outside_the_upload_folder_is_never_read():
    invoice = invoice_for("fr")
    invoice.pdf_path = "../../../../etc/passwd"
    db.session.commit()
    data = invoice_pdf_bytes(invoice)
    assert data.startswith(b"%PDF-") and invoice.number in text_of(data)


def test_a_missing_uploaded_file_falls_back_to_the_drawn_pdf():
    invoice = invoice_for("fr")
    store_erp_pdf(invoice, erp_pdf())
    db.session.commit()
    uploaded_files()[0].unlink()
    assert invoice.number in text_of(invoice_pdf_bytes(invoice))


# --- back office routes ----------------------------------------------------------------------

def test_staff_download_the_pdf(staff_client):
    invoice = invoice_for("nl")
    client = staff_client("Admin")
    response = client.get(f"/invoices/pdf/{invoice.id}")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and f"invoice-{invoice.number}.pdf" in disposition
    assert "no-store" in response.headers["Cache-Control"]
    assert "€ 1.234,56" in text_of(response.data)  # the customer's language, not the staff's


def test_unknown_invoice_gives_404(staff_client):
    client = staff_client("Admin")
    assert client.get("/invoices/pdf/999999").status_code == 404
    assert client.get("/invoices/pdf/999999/upload").status_code == 404


def test_file_name_of_an_invoice_number_with_slashes(staff_client):
    invoice = make_invoice(make_customer(), number="2025/INV 17")
    response = staff_client("Admin").get(f"/invoices/pdf/{invoice.id}")
    assert 'filename=invoice-2025-INV-17.pdf' in response.headers["Content-Disposition"]


def test_anonymous_visitors_are_sent_to_the_login(client):
    invoice = invoice_for("fr")
    response = client.get(f"/invoices/pdf/{invoice.id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_read_only_staff_may_download_but_not_upload(staff_client):
    invoice = invoice_for("fr")
    client = staff_client("Read-only")
    assert client.get(f"/invoices/pdf/{invoice.id}").status_code == 200
    assert client.get(f"/invoices/pdf/{invoice.id}/upload").status_code == 403


def test_upload_screen_refuses_a_non_pdf_then_accepts_a_pdf(staff_client):
    invoice = invoice_for("fr")
    client = staff_client("Admin")
    url = f"/invoices/pdf/{invoice.id}/upload"
    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'type="file"' in html and 'enctype="multipart/form-data"' in html
    assert f'href="/invoices/pdf/{invoice.id}"' in html  # download link

    refused = client.post(url, data={"csrf_token": csrf_token(html),
                                     "pdf": (io.BytesIO(b"GIF89a..."), "scan.pdf")},
                          content_type="multipart/form-data")
    assert refused.status_code == 400
    assert "not a PDF document" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).pdf_path is None
    assert uploaded_files() == []

    original = erp_pdf()
    accepted = client.post(url, data={"csrf_token": csrf_token(html),
                                      "pdf": (io.BytesIO(original), "../../evil name.pdf")},
                           content_type="multipart/form-data")
    assert accepted.status_code == 302
    db.session.expire_all()
    stored = db.session.get(Invoice, invoice.id)
    assert stored.pdf_path and "evil" not in stored.pdf_path
    download = client.get(f"/invoices/pdf/{invoice.id}")
    assert download.data == original
    assert "uploaded from the ERP" in client.get(url).get_data(as_text=True)

    corrected = erp_pdf("ERP CORRECTED")
    client.post(url, data={"csrf_token": csrf_token(html),
                           "pdf": (io.BytesIO(corrected), "invoice.pdf")},
                content_type="multipart/form-data")
    assert client.get(f"/invoices/pdf/{invoice.id}").data == corrected
    assert len(uploaded_files()) == 1  # the replaced file is gone


def test_upload_without_csrf_token_changes_nothing(staff_client):
    invoice = invoice_for("fr")
    client = staff_client("Admin")
    response = client.post(f"/invoices/pdf/{invoice.id}/upload",
                           data={"pdf": (io.BytesIO(erp_pdf()), "invoice.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).pdf_path is None
    assert uploaded_files() == []


def test_upload_without_a_file_names_the_field(staff_client):
    invoice = invoice_for("fr")
    client = staff_client("Admin")
    url = f"/invoices/pdf/{invoice.id}/upload"
    token = csrf_token(client.get(url).get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose a PDF file." in response.get_data(as_text=True)
