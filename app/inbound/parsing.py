"""Reading one raw e-mail into plain facts, whatever state it is in.

Nothing here trusts the message: headers may be missing or garbled, MIME may be broken,
charsets may lie, HTML may carry scripts. The result is always a ParsedMail (``defects`` says
what was wrong); the text is plain text (HTML is turned into text, scripts and styles dropped),
capped in size.
"""
from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.header import decode_header, make_header
from email.message import Message as MimeMessage
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from html import unescape
from html.parser import HTMLParser

from app.inbound.quotes import own_words

MAX_TEXT = 100_000        # characters of text kept from one message
MAX_ATTACHMENTS = 20      # files looked at in one message
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")


@dataclass
class Attachment:
    name: str | None
    content_type: str
    data: bytes


@dataclass
class Bounce:
    """What a delivery status notification says about one recipient."""

    recipient: str
    action: str          # failed / delayed / delivered ...
    status: str          # 5.1.1 ...
    diagnostic: str = ""

    @property
    def permanent(self) -> bool:
        return self.action == "failed" or self.status.startswith("5")


@dataclass
class ParsedMail:
    message_id: str | None = None
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    sender: str = ""
    sender_name: str = ""
    recipients: list[str] = field(default_factory=list)  # To, Cc, Delivered-To, X-Original-To
    subject: str = ""
    sent_at: datetime | None = None
    headers: dict[str, str] = field(default_factory=dict)  # lower-case name → first value
    content_type: str = "text/plain"
    report_type: str = ""
    text: str = ""
    new_text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    bounces: list[Bounce] = field(default_factory=list)
    returned_ids: list[str] = field(default_factory=list)  # Message-IDs of a bounced message
    defects: list[str] = field(default_factory=list)

    @property
    def thread_ids(self) -> list[str]:
        return [*self.in_reply_to, *self.references]


def header_text(value) -> str:
    """A header as text: RFC 2047 words decoded, bad charsets replaced, never an exception."""
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except Exception:  # noqa: BLE001 (a garbled header is shown as it came)
        return str(value)


def parse(raw: bytes) -> ParsedMail:
    result = ParsedMail()
    try:
        mime = email.message_from_bytes(raw)
    except Exception as exc:  # noqa: BLE001 (the parser is lenient; belt and braces)
        result.defects.append(f"unreadable message: {exc}")
        result.text = result.new_text = _decode(raw[:MAX_TEXT], "utf-8")
        return result
    result.defects.extend(type(d).__name__ for d in getattr(mime, "defects", [])[:10])
    _headers(mime, result)
    texts: list[str] = []
    htmls: list[str] = []
    try:
        _walk(mime, result, texts, htmls)
    except Exception as exc:  # noqa: BLE001
        result.defects.append(f"broken MIME structure: {exc}")
    text = "\n\n".join(t for t in texts if t.strip())
    if not text.strip() and htmls:
        text = "\n\n".join(html_to_text(h) for h in htmls)
    text = text.replace("\r\n", "\n").replace("\r", "\n")[:MAX_TEXT]
    result.text = _clean_controls(text)
    result.new_text = own_words(result.text)
    return result


def _headers(mime: MimeMessage, result: ParsedMail) -> None:
    for name in ("auto-submitted", "x-autoreply", "x-autorespond", "x-auto-reply",
                 "precedence", "x-creditdesk-idempotency-key", "return-path",
                 "x-failed-recipients", "content-language", "list-id", "x-loop"):
        value = mime.get(name)
        if value is not None:
            result.headers[name] = header_text(value)[:300]
    result.subject = header_text(mime.get("subject")).replace("\n", " ").strip()[:300]
    name, address = parseaddr(header_text(mime.get("from")))
    result.sender, result.sender_name = address.strip().lower()[:300], name.strip()[:200]
    found = []
    for header in ("to", "cc", "delivered-to", "x-original-to", "envelope-to"):
        for value in mime.get_all(header) or []:
            found.extend(addr.lower() for _n, addr in getaddresses([header_text(value)]) if addr)
    result.recipients = found[:50]
    result.message_id = _ids(mime.get("message-id"))[:1][0] if _ids(
        mime.get("message-id")) else None
    result.in_reply_to = _ids(mime.get("in-reply-to"))[:20]
    result.references = _ids(mime.get("references"))[-50:]
    try:
        date_value = mime.get("date")
        result.sent_at = parsedate_to_datetime(str(date_value)) if date_value else None
        if result.sent_at is not None and result.sent_at.tzinfo is None:
            result.sent_at = None
    except (TypeError, ValueError, IndexError):
        result.defects.append("bad Date header")
    result.content_type = (mime.get_content_type() or "text/plain").lower()
    result.report_type = (mime.get_param("report-type") or "").lower() if result.content_type \
        == "multipart/report" else ""


def _ids(value) -> list[str]:
    return _MESSAGE_ID.findall(str(value)) if value else []


def _walk(part: MimeMessage, result: ParsedMail, texts: list[str], htmls: list[str],
          depth: int = 0) -> None:
    if depth > 20:
        result.defects.append("MIME nested too deep")
        return
    content_type = (part.get_content_type() or "text/plain").lower()
    if content_type == "message/delivery-status":
        _delivery_status(part, result)
        return
    if content_type in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
        _returned(part, result)
        if content_type == "message/rfc822" and part.is_multipart():
            # A forwarded message: its text counts (the customer's forward of our reminder).
            for inner in part.get_payload():
                _walk(inner, result, texts, htmls, depth + 1)
        return
    if part.is_multipart():
        payload = part.get_payload()
        for inner in payload if isinstance(payload, list) else []:
            _walk(inner, result, texts, htmls, depth + 1)
        return
    filename = part.get_filename()
    disposition = (part.get("content-disposition") or "").split(";")[0].strip().lower()
    if filename or disposition == "attachment" or not content_type.startswith("text/"):
        if len(result.attachments) < MAX_ATTACHMENTS:
            data = part.get_payload(decode=True) or b""
            result.attachments.append(Attachment(header_text(filename) if filename else None,
                                                 content_type, data))
        return
    data = part.get_payload(decode=True) or b""
    text = _decode(data, part.get_content_charset() or "utf-8")
    if content_type == "text/html":
        htmls.append(text)
    else:
        texts.append(text)


def _decode(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def _delivery_status(part: MimeMessage, result: ParsedMail) -> None:
    payload = part.get_payload()
    blocks = payload if isinstance(payload, list) else []
    if not blocks and isinstance(payload, str):
        blocks = [email.message_from_string(chunk) for chunk in re.split(r"\n\s*\n", payload)]
    for block in blocks[1:] if len(blocks) > 1 else blocks:
        recipient = header_text(block.get("final-recipient") or block.get("original-recipient"))
        if not recipient:
            continue
        address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
        result.bounces.append(Bounce(address[:300],
                                     header_text(block.get("action")).strip().lower(),
                                     header_text(block.get("status")).strip(),
                                     header_text(block.get("diagnostic-code"))[:300]))


def _returned(part: MimeMessage, result: ParsedMail) -> None:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if inner is None and isinstance(payload, str):
        inner = email.message_from_string(payload)
    if inner is not None:
        result.returned_ids.extend(_ids(inner.get("message-id")))
        key = inner.get("x-creditdesk-idempotency-key")
        if key:
            result.headers.setdefault("returned-idempotency-key", header_text(key)[:200])


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def _clean_controls(text: str) -> str:
    return _CONTROLS.sub("", text)


class _TextOfHtml(HTMLParser):
    """HTML → text: tags dropped, block ends as line breaks, script/style content dropped."""

    SKIP = {"script", "style", "head", "title", "template", "noscript", "iframe", "object"}
    BREAKS = {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "blockquote", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.quoting = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BREAKS:
            self.parts.append("\n")
        if tag == "blockquote":
            self.quoting += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self.BREAKS:
            self.parts.append("\n")
        if tag == "blockquote" and self.quoting:
            self.quoting -= 1

    def handle_data(self, data):
        if self.skipping:
            return
        if self.quoting:  # quoted HTML becomes "> " lines, as a text client writes them
            data = "\n".join("> " + line for line in data.split("\n"))
        self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextOfHtml()
    try:
        parser.feed(html[:MAX_TEXT * 4])
        parser.close()
    except Exception:  # noqa: BLE001, S110 (broken HTML: keep what was read)
        pass
    text = unescape("".join(parser.parts))
    text = re.sub(r"[ \t\xa0]+", " ", text)
    return re.sub(r"\n\s*\n\s*\n+", "\n\n", text).strip()
