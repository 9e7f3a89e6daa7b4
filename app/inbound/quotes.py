"""The customer's own words: what is above the quoted or forwarded message (FR/NL/EN clients)."""
from __future__ import annotations

import re

# A line that starts what the customer did not write: a quote header, a forward, a separator.
_CUTS = [re.compile(p, re.IGNORECASE) for p in (
    (r"^-{2,}\s*(original message|message d'origine|oorspronkelijk bericht|origineel bericht|"
     r"forwarded message|message transf[ée]r[ée]|doorgestuurd bericht|"
     r"bericht doorgestuurd)\s*-{2,}"),
    (r"^(begin forwarded message|d[ée]but du message r[ée]exp[ée]di[ée]|"
     r"begin doorgestuurd bericht)\s*:?"),
    r"^(on|le|op|am)\s.{4,200}\b(wrote|a [ée]crit|schreef|geschreven)\b.{0,120}:?\s*$",
    r"^_{8,}\s*$",
)]
# Outlook's quote header: "From: ..." followed within three lines by "Sent:" / "Envoyé :" ...
_FROM = re.compile(r"^\*?(from|de|van|von)\s?\*?\s?:\s", re.IGNORECASE)
_SENT = re.compile(r"^\*?(sent|envoy[ée]|verzonden|date|datum|gesendet|to|[àa]|aan)\s?\*?\s?:",
                   re.IGNORECASE)
# A wrapped "On ..., X <x@y> wrote:" header split over two lines.
_WROTE_END = re.compile(r"(wrote|a [ée]crit|schreef|geschreven)\s*:\s*$", re.IGNORECASE)
_WROTE_START = re.compile(r"^(on|le|op|am)\s", re.IGNORECASE)


def own_words(text: str) -> str:
    """Lines above the first quote header or forward marker, without "> " lines and the
    signature; when nothing is left (a reply written below the quote), the unquoted lines."""
    lines = text.split("\n")
    cut = len(lines)
    for index, line in enumerate(lines):
        stripped = line.strip()
        if any(p.search(stripped) for p in _CUTS):
            cut = index
            break
        if _FROM.match(stripped) and any(_SENT.match(following.strip())
                                         for following in lines[index + 1:index + 4]):
            cut = index
            break
        if (_WROTE_START.match(stripped) and index + 1 < len(lines)
                and _WROTE_END.search(lines[index + 1].strip()) and len(stripped) < 200):
            cut = index
            break
    mine = [line for line in lines[:cut] if not line.lstrip().startswith(">")]
    result = _without_signature(mine)
    if not result.strip():
        result = _without_signature([line for line in lines
                                     if not line.lstrip().startswith(">")
                                     and not any(p.search(line.strip()) for p in _CUTS)])
    return result.strip()


def _without_signature(lines: list[str]) -> str:
    for index, line in enumerate(lines):
        if line.rstrip() == "--" or line == "-- ":
            lines = lines[:index]
            break
    return "\n".join(lines)
