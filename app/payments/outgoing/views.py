"""Back office screens for money going out or given up: direct-debit batches, refunds, credit
notes and write-offs. Thin: every change goes through app.payments.outgoing.direct_debit,
app.payments.outgoing.refunds and app.payments.outgoing.adjustments; approval limits are
app.core.approvals.

Permissions (app.core.roles): pages are "list", files "download" (read-only roles may see and
download); preparing, proposing, approving, rejecting, exporting are their own permissions,
which read-only roles do not have. Who may approve how much is the approval limit, checked by
the services.
"""
from __future__ import annotations

from flask import Response, abort, flash, redirect, request, url_for
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import Optional

from app.core import validation as v
from app.core.approvals import approval_limit
from app.core.forms import MoneyField
from app.customers.models import Customer
from app.extensions import db
from app.invoices.models import CreditNote, Invoice
from app.payments.outgoing import adjustments, direct_debit, refunds
from app.payments.outgoing.models import (
    COLLECTION_BATCH_STATUSES,
    REFUND_SOURCES,
    REFUND_STATUSES,
    SEQUENCE_TYPES,
    WRITE_OFF_STATUSES,
    CollectionBatch,
    CollectionItem,
    CreditTransferBatch,
    Refund,
    WriteOff,
)

CATEGORY = "Receivables"


class ActionForm(FlaskForm):
    """A button: only the CSRF token."""

    note = TextAreaField(_l("Note"), validators=[Optional()])


class PrepareForm(FlaskForm):
    collection_date = DateField(_l("Collection date"), validators=[Optional()])


class CreditNoteForm(FlaskForm):
    customer_number = StringField(_l("Customer number"))
    invoice_number = StringField(_l("Invoice number (optional)"), validators=[Optional()])
    amount = MoneyField(_l("Amount"))
    reason = TextAreaField(_l("Reason"))


class WriteOffForm(FlaskForm):
    invoice_number = StringField(_l("Invoice number"))
    reason = TextAreaField(_l("Reason"))


class RefundForm(FlaskForm):
    customer_number = StringField(_l("Customer number"))
    amount = MoneyField(_l("Amount (empty: all the refundable credit)"), validators=[Optional()])
    reason = TextAreaField(_l("Reason"), validators=[Optional()])


def _form_ok(form: FlaskForm) -> bool:
    if form.validate_on_submit():
        return True
    if "csrf_token" in form.errors:
        flash(_("The form has expired or was not sent from this page. Please try again."),
              "danger")
    else:
        for messages in form.errors.values():
            for message in messages:
                flash(str(message), "danger")
    return False


def _refused(error: v.ValidationError) -> None:
    db.session.rollback()
    for messages in error.errors.values():
        for message in messages:
            flash(message, "danger")


def _xml(data: bytes, name: str) -> Response:
    return Response(data, mimetype="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _get(model, object_id: int):
    found = db.session.get(model, object_id)
    if found is None:
        abort(404)
    return found


# --- direct debit ------------------------------------------------------------------------------

class DirectDebitView(BaseView):
    """Collection batches (pain.008): prepare for a date, look at one, download its file."""

    route_base = "/direct-debit"
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        batches = db.session.scalars(select(CollectionBatch).order_by(
            CollectionBatch.collection_date.desc(), CollectionBatch.id.desc()).limit(200)).all()
        return self.render_template(
            "payments/direct_debit.html", batches=batches, form=PrepareForm(formdata=None),
            earliest=direct_debit.earliest_collection_date(),
            days=direct_debit.prenotification_days(), statuses=COLLECTION_BATCH_STATUSES,
            sequences=SEQUENCE_TYPES)

    @expose("/prepare", methods=["POST"])
    @has_access
    @permission_name("prepare")
    def prepare(self):
        form = PrepareForm()
        if _form_ok(form):
            try:
                batches = direct_debit.prepare_collection(form.collection_date.data, current_user)
                db.session.commit()
            except v.ValidationError as error:
                _refused(error)
            else:
                if batches:
                    flash(ngettext("%(num)s collection batch prepared; the customers are told.",
                                   "%(num)s collection batches prepared; the customers are told.",
                                   len(batches)), "success")
                else:
                    flash(_("Nothing to collect on that date."), "info")
        return redirect(url_for(".index"))

    @expose("/batch/<int:batch_id>")
    @has_access
    @permission_name("list")
    def batch(self, batch_id: int):
        batch = _get(CollectionBatch, batch_id)
        items = db.session.scalars(select(CollectionItem).where(CollectionItem.batch_id == batch.id)
                                   .options(selectinload(CollectionItem.invoice),
                                            selectinload(CollectionItem.customer),
                                            selectinload(CollectionItem.mandate))
                                   .order_by(CollectionItem.id)).all()
        return self.render_template(
            "payments/direct_debit_batch.html", batch=batch, items=items,
            summary=direct_debit.batch_summary(batch), form=ActionForm(formdata=None),
            statuses=COLLECTION_BATCH_STATUSES, sequences=SEQUENCE_TYPES)

    @expose("/batch/<int:batch_id>/xml")
    @has_access
    @permission_name("download")
    def download(self, batch_id: int):
        batch = _get(CollectionBatch, batch_id)
        if batch.file_xml:
            return _xml(batch.file_xml.encode("utf-8"), f"{batch.payment_info_id}.xml")
        flash(_("This batch has not been exported yet."), "warning")
        return redirect(url_for(".batch", batch_id=batch.id))

    @expose("/batch/<int:batch_id>/export", methods=["POST"])
    @has_access
    @permission_name("export")
    def export(self, batch_id: int):
        batch = _get(CollectionBatch, batch_id)
        if _form_ok(ActionForm()):
            try:
                direct_debit.export_batch(batch, current_user)
                db.session.commit()
            except v.ValidationError as error:
                _refused(error)
            else:
                return redirect(url_for(".download", batch_id=batch.id))
        return redirect(url_for(".batch", batch_id=batch_id))

    @expose("/batch/<int:batch_id>/cancel", methods=["POST"])
    @has_access
    @permission_name("cancel")
    def cancel(self, batch_id: int):
        batch = _get(CollectionBatch, batch_id)
        if _form_ok(ActionForm()):
            try:
                direct_debit.cancel_batch(batch)
                db.session.commit()
                flash(_("The batch was cancelled."), "success")
            except v.ValidationError as error:
                _refused(error)
        return redirect(url_for(".batch", batch_id=batch_id))


# --- refunds -----------------------------------------------------------------------------------

class RefundView(BaseView):
    """Refund proposals, their approval within the limits, and the pain.001 files."""

    route_base = "/refunds"
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        return self._index_page()

    def _index_page(self, refund_form: FlaskForm | None = None, status_code: int = 200):
        status = request.args.get("status") or None
        query = select(Refund).options(selectinload(Refund.customer)).order_by(Refund.id.desc())
        if status in REFUND_STATUSES:
            query = query.where(Refund.status == status)
        files = db.session.scalars(select(CreditTransferBatch)
                                   .order_by(CreditTransferBatch.id.desc()).limit(20)).all()
        return self.render_template(
            "payments/refunds.html", refunds=db.session.scalars(query.limit(300)).all(),
            files=files, statuses=REFUND_STATUSES, sources=REFUND_SOURCES, status=status,
            form=ActionForm(formdata=None),
            refund_form=refund_form or RefundForm(formdata=None),
            limit=approval_limit(current_user, "refund"),
            blockers={r.id: refunds.export_blocker(r) for r in db.session.scalars(
                select(Refund).where(Refund.status == "approved"))}), status_code

    @expose("/propose-credits", methods=["POST"])
    @has_access
    @permission_name("propose")
    def propose_credits(self):
        if _form_ok(ActionForm()):
            made = refunds.propose_from_credit_balances(current_user)
            db.session.commit()
            flash(ngettext("%(num)s refund proposed from credit balances.",
                           "%(num)s refunds proposed from credit balances.", len(made)),
                  "success")
        return redirect(url_for(".index"))

    @expose("/propose", methods=["POST"])
    @has_access
    @permission_name("propose")
    def propose(self):
        form = RefundForm()
        if _form_ok(form):
            try:
                customer = _customer(form.customer_number.data)
                refunds.propose_refund(customer, form.amount.data, current_user,
                                       reason=form.reason.data)
                db.session.commit()
                flash(_("Refund proposed."), "success")
            except v.ValidationError as error:
                _refused(error)
                return self._index_page(form, 400)  # what was typed stays in the form
        elif "csrf_token" not in form.errors:
            return self._index_page(form, 400)
        return redirect(url_for(".index"))

    @expose("/<int:refund_id>/approve", methods=["POST"])
    @has_access
    @permission_name("approve")
    def approve(self, refund_id: int):
        refund = _get(Refund, refund_id)
        form = ActionForm()
        if _form_ok(form):
            try:
                refunds.approve_refund(refund, current_user, form.note.data)
                db.session.commit()
                flash(_("Refund approved."), "success")
            except v.ValidationError as error:
                _refused(error)
        return redirect(url_for(".index"))

    @expose("/<int:refund_id>/reject", methods=["POST"])
    @has_access
    @permission_name("reject")
    def reject(self, refund_id: int):
        refund = _get(Refund, refund_id)
        form = ActionForm()
        if _form_ok(form):
            try:
                refunds.reject_refund(refund, current_user, form.note.data)
                db.session.commit()
                flash(_("Refund rejected."), "success")
            except v.ValidationError as error:
                _refused(error)
        return redirect(url_for(".index"))

    @expose("/export", methods=["POST"])
    @has_access
    @permission_name("export")
    def export(self):
        if _form_ok(ActionForm()):
            result = refunds.export_refunds(current_user)
            db.session.commit()
            for refund, reason in result.blocked:
                flash(_("Refund %(id)s not exported: %(reason)s", id=refund.id, reason=reason),
                      "warning")
            if result.batch is not None:
                flash(ngettext("Transfer file with %(num)s refund created.",
                               "Transfer file with %(num)s refunds created.",
                               result.batch.transaction_count), "success")
            elif not result.blocked:
                flash(_("No approved refund to export."), "info")
        return redirect(url_for(".index"))

    @expose("/files/<int:batch_id>/xml")
    @has_access
    @permission_name("download")
    def download(self, batch_id: int):
        batch = _get(CreditTransferBatch, batch_id)
        return _xml((batch.file_xml or "").encode("utf-8"), f"{batch.message_id}.xml")


def _customer(number: str | None) -> Customer:
    number = (number or "").strip()
    customer = db.session.scalar(select(Customer).where(Customer.number == number)) \
        if number else None
    if customer is None:
        raise v.ValidationError({"customer_number": _("Unknown customer number: %(number)s.",
                                                      number=number or "—")})
    return customer


def _invoice(number: str | None, field: str = "invoice_number") -> Invoice:
    number = (number or "").strip()
    invoice = db.session.scalar(select(Invoice).where(Invoice.number == number)) \
        if number else None
    if invoice is None:
        raise v.ValidationError({field: _("Unknown invoice number: %(number)s.",
                                          number=number or "—")})
    return invoice


# --- credit notes and write-offs ------------------------------------------------------------

class AdjustmentView(BaseView):
    """Credit notes issued by staff and write-offs, proposed then approved within the limits."""

    route_base = "/adjustments"
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        return self._index_page()

    def _index_page(self, note_form: FlaskForm | None = None, status_code: int = 200):
        notes = db.session.scalars(select(CreditNote).where(CreditNote.status == "proposed")
                                   .options(selectinload(CreditNote.customer))
                                   .order_by(CreditNote.id)).all()
        write_offs = db.session.scalars(select(WriteOff).options(
            selectinload(WriteOff.invoice)).order_by(WriteOff.id.desc()).limit(200)).all()
        return self.render_template(
            "payments/adjustments.html", notes=notes, write_offs=write_offs,
            statuses=WRITE_OFF_STATUSES, form=ActionForm(formdata=None),
            note_form=note_form or CreditNoteForm(formdata=None),
            write_off_form=WriteOffForm(formdata=None),
            note_limit=approval_limit(current_user, "credit_note"),
            write_off_limit=approval_limit(current_user, "write_off")), status_code

    @expose("/credit-notes", methods=["POST"])
    @has_access
    @permission_name("propose")
    def propose_credit_note(self):
        form = CreditNoteForm()
        if _form_ok(form):
            try:
                customer = _customer(form.customer_number.data)
                invoice = _invoice(form.invoice_number.data) \
                    if (form.invoice_number.data or "").strip() else None
                note = adjustments.propose_credit_note(customer, form.amount.data,
                                                       form.reason.data, current_user,
                                                       invoice=invoice)
                db.session.commit()
                flash(_("Credit note %(number)s proposed.", number=note.number), "success")
            except v.ValidationError as error:
                _refused(error)
                return self._index_page(form, 400)  # what was typed stays in the form
        elif "csrf_token" not in form.errors:
            return self._index_page(form, 400)
        return redirect(url_for(".index"))

    @expose("/credit-notes/<int:note_id>/approve", methods=["POST"])
    @has_access
    @permission_name("approve")
    def approve_credit_note(self, note_id: int):
        note = _get(CreditNote, note_id)
        if _form_ok(ActionForm()):
            try:
                adjustments.approve_credit_note(note, current_user)
                db.session.commit()
                flash(_("Credit note %(number)s approved.", number=note.number), "success")
            except v.ValidationError as error:
                _refused(error)
        return redirect(url_for(".index"))

    @expose("/credit-notes/<int:note_id>/reject", methods=["POST"])
    @has_access
    @permission_name("reject")
    def reject_credit_note(self, note_id: int):
        note = _get(CreditNote, note_id)
        if _form_ok(ActionForm()):
            try:
                adjustments.reject_credit_note(note, current_user)
                db.session.commit()
                flash(_("Credit note %(number)s rejected.", number=note.number), "success")
            except v.ValidationError as error:
                _refused(error)
        return redirect(url_for(".index"))

    @expose("/write-offs", methods=["POST"])
    @has_access
    @permission_name("propose")
    def propose_write_off(self):
        form = WriteOffForm()
        if _form_ok(form):
            try:
                invoice = _invoice(form.invoice_number.data)
                adjustments.propose_write_off(invoice, form.reason.data, current_user)
                db.session.commit()
                flash(_("Write-off of invoice %(number)s proposed.", number=invoice.number),
                      "success")
            except v.ValidationError as error:
                _refused(error)
        return redirect(url_for(".index"))

    @expose("/write-offs/<int:write_off_id>/approve", methods=["POST"])
    @has_access
    @permission_name("approve")
    def approve_write_off(self, write_off_id: int):
        write_off = _get(WriteOff, write_off_id)
        form = ActionForm()
        if _form_ok(form):
            try:
                adjustments.approve_write_off(write_off, current_user, form.note.data)
                db.session.commit()
                flash(_("Invoice %(number)s written off.", number=write_off.invoice.number),
                      "success")
            except v.ValidationError as error:
                _refused(error)
        return redirect(url_for(".index"))

    @expose("/write-offs/<int:write_off_id>/reject", methods=["POST"])
    @has_access
    @permission_name("reject")
    def reject_write_off(self, write_off_id: int):
        write_off = _get(WriteOff, write_off_id)
        form = ActionForm()
        if _form_ok(form):
            try:
                adjustments.reject_write_off(write_off, current_user, form.note.data)
                db.session.commit()
                flash(_("Write-off rejected."), "success")
            except v.ValidationError as error:
                _refused(error)
        return redirect(url_for(".index"))


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(DirectDebitView, "Direct debit", label=_l("Direct debit"),
                        icon="fa-university", category=CATEGORY)
    appbuilder.add_view(RefundView, "Refunds", label=_l("Refunds"), icon="fa-undo",
                        category=CATEGORY)
    appbuilder.add_view(AdjustmentView, "Credit notes and write-offs",
                        label=_l("Credit notes and write-offs"), icon="fa-eraser",
                        category=CATEGORY)


