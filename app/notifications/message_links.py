"""Links made for one message: the registry of link makers.

Some messages carry a link made for that message alone, e.g. the pay link of a reminder (a
token bound to the message's invoices, app.paylinks). The packages that make such links sit
above notifications (docs/architecture.md), so notifications never imports them: each registers
a *link maker* here when the app starts (app.backoffice imports them), and a caller of
``queue_message`` asks for a link by its kind::

    queue_message(customer, ..., links={"pay_url": LinkRequest(
        PAY_LINK, {"invoice_ids": [12, 13], "purpose": "pay"}, fallback=portal_pay_page)})

For every message ``queue_message`` writes (one per channel; none for a message that was queued
already under the same key, so a re-run makes no unused link) it calls the maker of each
requested kind as ``maker(customer, message, **params)``:

- ``message`` is the new ``Message``, not written yet (no id; its wording is rendered after the
  links are made). The maker keeps the object, not its id (e.g. a relationship to it), so that
  its own row records the message's id when both are written at the flush. A maker must not
  flush the session, nor read the message's wording;
- it returns a ``MadeLink`` (the address, and until when it works) or None when it cannot make
  one (no public address, nothing to link to): the template then gets ``fallback``.

A made link is a secret: the stored copy of the message (every staff screen, export, the
timeline) shows it with its token hidden (``outbox.hidden_link``); the real wording is sealed
for the delivery job until the earliest ``valid_until`` of its links.

A kind nobody registered (an install without the package) gets the fallback, with a warning in
the log.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

# The kinds messages ask for, and who registers their maker.
PAY_LINK = "pay_link"  # app.paylinks.messages: pay a message's invoices without signing in


@dataclass(frozen=True)
class LinkRequest:
    """A link a message asks for: the maker's ``kind``, its keyword ``params``, and the value
    the template gets when no link is made."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    fallback: str = ""


@dataclass(frozen=True)
class MadeLink:
    url: str
    valid_until: datetime | None = None


LinkMaker = Callable[..., "MadeLink | None"]

_MAKERS: dict[str, LinkMaker] = {}


def register_link_maker(kind: str, maker: LinkMaker) -> None:
    """Make ``maker`` the one that makes links of ``kind`` (registering again replaces it)."""
    _MAKERS[kind] = maker


def link_maker(kind: str) -> LinkMaker | None:
    return _MAKERS.get(kind)


def make_links(customer: Any, message: Any,
               requests: Mapping[str, LinkRequest]) -> dict[str, MadeLink | None]:
    """The link of each requested context key for this one message (None: use the fallback)."""
    made: dict[str, MadeLink | None] = {}
    for key, wanted in requests.items():
        maker = _MAKERS.get(wanted.kind)
        if maker is None:
            log.warning("no link maker registered for %r: %s gets its fallback", wanted.kind,
                        key)
            made[key] = None
            continue
        made[key] = maker(customer, message, **dict(wanted.params))
    return made
