"""A local stand-in for the e-invoice.be REST API, checking what its documentation requires.

Bearer key on every call (401 otherwise); UBL only as multipart/form-data with a ``file`` field
(422 "Field required" for a raw XML body, as the docs warn); drafts sent with
``POST /api/documents/{id}/send``; ``GET /api/lookup?peppol_id=scheme:id`` answering from the
registered set; the inbox (``GET /api/inbox/`` paginated, page_size 1..100) and
``GET /api/documents/{id}/ubl`` naming a signed address that refuses a bearer key. ``fail_next`` makes the next calls answer that HTTP status (e.g. 503).
"""
from __future__ import annotations

import hashlib
import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from lxml import etree


def _sig(doc_id: str) -> str:
    return hashlib.sha256(f"fake-store:{doc_id}".encode()).hexdigest()[:16]


class FakeEInvoiceBe:
    def __init__(self, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.registered: set[str] = set()
        self.documents: dict[str, dict] = {}
        self.fail_next: list[int] = []
        self.calls: list[tuple[str, str]] = []
        self.state_after_send = "TRANSIT"
        self.files: dict[str, bytes] = {}  # received documents, served at /files/<name>
        # The inbox (GET /api/inbox/, newest first): received documents by id, their UBL
        # named by GET /api/documents/{id}/ubl as a signed address (/signed/<id>?sig=...).
        self.inbox: dict[str, bytes] = {}
        self.signed_reads: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> FakeEInvoiceBe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                fake.calls.append((self.command, self.path))
                if fake.fail_next:
                    self._answer(fake.fail_next.pop(0), {"detail": "Service unavailable"})
                    return False
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._answer(401, {"detail": "Not authenticated"})
                    return False
                return True

            def do_GET(self):
                parts = urlsplit(self.path)
                if parts.path.startswith("/signed/"):  # a signed URL: no bearer key needed
                    return self._signed(parts)
                if not self._authorised():
                    return
                if parts.path == "/api/inbox/":
                    return self._inbox(parse_qs(parts.query))
                if parts.path.startswith("/api/documents/") and parts.path.endswith("/ubl"):
                    doc_id = parts.path.split("/")[3]
                    if doc_id not in fake.inbox:
                        return self._answer(404, {"detail": "Document not found"})
                    return self._answer(200, {
                        "id": doc_id, "file_name": f"{doc_id}.xml",
                        "signed_url": f"{fake.url}/signed/{doc_id}?sig={_sig(doc_id)}"})
                if parts.path.startswith("/files/"):
                    data = fake.files.get(parts.path[len("/files/"):])
                    if data is None:
                        return self._answer(404, {"detail": "Not Found"})
                    self.send_response(200)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return None
                if parts.path == "/api/lookup":
                    peppol_id = (parse_qs(parts.query).get("peppol_id") or [""])[0]
                    if ":" not in peppol_id:
                        return self._answer(422, {"detail": [{"loc": ["query", "peppol_id"],
                                                              "msg": "Invalid Peppol ID format"}]})
                    endpoints = [{"status": "success", "url": "https://ap.example/as4"}] \
                        if peppol_id in fake.registered else []
                    return self._answer(200, {"status": "success", "errors": [],
                                              "queryMetadata": {"identifierValue": peppol_id},
                                              "serviceMetadata": {"status": "success",
                                                                  "endpoints": endpoints}})
                if parts.path.startswith("/api/documents/"):
                    document = fake.documents.get(parts.path.rsplit("/", 1)[1])
                    if document is None:
                        return self._answer(404, {"detail": "Document not found"})
                    return self._answer(200, document)
                self._answer(404, {"detail": "Not Found"})

            def _inbox(self, query: dict) -> None:
                try:
                    page = int((query.get("page") or ["1"])[0])
                    size = int((query.get("page_size") or ["20"])[0])
                except ValueError:
                    return self._answer(422, {"detail": "page and page_size are numbers"})
                if page < 1 or not 1 <= size <= 100:
                    return self._answer(422, {"detail": [{"loc": ["query", "page_size"],
                                                          "msg": "between 1 and 100"}]})
                ids = list(reversed(fake.inbox))  # newest first
                pages = max(1, -(-len(ids) // size))
                items = [{"id": i, "state": "RECEIVED"}
                         for i in ids[(page - 1) * size:page * size]]
                return self._answer(200, {"items": items, "page": page, "page_size": size,
                                          "pages": pages, "total": len(ids)})

            def _signed(self, parts) -> None:
                fake.calls.append((self.command, self.path))
                doc_id = parts.path[len("/signed/"):]
                given = (parse_qs(parts.query).get("sig") or [""])[0]
                if doc_id not in fake.inbox or given != _sig(doc_id):
                    return self._answer(403, {"detail": "Bad signature"})
                if self.headers.get("Authorization"):
                    return self._answer(400, {"detail": "A signed URL takes no API key"})
                fake.signed_reads.append(doc_id)
                data = fake.inbox[doc_id]
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None

            def do_POST(self):
                if not self._authorised():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                path = urlsplit(self.path).path
                if path == "/api/documents/ubl":
                    return self._create(body)
                if path.startswith("/api/documents/") and path.endswith("/send"):
                    document = fake.documents.get(path.split("/")[3])
                    if document is None:
                        return self._answer(404, {"detail": "Document not found"})
                    if document["state"] != "DRAFT":
                        return self._answer(400, {"detail": "Document already sent"})
                    document["state"] = fake.state_after_send
                    return self._answer(200, document)
                self._answer(404, {"detail": "Not Found"})

            def _create(self, body: bytes):
                content_type = self.headers.get("Content-Type", "")
                if not content_type.startswith("multipart/form-data"):
                    return self._answer(422, {"detail": [{"type": "missing",
                                                          "loc": ["body", "file"],
                                                          "msg": "Field required"}]})
                message = BytesParser(policy=HTTP).parsebytes(
                    f"Content-Type: {content_type}\r\n\r\n".encode() + body)
                files = [p for p in message.iter_parts()
                         if p.get_param("name", header="content-disposition") == "file"]
                if not files:
                    return self._answer(422, {"detail": [{"loc": ["body", "file"],
                                                          "msg": "Field required"}]})
                xml = files[0].get_payload(decode=True)
                try:
                    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False,
                                                                 no_network=True))
                except etree.XMLSyntaxError:
                    return self._answer(422, {"detail": "Invalid XML"})
                kind = etree.QName(root).localname
                if kind not in ("Invoice", "CreditNote"):
                    return self._answer(422, {"detail": "Not an Invoice or Credit Note"})
                number = root.findtext(
                    "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}ID")
                doc_id = f"doc_{len(fake.documents) + 1:04d}"
                fake.documents[doc_id] = {"id": doc_id, "state": "DRAFT",
                                          "type": "CREDIT_NOTE" if kind == "CreditNote"
                                          else "INVOICE", "invoice_number": number,
                                          "xml": xml.decode()}
                return self._answer(200, {k: v for k, v in fake.documents[doc_id].items()
                                          if k != "xml"})

        return Handler
