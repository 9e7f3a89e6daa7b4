"""One IMAP mailbox: which messages are new, their bytes, and putting them aside once stored.

Messages are fetched with BODY.PEEK (reading does not mark them seen), so a message is only
touched after CreditDesk has stored it: moved to the processed folder (UID MOVE, or COPY +
\\Deleted + EXPUNGE on servers without MOVE) or flagged \\Seen + $CreditDesk.
"""
from __future__ import annotations

import imaplib
import re
import ssl
from collections.abc import Iterator

READ_FLAG = "$CreditDesk"
_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_VALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


class MailboxError(Exception):
    """The mailbox cannot be read now (down, refused log-in, folder missing): try later."""


class ImapMailbox:
    def __init__(self, settings: dict) -> None:
        self.host = (settings.get("host") or "").strip()
        self.security = (settings.get("security") or "ssl").lower()
        self.port = int(settings.get("port") or (993 if self.security == "ssl" else 143))
        self.username = settings.get("username") or ""
        self.password = settings.get("password") or ""
        self.folder = settings.get("folder") or "INBOX"
        self.after_read = (settings.get("after_read") or "move").lower()
        self.processed_folder = settings.get("processed_folder") or "CreditDesk-Processed"
        self.ca_file = settings.get("ca_file") or None
        self.timeout = float(settings.get("timeout") or 30)
        self._imap: imaplib.IMAP4 | None = None

    @property
    def name(self) -> str:
        return f"{self.username}@{self.host}/{self.folder}"[:100]

    def is_configured(self) -> bool:
        return bool(self.host and self.username)

    # -- connection ------------------------------------------------------------------------
    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def open(self) -> int:
        """Log in and select the folder; returns its UIDVALIDITY."""
        try:
            if self.security == "ssl":
                imap = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=self._context(),
                                         timeout=self.timeout)
            else:
                imap = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
                self._imap = imap
                if self.security == "starttls":
                    # Never fall back to plain text: no STARTTLS offered, no password sent.
                    if "STARTTLS" not in imap.capabilities:
                        raise MailboxError(f"{self.host}:{self.port}: the server does not offer "
                                           "STARTTLS; the password was not sent")
                    imap.starttls(ssl_context=self._context())
            self._imap = imap
            imap.login(self.username, self.password)
            status, data = imap.select(_quote(self.folder))
            if status != "OK":
                raise MailboxError(f"folder {self.folder} cannot be opened")
            _code, validity = imap.response("UIDVALIDITY")
            value = validity[0] if validity and validity[0] else None
            if value is None:
                status, data = imap.status(_quote(self.folder), "(UIDVALIDITY)")
                found = _VALIDITY.search(data[0] or b"")
                value = found.group(1) if found else b"0"
            return int(value)
        except MailboxError:
            self.close()
            raise
        except ssl.SSLCertVerificationError as exc:
            self.close()
            raise MailboxError(f"{self.host}:{self.port}: the server's certificate is not "
                               f"trusted ({exc.verify_message}); nothing was sent. Check the "
                               "server name, or the CA certificate file setting") from exc
        except (imaplib.IMAP4.error, OSError, ssl.SSLError) as exc:
            self.close()
            raise MailboxError(f"{self.host}:{self.port}: {exc}") from exc

    def close(self) -> None:
        if self._imap is not None:
            try:
                self._imap.logout()
            except Exception:  # noqa: BLE001, S110 (a dead connection is closed anyway)
                pass
            self._imap = None

    def _run(self, command: str, *args):
        try:
            status, data = getattr(self._imap, command)(*args)
        except (imaplib.IMAP4.error, OSError, ssl.SSLError) as exc:
            raise MailboxError(f"IMAP {command}: {exc}") from exc
        if status != "OK":
            raise MailboxError(f"IMAP {command} {args[:1]}: {status} {data!r}"[:300])
        return data

    # -- reading ---------------------------------------------------------------------------
    def waiting_uids(self) -> list[int]:
        """UIDs of the folder's messages not put aside yet, oldest first."""
        criteria = "ALL" if self.after_read == "move" else f"UNKEYWORD {READ_FLAG}"
        data = self._run("uid", "SEARCH", criteria)
        return sorted(int(x) for x in (data[0] or b"").split())

    def sizes(self, uids: list[int]) -> dict[int, int]:
        if not uids:
            return {}
        found = {}
        for item in self._run("uid", "FETCH", _set(uids), "(RFC822.SIZE)"):
            line = item[0] if isinstance(item, tuple) else item
            uid, size = _UID.search(line or b""), _SIZE.search(line or b"")
            if uid and size:
                found[int(uid.group(1))] = int(size.group(1))
        return found

    def fetch(self, uids: list[int], partial: int | None = None) -> Iterator[tuple[int, bytes]]:
        """(uid, bytes) of each message; ``partial``: only its first bytes (huge messages)."""
        if not uids:
            return
        part = f"BODY.PEEK[]<0.{partial}>" if partial else "BODY.PEEK[]"
        for item in self._run("uid", "FETCH", _set(uids), f"(UID {part})"):
            if not isinstance(item, tuple):
                continue
            found = _UID.search(item[0])
            if found:
                yield int(found.group(1)), item[1]

    def put_aside(self, uids: list[int]) -> None:
        """Move (or flag) messages CreditDesk has stored."""
        if not uids:
            return
        if self.after_read != "move":
            self._run("uid", "STORE", _set(uids), "+FLAGS", f"(\\Seen {READ_FLAG})")
            return
        self._ensure_folder(self.processed_folder)
        capabilities = getattr(self._imap, "capabilities", ())
        if "MOVE" in capabilities:
            self._run("uid", "MOVE", _set(uids), _quote(self.processed_folder))
            return
        self._run("uid", "COPY", _set(uids), _quote(self.processed_folder))
        self._run("uid", "STORE", _set(uids), "+FLAGS", "(\\Deleted)")
        if "UIDPLUS" in capabilities:
            self._run("uid", "EXPUNGE", _set(uids))
        else:
            self._run("expunge")

    def _ensure_folder(self, folder: str) -> None:
        if getattr(self, "_folder_ok", False):
            return
        self._imap.create(_quote(folder))  # "already exists" is fine
        self._folder_ok = True


def _set(uids: list[int]) -> str:
    """A compact UID set: 1:5,8,10:12."""
    ranges, start, previous = [], None, None
    for uid in sorted(set(uids)):
        if start is None:
            start = previous = uid
        elif uid == previous + 1:
            previous = uid
        else:
            ranges.append(f"{start}:{previous}" if previous != start else str(start))
            start = previous = uid
    if start is not None:
        ranges.append(f"{start}:{previous}" if previous != start else str(start))
    return ",".join(ranges)


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
