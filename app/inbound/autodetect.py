"""Is it a person? Automatic replies, bounces and our own messages coming back are recognised
before anything acts on a message: they never pause reminders and never get an answer."""
from __future__ import annotations

import re
from collections.abc import Iterable

from app.inbound.parsing import ParsedMail

HUMAN, AUTO_REPLY, BOUNCE, LOOP = "human", "auto_reply", "bounce", "loop"

_BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@",
                             re.IGNORECASE)
_BOUNCE_SUBJECTS = re.compile(
    r"(undeliver|delivery status notification|delivery (has )?failed|mail delivery failed|"
    r"returned mail|failure notice|non remis|non distribu|[ée]chec de (la )?remise|"
    r"impossible de remettre|onbestelbaar|niet afgeleverd|kan niet worden bezorgd|"
    r"bezorging mislukt)", re.IGNORECASE)
_AUTO_SUBJECTS = re.compile(
    r"^\s*(auto(matic|matische)?[ -]?(reply|response|antwoord)|autoreply|auto:|"
    r"out of (the )?office|ooo\b|r[ée]ponse automatique|absence|absent(e)? du bureau|"
    r"message d'absence|automatisch antwoord|afwezig(heid)?|niet aanwezig|"
    r"buiten kantoor|vacation|vakantie|cong[ée]s?)", re.IGNORECASE)
# An out-of-office text, when the headers say nothing: it opens the message and gives a return.
_AUTO_BODY = re.compile(
    r"^\W{0,5}(hello|hi|bonjour|goedendag|goeiedag|beste|dag)?[^\n]{0,40}?"
    r"(i am|i'm|je suis|ik ben)\s+(currently\s+|actuellement\s+|momenteel\s+)?"
    r"(out of (the )?office|away|absent(e)?|en cong[ée]|afwezig|met vakantie|"
    r"on (holiday|vacation|leave))", re.IGNORECASE)
_RETURN_WORDS = re.compile(r"(until|back on|return|jusqu'(au|à)|de retour|retour le|"
                           r"tot en met|tot |terug op|weer aanwezig|terug vanaf)", re.IGNORECASE)


def kind_of(mail: ParsedMail, own_addresses: Iterable[str]) -> tuple[str, list[str]]:
    """(kind, notes): the kind of message and the signs that decided it."""
    own = {a.lower() for a in own_addresses if a}
    headers = mail.headers
    if "x-creditdesk-idempotency-key" in headers:
        return LOOP, ["our_header"]
    if mail.sender and (mail.sender in own or _base(mail.sender) in own):
        return LOOP, ["our_address"]
    if mail.message_id and ".creditdesk@" in mail.message_id:
        return LOOP, ["our_message_id"]
    if (mail.report_type == "delivery-status" or mail.bounces
            or "x-failed-recipients" in headers
            or _BOUNCE_SENDERS.match(mail.sender or "")
            or (headers.get("return-path", "").strip() in ("<>", "")
                and "return-path" in headers and _BOUNCE_SUBJECTS.search(mail.subject))
            or (_BOUNCE_SUBJECTS.search(mail.subject) and mail.returned_ids)):
        return BOUNCE, ["bounce"]
    notes = []
    auto_submitted = headers.get("auto-submitted", "").strip().lower()
    if auto_submitted and auto_submitted != "no":
        notes.append("auto_submitted")
    for name in ("x-autoreply", "x-autorespond", "x-auto-reply"):
        if name in headers:
            notes.append(name)
    if headers.get("precedence", "").strip().lower() in ("auto_reply", "bulk", "junk", "list"):
        notes.append("precedence")
    if _AUTO_SUBJECTS.search(mail.subject or ""):
        notes.append("auto_subject")
    opening = (mail.new_text or mail.text or "")[:400]
    if _AUTO_BODY.search(opening) and _RETURN_WORDS.search(opening):
        notes.append("out_of_office_text")
    if notes:
        return AUTO_REPLY, notes
    return HUMAN, []


def _base(address: str) -> str:
    """``billing+r42-x@example.com`` → ``billing@example.com``."""
    local, _at, domain = address.partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"
