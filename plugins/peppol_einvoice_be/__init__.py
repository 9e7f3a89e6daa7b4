"""Peppol through e-invoice.be (Belgian access point), with its public REST API.

Followed: https://docs.e-invoice.be — "Sending UBL documents" (guides/ubl-documents),
"Lookup participants" (guides/lookup-participants, api-reference/lookup/lookup-peppol-id) and
"Webhooks" (essentials/webhooks). What the docs require and this client does:

- every call carries ``Authorization: Bearer <API key>`` (the key comes from the environment:
  CREDITDESK_PLUGIN_PEPPOL_EINVOICE_BE_API_KEY);
- ``POST /api/documents/ubl`` takes the UBL as multipart/form-data with a ``file`` field (a raw
  XML body is answered 422 "Field required: body.file"); the answer is the document with its
  ``id`` and ``state`` (DRAFT);
- ``POST /api/documents/{id}/send`` sends the draft over Peppol; ``GET /api/documents/{id}``
  reads its state;
- ``GET /api/lookup?peppol_id=<scheme>:<id>`` asks the SMP whether the participant is registered
  (``serviceMetadata.endpoints`` empty: not reachable);
- received documents, polled (``app.einvoicing.jobs.poll_access_point_inbox``, every scheduler
  tick) as the webhook's fallback: ``GET /api/inbox/?page=&page_size=(1..100)&sort_by=created_at
  &sort_order=desc`` answers ``{"items": [{"id", ...}], "page", "page_size", "pages",
  "total"}``; ``GET /api/documents/{id}/ubl`` answers the file's ``signed_url``. Both are in the
  provider's API reference as generated into its official SDKs (npm ``e-invoice-api``: resources
  ``inbox.list`` and ``documents.ubl.get``; the Ruby gem ``e-invoice-api`` likewise). The docs do
  not say whether invoice responses (ApplicationResponse) appear in the inbox — its ``type``
  filter only names invoices and credit notes — so the poll takes whatever is listed, applies
  the invoice responses and marks the rest as seen.

Webhooks, as docs.e-invoice.be/essentials/webhooks says (read on 7 December 2026 through the
search tool's stored copy): the only security header is ``X-Signature: sha256=<hex>``, the
HMAC-SHA256 of the *complete* event serialised as JSON with sorted keys; the event carries its
id, a timestamp, its type and its content. There is **no timestamp header**: the timestamp the
replay check needs is the one inside the signed event (accepted as Unix seconds or ISO 8601, as
the docs' excerpts do not show its format). Event names in the docs: ``document.received``,
``document.sent``, ``document.sent.failed`` (and "document receive failed", whose name the
excerpt does not show). Older copies of the page (api.e-invoice.be/docs/integration-guides/
webhooks) show the document at the top level (``{"document": {"id", "name", "type", "size",
"url"}}``); the current page speaks of a ``data`` field: both places are read. Only
``document.received`` fetches anything; the others are recorded and ignored.

Errors: 408/425/429/5xx and connection failures are transient (the outbox retries); 401/403 (bad
key) and 4xx refusals are permanent, with the provider's own words kept for staff.
"""
from __future__ import annotations

from urllib.parse import quote, urlsplit

import requests
from flask_babel import lazy_gettext as _l

from app.core.plugins import PluginSetting, PluginSpec
from app.notifications.channels import PermanentError, TransientError

TRANSIENT_STATUSES = {408, 425, 429}
DELIVERED_STATES = {"SENT", "DELIVERED", "RECEIVED"}
FAILED_STATES = {"FAILED", "ERROR", "REJECTED"}
MAX_RECEIVED_BYTES = 20 * 1024 * 1024


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, list):
        return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return str(detail or body)[:300]


class EInvoiceBe:
    def __init__(self, settings: dict) -> None:
        self.base_url = (settings.get("base_url") or "").rstrip("/")
        self.api_key = settings.get("api_key") or ""
        self.timeout = float(settings.get("timeout") or 30)
        self._session = requests.Session()

    def is_configured(self) -> bool:
        return bool(self.base_url and self.api_key)

    def _call(self, method: str, path: str, **kwargs) -> dict:
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        try:
            response = self._session.request(method, self.base_url + path, headers=headers,
                                             timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise TransientError(f"e-invoice.be unreachable: {exc}") from exc
        if response.status_code in TRANSIENT_STATUSES or response.status_code >= 500:
            raise TransientError(f"e-invoice.be answered HTTP {response.status_code}: "
                                 f"{_detail(response)}")
        if response.status_code in (401, 403):
            raise PermanentError(f"e-invoice.be refused the API key (HTTP "
                                 f"{response.status_code}): {_detail(response)}")
        if response.status_code >= 300:
            raise PermanentError(f"e-invoice.be refused the request (HTTP "
                                 f"{response.status_code}): {_detail(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise TransientError("e-invoice.be answered without JSON") from exc

    # --- lookup ------------------------------------------------------------------------------
    def is_reachable(self, peppol_id: str) -> bool:
        answer = self._call("GET", "/api/lookup", params={"peppol_id": peppol_id})
        endpoints = (answer.get("serviceMetadata") or {}).get("endpoints") or []
        return answer.get("status") == "success" and bool(endpoints)

    # --- channel -----------------------------------------------------------------------------
    def send(self, message) -> str:
        from app.einvoicing import services

        document = services.document_for_message(message)
        if document is None or not document.xml:
            raise PermanentError("the message carries no e-invoice")
        if not self.is_reachable(message.recipient):
            services.record_failure(document, "NOT_REGISTERED",
                                    f"{message.recipient} is not registered on Peppol")
            raise PermanentError(f"{message.recipient} is not registered on Peppol")
        ap_id = document.ap_message_id
        if not ap_id:  # a retry after a crash reuses the draft instead of making a second one
            created = self._call("POST", "/api/documents/ubl", files={
                "file": (f"{document.number}.xml", document.xml.encode(), "application/xml")})
            ap_id = str(created.get("id") or "")
            if not ap_id:
                raise TransientError("e-invoice.be answered without a document id")
            document.ap_message_id, document.ap_status = ap_id, created.get("state")
            from app.extensions import db

            db.session.commit()
        current = self._call("GET", f"/api/documents/{ap_id}")
        state = str(current.get("state") or "")
        if state.upper() == "DRAFT":
            state = str(self._call("POST", f"/api/documents/{ap_id}/send").get("state") or "")
        if state.upper() in FAILED_STATES:
            services.record_failure(document, state, f"e-invoice.be: {state}")
            raise PermanentError(f"e-invoice.be could not deliver {ap_id}: {state}")
        services.record_handover(document, ap_id, state,
                                 delivered=state.upper() in DELIVERED_STATES)
        return ap_id

    def download(self, url: str) -> bytes:
        """A received document, from the address a (verified) webhook named: only ever on the
        access point's own host, with our key (never a request to a host the caller chose)."""
        from app.einvoicing.webhook import same_host

        if not same_host(url, self.base_url):
            raise PermissionError(url)
        try:
            response = self._session.get(url, headers={"Authorization": f"Bearer {self.api_key}"},
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"e-invoice.be unreachable: {exc}") from exc
        if response.status_code >= 300:
            raise TransientError(f"e-invoice.be answered HTTP {response.status_code}")
        return response.content[:20 * 1024 * 1024]

    # --- received documents (polled: the webhook's fallback) --------------------------------
    def received_documents(self, page: int = 1, page_size: int = 100) -> dict:
        """One page of the inbox, newest first: ``{"items": [...], "page", "pages", ...}``."""
        return self._call("GET", "/api/inbox/", params={
            "page": page, "page_size": page_size, "sort_by": "created_at",
            "sort_order": "desc"})

    def received_ubl(self, document_id: str) -> bytes:
        """The UBL of a received document: the API names a signed address for the file, which
        is read without our key (a signed URL needs none; the key never leaves for another
        host) and without following redirects."""
        answer = self._call("GET", f"/api/documents/{quote(document_id, safe='')}/ubl")
        url = str(answer.get("signed_url") or "")
        if urlsplit(url).scheme not in ("https", "http"):
            raise PermanentError(f"e-invoice.be gave no address for the UBL of {document_id}")
        try:
            response = self._session.get(url, timeout=self.timeout, allow_redirects=False,
                                         stream=True)
        except requests.RequestException as exc:
            raise TransientError(f"e-invoice.be file store unreachable: {exc}") from exc
        with response:
            if response.status_code >= 300:
                raise TransientError(f"e-invoice.be file store answered HTTP "
                                     f"{response.status_code}")
            data = response.raw.read(MAX_RECEIVED_BYTES + 1, decode_content=True)
        if len(data) > MAX_RECEIVED_BYTES:
            raise PermanentError(f"received document {document_id} is too large")
        return data

    def status(self, ap_id: str) -> str:
        return str(self._call("GET", f"/api/documents/{ap_id}").get("state") or "")

    def close(self) -> None:
        self._session.close()


plugin = PluginSpec(
    name="peppol_einvoice_be", kind="channel", channel="peppol", priority=10,
    label=_l("Peppol through e-invoice.be"),
    description=_l("Sends e-invoices over Peppol through the Belgian access point e-invoice.be "
                   "(its REST API), and asks it whether a customer can receive them."),
    factory=EInvoiceBe, enabled_by_default=False,
    settings=(
        PluginSetting("base_url", _l("API address"), default="https://api.e-invoice.be"),
        PluginSetting("timeout", _l("Timeout in seconds"), default=30),
        PluginSetting("api_key", _l("API key"), secret=True),
        PluginSetting("webhook_secret", _l("Webhook signing secret"), secret=True),
    ),
)
