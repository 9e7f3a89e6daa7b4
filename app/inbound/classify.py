"""What a reply is about, from its own words: FR/NL/EN keywords and patterns, no outside service.

already paid / dispute / more time or a plan / change of details / other. Each category has
weighted patterns per language; the best score wins, ties go to the order of CATEGORIES
(an "I paid" beats "can I have more time" when both are said as strongly). The language is
the one whose common words the text uses most (the customer's own language breaks a tie).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

PAID, DISPUTE, MORE_TIME, DETAILS, OTHER = "paid", "dispute", "more_time", "details", "other"
ORDER = (PAID, DISPUTE, MORE_TIME, DETAILS)


def _p(*patterns: str) -> list[re.Pattern]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


# (weight, patterns): 3 = says it outright, 1 = a hint.
PATTERNS: dict[str, list[tuple[int, list[re.Pattern]]]] = {
    PAID: [
        (3, _p(r"\b(already|just|have|has been|was|were)\s+(been\s+)?paid\b",
               r"\bi\s+(have\s+)?paid\b", r"\bwe\s+(have\s+)?paid\b",
               r"\bpayment (was|has been) (made|sent|done)\b", r"\bproof of payment\b",
               r"\b(d[ée]j[àa]|bien)\s+(été\s+)?(pay[ée]e?s?|r[ée]gl[ée]e?s?|vers[ée]e?s?)\b",
               r"\bj'ai\s+(d[ée]j[àa]\s+)?(pay[ée]|r[ée]gl[ée]|vers[ée]|effectu[ée] le paiement)",
               r"\bnous avons\s+(d[ée]j[àa]\s+)?(pay[ée]|r[ée]gl[ée]|vers[ée])",
               r"\bpaiement a (bien )?[ée]t[ée] (effectu[ée]|fait)\b",
               r"\bpreuve de paiement\b", r"\bvirement (a [ée]t[ée] )?effectu[ée]\b",
               r"\b(al|reeds|net)\s+(betaald|overgeschreven|voldaan)\b",
               r"\b(ik|wij|we)\s+(heb|hebben)\s+(het bedrag\s+|de factuur\s+)?"
               r"(al\s+|reeds\s+)?(betaald|overgeschreven|gestort)",
               r"\bis\s+(al\s+|reeds\s+)?(betaald|voldaan)\b", r"\bbetalingsbewijs\b")),
        (1, _p(r"\b(transfer|virement|overschrijving)\b", r"\bbank statement\b",
               r"\bextrait de compte\b", r"\brekeninguittreksel\b")),
    ],
    DISPUTE: [
        (3, _p(r"\b(i|we)\s+(dispute|contest|do not agree|don't agree|disagree)\b",
               r"\b(invoice|amount|charge) (is|was) (wrong|incorrect|not correct)\b",
               r"\bnever (ordered|received)\b", r"\bnot (ordered|delivered|received)\b",
               r"\b(je|nous)\s+(conteste|contestons|ne suis pas d'accord|ne sommes pas d'accord)",
               r"\bfacture (est )?(erron[ée]e|incorrecte|fausse)\b", r"\bcontestation\b",
               r"\bjamais (re[çc]u|command[ée])\b", r"\bpas (re[çc]u|command[ée]|livr[ée])\b",
               r"\b(ik|wij|we)\s+(betwist(en)?|ga(an)? niet akkoord|ben(nen)? het niet eens)",
               r"\bfactuur (is|klopt) (niet correct|niet|fout)\b", r"\bklopt niet\b",
               r"\bnooit (ontvangen|besteld|geleverd)\b", r"\bniet (ontvangen|geleverd|besteld)\b")),
        (1, _p(r"\b(error|mistake|wrong|dispute|erreur|litige|fout|vergissing|betwisting)\b",
               r"\b(damaged|defect|d[ée]fectueux|kapot|beschadigd)\b")),
    ],
    MORE_TIME: [
        (3, _p(r"\b(payment plan|instal+ments?|more time|extra time|extension|pay in parts)\b",
               r"\b(can|could) (i|we) pay (later|next)\b",
               r"\b(plan de paiement|[ée]chelonnement|paiement [ée]chelonn[ée]|plus de temps|"
               r"d[ée]lai( de paiement)?|payer en plusieurs fois|mensualit[ée]s)\b",
               r"\b(afbetalingsplan|betalingsplan|afbetaling|in schijven|uitstel|meer tijd|"
               r"later betalen|gespreid betalen)\b")),
        (1, _p(r"\b(difficult|difficult[ée]s?|moeilijk|moeilijkheden|unemployed|ch[ôo]mage|"
               r"werkloos|salary|salaire|loon)\b", r"\bnext month\b", r"\bmois prochain\b",
               r"\bvolgende maand\b")),
    ],
    DETAILS: [
        (3, _p(r"\b(new|changed|change of|update (my|our)) (address|e-?mail|bank account|iban)\b",
               r"\b(we|i) (have )?moved\b",
               r"\b(nouvelle|changement d'|modifier (mon|ma|notre)) ?(adresse|e-?mail|"
               r"compte bancaire|iban)\b", r"\b(j'ai|nous avons) d[ée]m[ée]nag[ée]s?\b",
               r"\b(nieuw|nieuwe|gewijzigd|wijziging van( mijn| ons)?) ?(adres|e-?mail|"
               r"rekeningnummer|bankrekening|iban)\b", r"\b(ik ben|wij zijn|we zijn) verhuisd\b")),
        (1, _p(r"\b(address|adresse|adres|iban|vat number|tva|btw)\b")),
    ],
}

STOPWORDS = {
    "fr": {"le", "la", "les", "de", "des", "du", "et", "est", "une", "un", "je", "nous", "vous", "pour", "pas", "que", "qui", "avec", "votre", "mon", "ma", "facture", "merci", "bonjour", "cordialement", "déjà", "été"},
    "nl": {"de", "het", "een", "en", "is", "ik", "wij", "we", "u", "uw", "niet", "voor", "met", "van", "op", "dat", "die", "factuur", "bedankt", "groeten", "al", "heb", "hebben"},
    "en": {"the", "a", "an", "and", "is", "i", "we", "you", "your", "not", "for", "with", "of", "on", "that", "this", "invoice", "thanks", "regards", "already", "have", "has"},
}
_WORD = re.compile(r"[a-zà-ÿ']+", re.IGNORECASE)


@dataclass
class Classification:
    category: str
    language: str | None
    scores: dict[str, int] = field(default_factory=dict)
    matched: list[str] = field(default_factory=list)


def language_of(text: str, fallback: str | None = None) -> str | None:
    counts = {lang: 0 for lang in STOPWORDS}
    for word in _WORD.findall(text[:5000].lower()):
        for lang, words in STOPWORDS.items():
            if word in words:
                counts[lang] += 1
    best = max(counts.values())
    if best == 0:
        return fallback
    leaders = [lang for lang, n in counts.items() if n == best]
    return fallback if fallback in leaders else leaders[0]


def classify(text: str, subject: str = "", customer_language: str | None = None
             ) -> Classification:
    """The category of a reply's own words (its subject counts as a hint)."""
    body = (text or "")[:20000]
    scores: dict[str, int] = {}
    matched: list[str] = []
    for category in ORDER:
        score = 0
        for weight, patterns in PATTERNS[category]:
            for pattern in patterns:
                found = pattern.search(body)
                if found:
                    score += weight
                    matched.append(found.group(0).strip()[:60])
        scores[category] = score
    best = max(scores.values())
    category = OTHER if best < 2 else next(c for c in ORDER if scores[c] == best)
    return Classification(category, language_of(f"{subject}\n{body}", customer_language),
                          scores, matched[:10])
