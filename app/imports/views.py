"""Back office: upload an ERP CSV export, look at the preview, then import it.

The upload is kept in the file store as imports/<random token>.csv (app.core.storage: outside
the web root, shared by every host, under a name we chose: the client's file name is never
used) between the preview and the import, which another host may serve; the token is the only
thing the browser sends back, and it must look like one of ours.
"""
from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import flash, redirect, url_for
from flask_appbuilder import AppBuilder, BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import HiddenField
from wtforms.validators import AnyOf, DataRequired

from app.core.i18n import day, money
from app.core.storage import StorageUnavailable, storage
from app.imports import services
from app.imports.columns import CUSTOMERS, INVOICES, KINDS, accepted_headers
from app.invoices.references import format_ogm

TOKEN = re.compile(r"^[0-9a-f]{32}$")
MAX_AGE_SECONDS = 24 * 3600  # uploads nobody imported are removed after a day
FOLDER = "imports"
TITLES = {CUSTOMERS: _l("Customers"), INVOICES: _l("Invoices")}


class UploadForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file."))])


class ConfirmImportForm(FlaskForm):
    kind = HiddenField(validators=[DataRequired(), AnyOf(KINDS)])
    token = HiddenField(validators=[DataRequired()])


class ImportView(BaseView):
    route_base = "/imports"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        return self._index()

    @expose("/upload/<kind>", methods=["POST"])
    @has_access
    def upload(self, kind: str):
        if kind not in KINDS:
            return self._index(_("Unknown kind of import."), status=404)
        try:
            form = UploadForm()
        except RequestEntityTooLarge:
            return self._index(_too_large_message(), status=413)
        if not form.validate_on_submit():
            return self._index(_form_problem(form), status=400)
        limit = services.max_bytes()
        data = form.file.data.read(limit + 1)
        if len(data) > limit:
            return self._index(_too_large_message(), status=413)
        try:
            token = _store(data)
        except StorageUnavailable as exc:
            return self._index(exc.message, status=503)
        return redirect(url_for(".preview", kind=kind, token=token))

    @expose("/preview/<kind>/<token>")
    @has_access
    def preview(self, kind: str, token: str):
        data = _stored(token)
        if kind not in KINDS or data is None:
            return self._index(_upload_not_found_message(), status=404)
        report = services.preview(kind, data)
        form = ConfirmImportForm(kind=kind, token=token)
        return self.render_template("imports/preview.html", report=report, form=form,
                                    title=TITLES[kind], display=display)

    @expose("/run", methods=["POST"])
    @has_access
    def run(self):
        form = ConfirmImportForm()
        if not form.validate_on_submit():
            return self._index(_form_problem(form), status=400)
        kind, data = form.kind.data, _stored(form.token.data)
        if data is None:
            return self._index(_upload_not_found_message(), status=404)
        report = services.run_import(kind, data)
        if report.committed:
            _forget(form.token.data)
        return self.render_template("imports/result.html", report=report, title=TITLES[kind],
                                    form=form, display=display)

    def _index(self, problem: str | None = None, status: int = 200):
        if problem:
            flash(problem, "danger")
        forms = {kind: UploadForm(formdata=None) for kind in KINDS}
        page = self.render_template("imports/index.html", forms=forms, titles=TITLES,
                                    accepted={kind: accepted_headers(kind) for kind in KINDS},
                                    max_mb=services.max_bytes() // (1024 * 1024))
        return page, status


def _key(token: str) -> str:
    return f"{FOLDER}/{token}.csv"


def _store(data: bytes) -> str:
    _remove_old_uploads()
    token = secrets.token_hex(16)
    storage().put(_key(token), data)
    return token


def _stored(token: str | None) -> bytes | None:
    """The stored upload for a token, or None when the token is not one of ours (e.g. ../)
    or its file is gone. StorageUnavailable (a 503 page) when the store cannot be reached."""
    if not token or not TOKEN.match(token):
        return None
    return storage().get(_key(token))


def _forget(token: str) -> None:
    try:
        storage().delete(_key(token))
    except StorageUnavailable:  # imported already; the daily clean-up removes it later
        pass


def _remove_old_uploads() -> None:
    cutoff = datetime.now(UTC) - timedelta(seconds=MAX_AGE_SECONDS)
    for old in storage().list(f"{FOLDER}/"):
        if old.modified < cutoff:
            storage().delete(old.key)


def _form_problem(form: FlaskForm) -> str:
    if "csrf_token" in form.errors:
        return _("The form has expired or was not sent from this page. Please try again.")
    return " ".join(str(message) for messages in form.errors.values() for message in messages)


def _too_large_message() -> str:
    return _("The file is too large; the limit is %(limit)s MB.",
             limit=services.max_bytes() // (1024 * 1024))


def _upload_not_found_message() -> str:
    return _("This upload was not found: it was already imported, has expired, or the link is "
             "wrong. Please upload the file again.")


def display(field: str, value: Any) -> str:
    """A value of the preview as a person reads it (money and dates in their language)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, date):
        return day(value)
    if field == "structured_reference" and isinstance(value, str) and len(value) == 12 \
            and value.isdigit():
        return format_ogm(value)
    return str(value)


def register(appbuilder: AppBuilder) -> None:
    """Adds this module's screens to the back office."""
    appbuilder.add_view(ImportView, "Import", label=_l("Import"), icon="fa-upload",
                        category="Receivables", category_label=_l("Receivables"))
