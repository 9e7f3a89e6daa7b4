"""The e-invoicing settings (Settings → Business rules → Company and bank details)."""
from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l

from app.core.settings import register_setting

register_setting("einvoicing.seller_endpoint", "", "str", _l("Peppol endpoint of your company"),
                 "einvoicing", group="company",
                 help=_l("Scheme and identifier, e.g. 0208:0123456749. Empty: scheme 0208 with "
                         "the enterprise number above (Belgium)."))
register_setting("einvoicing.default_vat_rate", Decimal(21), "percent",
                 _l("VAT rate of credit notes without invoice lines"), "einvoicing",
                 group="company",
                 help=_l("A credit note that names no invoice with lines is taken to include "
                         "VAT at this rate in its e-invoice."))
register_setting("einvoicing.paid_hold_days", 10, "days",
                 _l("Days without reminders after a buyer says \"paid\""), "einvoicing",
                 group="company",
                 help=_l("When the buyer's system answers an invoice with \"paid\" (Peppol "
                         "invoice response PD), no reminder is sent for it during these days "
                         "while the bank line arrives."),
                 maximum=90)
register_setting("einvoicing.delivery_channel", "peppol", "choice",
                 _l("How e-invoices leave"), "einvoicing", group="company",
                 choices=(("peppol", _l("Through the Peppol access point plugin")),
                          ("export", _l("Into the export folder, for our own ERP to send"))),
                 help=_l("Customers whose preferred channel is Peppol always get theirs through "
                         "the access point."))
