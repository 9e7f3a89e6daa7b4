"""The payment rules staff can change (Settings → Business rules)."""
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from app.core.settings import register_setting

register_setting("payments.auto_match_confidence", Decimal("0.90"), "decimal",
                 _l("Statement lines matched with at least this confidence (0 to 1) are booked "
                    "automatically; the others wait for a person"), "payments", maximum=1)
register_setting("payments.suggest_min_confidence", Decimal("0.40"), "decimal",
                 _l("Below this confidence (0 to 1) a statement line is shown as unmatched "
                    "rather than with a suggestion"), "payments", maximum=1)
register_setting("payments.statement_max_mb", 100, "int",
                 _l("Largest bank statement file accepted (MB)"), "payments")
register_setting("payments.inline_messages_max", 500, "int",
                 _l("A statement with more payments than this queues its thank-you messages in "
                    "a background job right after the import, instead of during it"), "payments")
register_setting("payments.company_accounts", "", "text",
                 _l("The company's bank accounts whose statements are imported (IBANs, one a "
                    "line), besides the IBAN for payments. Lines of any other account are "
                    "flagged and wait for a person"), "payments")
register_setting("payments.zip_max_files", 50, "int",
                 _l("Most statement files accepted in one ZIP archive"), "payments", minimum=1)
