"""Back office: e-documents (held ones with their failed rule ids) and customers' Peppol ids."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, request
from flask_appbuilder import AppBuilder, BaseView, expose
from flask_appbuilder.actions import action
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge

from app.core.admin import ReadOnlyModelView, StaffModelView, form_validator
from app.core.validation import ValidationError
from app.einvoicing import services
from app.einvoicing.importing import Problem, UblImportReport, import_upload
from app.einvoicing.models import (
    DIRECTIONS,
    E_DOCUMENT_STATUSES,
    E_DOCUMENT_TYPES,
    CustomerPeppol,
    EDocument,
)
from app.extensions import db

CATEGORY = "Receivables"


class EDocumentView(ReadOnlyModelView):
    datamodel = SQLAInterface(EDocument)
    list_title = _l("E-invoices (Peppol)")
    show_title = _l("E-invoice")
    label_columns = {"direction": _l("Direction"), "doc_type": _l("Document"),
                     "number": _l("Number"), "customer": _l("Customer"),
                     "status": _l("Status"), "failed_rules_text": _l("Failed rules"),
                     "failed_rules": _l("Failed rules"), "findings": _l("Validation findings"),
                     "note": _l("Note"), "channel": _l("Channel"),
                     "ap_message_id": _l("Access point message id"),
                     "ap_status": _l("Access point status"), "sent_at": _l("Sent at"),
                     "credit_note": _l("Credit note"), "invoice": _l("Invoice"),
                     "sender": _l("Sender"), "created_at": _l("Created at"),
                     "updated_at": _l("Updated at")}
    list_columns = ["number", "doc_type", "direction", "customer", "status", "failed_rules_text",
                    "channel", "ap_message_id", "ap_status", "updated_at"]
    search_columns = ["number", "status", "direction", "doc_type"]
    show_columns = ["number", "doc_type", "direction", "sender", "customer", "credit_note",
                    "invoice", "status", "failed_rules_text", "note", "findings", "channel",
                    "ap_message_id", "ap_status", "sent_at", "created_at", "updated_at"]
    base_order = ("updated_at", "desc")
    # Read, plus the two actions and the Factur-X download (a Read-only user gets only reads).
    base_permissions = ["can_list", "can_show", "can_facturx", "can_validate_again", "can_send"]
    choice_columns = {"status": E_DOCUMENT_STATUSES, "doc_type": E_DOCUMENT_TYPES,
                      "direction": DIRECTIONS}

    @action("validate_again", _l("Build and validate again"), icon="fa-refresh",
            multiple=True, single=True)
    def validate_again(self, items):
        items = items if isinstance(items, list) else [items]
        outcome = services.rebuild(items)
        flash(_("%(ready)s ready, %(held)s held.", ready=outcome["ready"], held=outcome["held"]),
              "info")
        return redirect(request.referrer or self.get_redirect())

    @expose("/facturx/<int:pk>")
    @has_access
    def facturx(self, pk: int):
        """The Factur-X PDF of an outgoing credit note (French business customers)."""
        from app.einvoicing.facturx_out import facturx_pdf

        document = db.session.get(EDocument, pk)
        if document is None or document.credit_note is None:
            abort(404)
        try:
            pdf = facturx_pdf(document.credit_note)
        except ValidationError as refused:
            for messages in refused.errors.values():
                for message in messages:
                    flash(message, "warning")
            return redirect(self.get_redirect())
        return Response(pdf, mimetype="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="{document.number}-factur-x.pdf"'})

    @action("send", _l("Send"), icon="fa-paper-plane", multiple=True, single=True)
    def send(self, items):
        items = items if isinstance(items, list) else [items]
        outcome = services.send(items)
        for message in outcome["refused"]:
            flash(message, "warning")
        if outcome["queued"]:
            flash(_("%(n)s e-invoice(s) handed to the delivery channel.", n=outcome["queued"]),
                  "success")
        return redirect(request.referrer or self.get_redirect())


class CustomerPeppolView(StaffModelView):
    datamodel = SQLAInterface(CustomerPeppol)
    list_title = _l("Peppol addresses")
    show_title = _l("Peppol address")
    add_title = _l("Add a Peppol address")
    edit_title = _l("Edit Peppol address")
    label_columns = {"customer": _l("Customer"), "endpoint_scheme": _l("Scheme (EAS code)"),
                     "endpoint_id": _l("Peppol identifier"),
                     "buyer_reference": _l("Buyer reference"),
                     "reachable": _l("Reachable on Peppol"),
                     "reachable_checked_at": _l("Checked at")}
    description_columns = {
        "endpoint_scheme": _l("0208: Belgian enterprise number; 9925 BE, 9944 NL, 9957 FR VAT. "
                              "Empty: derived from the customer's VAT number."),
        "buyer_reference": _l("What the buyer wants quoted; empty: the customer number.")}
    list_columns = ["customer", "endpoint_scheme", "endpoint_id", "buyer_reference", "reachable",
                    "reachable_checked_at"]
    search_columns = ["endpoint_id", "buyer_reference"]
    add_columns = edit_columns = ["customer", "endpoint_scheme", "endpoint_id", "buyer_reference"]
    show_columns = list_columns
    validators_columns = {"endpoint_scheme": [form_validator(services.check_scheme)]}

    # Saved through app.einvoicing.services.save_peppol_address: both parts or neither, a
    # valid identifier, and a changed address asked about again.
    def create_from_form(self, form) -> CustomerPeppol:
        return services.save_peppol_address(None, form.customer.data, form.endpoint_scheme.data,
                                            form.endpoint_id.data, form.buyer_reference.data)

    def update_from_form(self, row: CustomerPeppol, form) -> CustomerPeppol:
        return services.save_peppol_address(row, form.customer.data, form.endpoint_scheme.data,
                                            form.endpoint_id.data, form.buyer_reference.data)


class UblUploadForm(FlaskForm):
    file = FileField(_l("UBL file (XML or ZIP)"),
                     validators=[FileRequired(_l("Choose an XML or ZIP file."))])


class ImportUblView(BaseView):
    """Upload → check → import (all or nothing) in one step: the report says what happened."""

    route_base = "/einvoicing/import"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        return self.render_template("einvoicing/upload.html", form=UblUploadForm(formdata=None),
                                    report=None)

    @expose("/", methods=["POST"])
    @has_access
    def upload(self):

        try:
            form = UblUploadForm()
            valid = form.validate_on_submit()
        except RequestEntityTooLarge:
            flash(_("The file is too large."), "danger")
            return self.render_template("einvoicing/upload.html",
                                        form=UblUploadForm(formdata=None), report=None), 413
        if not valid:
            flash(" ".join(e for errors in form.errors.values() for e in errors), "danger")
            return self.render_template("einvoicing/upload.html", form=form, report=None), 400
        try:
            report = import_upload(form.file.data.filename or "upload.xml",
                                   form.file.data.read())
        except ValidationError as refused:
            report = UblImportReport()
            report.problems = [Problem(form.file.data.filename or "", "", m)
                               for ms in refused.errors.values() for m in ms]
        status = 200 if report.ok else 422
        return self.render_template("einvoicing/upload.html", form=UblUploadForm(formdata=None),
                                    report=report), status


def register(appbuilder: AppBuilder) -> None:
    from flask import current_app

    from app.einvoicing.webhook import bp

    current_app.register_blueprint(bp)  # the access point's signed webhook (no login)
    appbuilder.add_view(EDocumentView, "E-invoices", label=_l("E-invoices (Peppol)"),
                        icon="fa-exchange", category=CATEGORY)
    appbuilder.add_view(CustomerPeppolView, "Peppol addresses", label=_l("Peppol addresses"),
                        icon="fa-address-card", category=CATEGORY)
    appbuilder.add_view(ImportUblView, "ImportUbl", label=_l("Import UBL invoices"),
                        icon="fa-upload", category=CATEGORY)
