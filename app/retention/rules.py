"""Retention rules: what each data category is, and the shipped defaults per country.

A rule is a row the Compliance officer edits (RetentionRule): how many months a category of
personal data is kept, from which date the months count (end of the relationship, the
document's own date, or its closure), and what happens then (delete, or anonymise where totals
must survive). The legal basis is stored in English, French and Dutch: it is shown on screen
and told to customers whose erasure request cannot reach everything.

Presets follow the law of the country the company books in (DOMAIN-RULES.md "Retention"):
Belgium (the default), France, the Netherlands. ``install_defaults()`` adds the missing rules of
the chosen preset and never changes a rule that exists; ``apply_preset()`` is the officer's
explicit "use the French periods" button and overwrites periods and legal bases.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.core.settings import get_setting, register_setting
from app.core.validation import ValidationError
from app.extensions import db
from app.retention.models import COUNTS_FROM, RETENTION_ACTIONS, RetentionRule

register_setting("retention.preset", "BE", "choice",
                 _l("Retention rules follow the law of (BE, FR or NL)"), "retention",
                 choices=(("BE", _l("Belgium")), ("FR", _l("France")),
                          ("NL", _l("The Netherlands"))),
                 help=_l("The country whose retention periods the rules start from."))
register_setting("retention.batch_size", 500, "int",
                 _l("Purge: customers per transaction"), "retention")
register_setting("retention.auto_purge", False, "bool",
                 _l("The daily purge runs without approval (otherwise it prepares a dry run "
                    "for the Compliance officer to approve)"), "retention")


@dataclass(frozen=True)
class CategoryInfo:
    label: object  # lazy string
    bases: tuple[str, ...]  # the counts_from values that make sense for it
    # The action the shipped rules use. "Delete" removes rows that may go and anonymises rows
    # the books need (an invoice is never deleted); "anonymise" keeps every row.
    actions: tuple[str, ...]


CATEGORIES: dict[str, CategoryInfo] = {
    "portal_access": CategoryInfo(_l("Portal access records (sessions, IP addresses)"),
                                  ("document_date", "closure", "relationship_end"), ("delete",)),
    "magic_links": CategoryInfo(_l("Sign-in links and tokens"),
                                ("closure", "document_date", "relationship_end"), ("delete",)),
    "contacts": CategoryInfo(_l("Contact persons"), ("relationship_end",), ("delete",)),
    "contact_details": CategoryInfo(_l("Phone numbers and e-mail addresses"),
                                    ("relationship_end",), ("anonymise",)),
    "addresses": CategoryInfo(_l("Addresses"), ("relationship_end",), ("anonymise", "delete")),
    # "Closure": an account's retirement, a refund's payment, a SEPA file's date; an account
    # or refund still in use when the relationship ended counts from the end of the
    # relationship (app/retention/categories.py OrRelationshipEnd). Deleted where a row may
    # go (the account); cleared where the books need the row (refund, batch totals).
    "bank_accounts": CategoryInfo(_l("Bank accounts no longer in use (also on refunds and in "
                                     "SEPA files)"),
                                  ("closure", "relationship_end"), ("delete",)),
    "request_texts": CategoryInfo(_l("Free texts and attachments (requests, disputes, refunds, "
                                     "write-offs, online payments)"),
                                  ("closure", "document_date", "relationship_end"),
                                  ("anonymise",)),
    "messages": CategoryInfo(_l("Messages sent (outbox)"),
                             ("document_date", "relationship_end"), ("delete",)),
    "dunning_actions": CategoryInfo(_l("Reminders sent (dunning actions)"),
                                    ("document_date", "relationship_end"),
                                    ("delete", "anonymise")),
    "audit_events": CategoryInfo(_l("Audit trail events"),
                                 ("document_date", "relationship_end"), ("delete",)),
    "invoices": CategoryInfo(_l("Invoices and payments (names, payer details)"),
                             ("document_date", "relationship_end"), ("anonymise",)),
}

# --- legal texts ------------------------------------------------------------------------------
# (en, fr, nl). Figures and articles: DOMAIN-RULES.md "Retention"; they are rows staff can edit.
GDPR_LIMITATION = (
    "GDPR art. 5(1)(e) (storage limitation): kept no longer than needed for the purpose.",
    ("RGPD art. 5, §1, e) (limitation de la conservation) : conservé pas plus longtemps que "
    "nécessaire."),
    "AVG art. 5, lid 1, e) (opslagbeperking): niet langer bewaard dan nodig.",
)
GDPR_CLAIMS = (
    "GDPR art. 5(1)(e); kept while needed for legal claims (GDPR art. 17(3)(e)).",
    ("RGPD art. 5, §1, e) ; conservé tant que nécessaire à la défense de droits en justice "
    "(RGPD art. 17, §3, e))."),
    ("AVG art. 5, lid 1, e); bewaard zolang nodig voor rechtsvorderingen (AVG art. 17, lid 3, "
    "e))."),
)
GDPR_ACCOUNTABILITY = (
    "GDPR art. 5(2) (accountability) and art. 5(1)(e).",
    "RGPD art. 5, §2 (responsabilité) et art. 5, §1, e).",
    "AVG art. 5, lid 2 (verantwoordingsplicht) en art. 5, lid 1, e).",
)
SEPA_REFUND = (
    "GDPR art. 5(1)(e); 13 months: the SEPA refund period for unauthorised debits.",
    "RGPD art. 5, §1, e) ; 13 mois : délai de remboursement SEPA d'un prélèvement non autorisé.",
    ("AVG art. 5, lid 1, e); 13 maanden: de SEPA-terugbetalingstermijn voor niet-toegestane "
    "incasso's."),
)
BOOKS = {
    "BE": (("Belgian VAT Code art. 60 (invoices: 10 years from the invoice date, since "
           "1 January 2023); accounting books: Code of Economic Law art. III.88. Erasure does "
           "not reach them: GDPR art. 17(3)(b)."),
           ("Code de la TVA, art. 60 (factures : 10 ans à compter de la date de la facture, "
           "depuis le 1er janvier 2023) ; livres comptables : Code de droit économique, "
           "art. III.88. L'effacement ne s'y applique pas : RGPD art. 17, §3, b)."),
           ("Btw-Wetboek, art. 60 (facturen: 10 jaar vanaf de factuurdatum, sinds 1 januari "
           "2023); boekhouding: Wetboek van economisch recht, art. III.88. Het recht op "
           "gegevenswissing geldt er niet voor: AVG art. 17, lid 3, b).")),
    "FR": (("French Commercial Code art. L123-22 (accounting documents: 10 years); tax: 6 years "
           "(Livre des procédures fiscales art. L102 B). Erasure does not reach them: GDPR "
           "art. 17(3)(b)."),
           ("Code de commerce, art. L123-22 (documents comptables : 10 ans) ; fiscal : 6 ans "
           "(Livre des procédures fiscales, art. L102 B). L'effacement ne s'y applique pas : "
           "RGPD art. 17, §3, b)."),
           ("Frans Wetboek van Koophandel, art. L123-22 (boekhoudstukken: 10 jaar); fiscaal: "
           "6 jaar. Het recht op gegevenswissing geldt er niet voor: AVG art. 17, lid 3, b).")),
    "NL": (("Dutch Civil Code art. 2:10 and General Tax Act (AWR) art. 52: 7 years. Erasure "
           "does not reach them: GDPR art. 17(3)(b)."),
           ("Code civil néerlandais, art. 2:10, et loi générale sur les impôts (AWR), art. 52 : "
           "7 ans. L'effacement ne s'y applique pas : RGPD art. 17, §3, b)."),
           ("Burgerlijk Wetboek art. 2:10 en Algemene wet inzake rijksbelastingen art. 52: "
           "7 jaar. Het recht op gegevenswissing geldt er niet voor: AVG art. 17, lid 3, b).")),
}
BOOK_MONTHS = {"BE": 120, "FR": 120, "NL": 84}
PRESETS = {"BE": _l("Belgium"), "FR": _l("France"), "NL": _l("Netherlands")}


def preset_rules(country: str) -> list[dict]:
    """The shipped rules of one country: category, period, basis of the count, action, law."""
    if country not in PRESETS:
        raise ValidationError({"preset": [_("Unknown preset: choose BE, FR or NL.")]})
    books = BOOKS[country]
    months = BOOK_MONTHS[country]
    rows = [
        ("portal_access", 12, "document_date", "delete", GDPR_LIMITATION),
        ("magic_links", 1, "closure", "delete", GDPR_LIMITATION),
        ("contacts", 12, "relationship_end", "delete", GDPR_LIMITATION),
        ("contact_details", 12, "relationship_end", "anonymise", GDPR_LIMITATION),
        # The address printed on the invoices is part of them: kept as long as they are.
        ("addresses", months, "relationship_end", "anonymise", books),
        # 13 months after the account was retired — or after the relationship ended, for an
        # account still active then — and after a SEPA file's collection/execution date.
        ("bank_accounts", 13, "closure", "delete", SEPA_REFUND),
        ("request_texts", 24, "closure", "anonymise", GDPR_CLAIMS),
        ("messages", 24, "document_date", "delete", GDPR_LIMITATION),
        ("dunning_actions", 60, "document_date", "delete", GDPR_CLAIMS),
        ("audit_events", 60, "document_date", "delete", GDPR_ACCOUNTABILITY),
        ("invoices", months, "document_date", "anonymise", books),
    ]
    return [{"category": category, "period_months": period, "counts_from": basis,
             "action": action, "legal_basis": law[0], "legal_basis_fr": law[1],
             "legal_basis_nl": law[2], "active": True}
            for category, period, basis, action, law in rows]


def install_defaults() -> int:
    """Add the missing rules of the configured preset (existing rules are never changed)."""
    country = str(get_setting("retention.preset") or "BE").upper()
    if country not in PRESETS:
        country = "BE"
    existing = set(db.session.scalars(select(RetentionRule.category)))
    added = 0
    for row in preset_rules(country):
        if row["category"] not in existing:
            db.session.add(RetentionRule(**row))
            added += 1
    db.session.commit()
    return added


def apply_preset(country: str) -> int:
    """Set every rule to the preset's period, basis, action and legal texts (the caller
    commits); rules of categories not in the preset are left alone. Returns rules changed."""
    rows = {row["category"]: row for row in preset_rules(country)}
    rules = {rule.category: rule for rule in db.session.scalars(select(RetentionRule))}
    changed = 0
    for category, row in rows.items():
        rule = rules.get(category)
        if rule is None:
            db.session.add(RetentionRule(**row))
        else:
            for key, value in row.items():
                setattr(rule, key, value)
        changed += 1
    from app.core.settings import set_setting

    set_setting("retention.preset", country)
    return changed


def check_rule(category: str, period_months: int | None, counts_from: str, action: str) -> None:
    """Refuse (ValidationError) a rule the purge could not apply."""
    errors: dict[str, list[str]] = {}
    info = CATEGORIES.get(category)
    if info is None:
        errors["category"] = [_("Unknown data category.")]
    else:
        if counts_from not in info.bases:
            errors["counts_from"] = [_("For this category the period can count from: "
                                       "%(choices)s.", choices=", ".join(
                                           str(COUNTS_FROM[b]) for b in info.bases))]
        if action not in RETENTION_ACTIONS:
            errors["action"] = [_("Choose delete or anonymise.")]
    if period_months is None or period_months < 0 or period_months > 1200:
        errors["period_months"] = [_("Enter a number of months between 0 and 1200.")]
    if errors:
        raise ValidationError(errors)


def active_rules() -> dict[str, RetentionRule]:
    return {rule.category: rule for rule in db.session.scalars(
        select(RetentionRule).where(RetentionRule.active.is_(True))) if rule.category in CATEGORIES}
