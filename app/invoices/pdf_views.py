"""Back office: download an invoice's PDF, upload the ERP's own PDF for it.

Links from other screens: url_for("InvoicePdfView.download", invoice_id=...) and
url_for("InvoicePdfView.upload", invoice_id=...). Permissions: can_download / can_upload on
InvoicePdfView (FAB names them after the methods).
"""
from __future__ import annotations

import io
import re

from flask import abort, flash, redirect, render_template_string, send_file, url_for
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.routing import BuildError

from app.core.validation import ValidationError
from app.extensions import db
from app.invoices.models import Invoice
from app.invoices.pdf import (
    MAX_ERP_PDF_BYTES,
    erp_pdf_key,
    forget_erp_pdf,
    invoice_pdf_bytes,
    store_erp_pdf,
)

# Kept inline: a single small page. Every text arrives already translated from the handler.
UPLOAD_PAGE = """
{% extends base_template %}
{% block content %}
<h2>{{ texts.title }}</h2>
<p id="pdf-source">{{ texts.source }}</p>
<p>
  {% if invoice_url %}<a class="btn btn-default" href="{{ invoice_url }}">{{ texts.back }}</a>{% endif %}
  <a class="btn btn-default" href="{{ download_url }}">{{ texts.download }}</a>
</p>
<form method="post" enctype="multipart/form-data" action="">
  {{ form.hidden_tag() }}
  <div class="form-group{% if form.pdf.errors or form.csrf_token.errors %} has-error{% endif %}">
    <label for="pdf">{{ form.pdf.label.text }}</label>
    {{ form.pdf(accept="application/pdf,.pdf", class_="form-control") }}
    <p class="help-block">{{ texts.help }}</p>
    {% for field in (form.pdf, form.csrf_token) %}{% for error in field.errors %}
      <p class="help-block error">{{ error }}</p>
    {% endfor %}{% endfor %}
  </div>
  <button type="submit" class="btn btn-primary">{{ texts.submit }}</button>
</form>
{% endblock %}
"""


class ErpPdfForm(FlaskForm):
    pdf = FileField(_l("Invoice PDF from the ERP"),
                    validators=[FileRequired(message=_l("Choose a PDF file."))])


def download_name(invoice: Invoice) -> str:
    """invoice-<number>.pdf, with anything unsafe in a file name (/, spaces, …) replaced."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", invoice.number).strip("-.") or str(invoice.id)
    return f"invoice-{safe}.pdf"


class InvoicePdfView(BaseView):
    route_base = "/invoices/pdf"
    default_view = "download"

    @expose("/<int:invoice_id>")
    @has_access
    def download(self, invoice_id: int):
        invoice = _invoice_or_404(invoice_id)
        response = send_file(io.BytesIO(invoice_pdf_bytes(invoice)), mimetype="application/pdf",
                             as_attachment=True, download_name=download_name(invoice))
        # Invoices hold personal data: no shared or browser cache keeps a copy.
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @expose("/<int:invoice_id>/upload", methods=["GET", "POST"])
    @has_access
    def upload(self, invoice_id: int):
        invoice = _invoice_or_404(invoice_id)
        form = ErpPdfForm()
        if form.validate_on_submit():
            # Read one byte past the limit, so a too-large file is recognised without
            # holding more of it in memory.
            data = form.pdf.data.read(MAX_ERP_PDF_BYTES + 1)
            previous = erp_pdf_key(invoice)
            try:
                store_erp_pdf(invoice, data)
            except ValidationError as exc:  # not a PDF, too large, or the store is down
                db.session.rollback()
                form.pdf.errors = [m for messages in exc.errors.values() for m in messages]
            else:
                db.session.commit()
                # Replaced: the old file is no longer anyone's PDF.
                forget_erp_pdf(previous)
                flash(_("The ERP's PDF is now the PDF of invoice %(number)s.",
                        number=invoice.number), "success")
                return redirect(url_for(".upload", invoice_id=invoice.id))
        texts = {
            "title": _("PDF of invoice %(number)s", number=invoice.number),
            "source": _("Customers receive the PDF uploaded from the ERP.") if invoice.pdf_path
            else _("Customers receive the PDF drawn by CreditDesk (no ERP PDF uploaded)."),
            "download": _("Download the PDF"),
            "back": _("Back to the invoice"),
            "help": _("A PDF document of at most %(n)s MB. It replaces the PDF customers "
                      "receive for this invoice.", n=MAX_ERP_PDF_BYTES // (1024 * 1024)),
            "submit": _("Upload"),
        }
        status = 400 if form.is_submitted() else 200
        return render_template_string(
            UPLOAD_PAGE, form=form, texts=texts, base_template=self.appbuilder.base_template,
            appbuilder=self.appbuilder,
            download_url=url_for(".download", invoice_id=invoice.id),
            invoice_url=_invoice_page(invoice)), status


def _invoice_page(invoice: Invoice) -> str | None:
    """The invoice's own screen, when the invoice screens are installed."""
    try:
        return url_for("InvoiceView.show", pk=invoice.id)
    except BuildError:
        return None


def _invoice_or_404(invoice_id: int) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        abort(404)
    return invoice


def register(appbuilder: AppBuilder) -> None:
    """Reached from the invoice screens; no menu entry of its own."""
    appbuilder.add_view_no_menu(InvoicePdfView())
