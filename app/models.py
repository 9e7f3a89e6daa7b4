"""Every model, imported once so that the metadata (and Alembic) sees the whole schema."""
from app.core.models import NumberSequence, PluginConfig, Setting  # noqa: F401
from app.customers.models import (Address, BankAccount, Contact, Contract,  # noqa: F401
                                  Customer, Mandate)
from app.dunning.models import (DunningAction, DunningLevel, DunningPolicy,  # noqa: F401
                                DunningRun, ReferenceRate)
from app.invoices.models import CreditNote, Invoice, InvoiceLine  # noqa: F401
from app.notifications.models import Message, MessageTemplate, PrintBatch  # noqa: F401
from app.payments.models import (Allocation, BankStatement, Payment,  # noqa: F401
                                 StatementLine)
from app.payments.money_out_models import (CollectionBatch,  # noqa: F401
                                           CollectionItem, CreditTransferBatch,
                                           Refund, WriteOff)
from app.portal.models import PortalAccess  # noqa: F401
from app.customers.selfservice_models import EmailChange, SmsCode  # noqa: F401
from app.payments.online_models import OnlineCheckout  # noqa: F401
from app.requests.models import (Attachment, CustomerRequest, Deferral,  # noqa: F401
                                 Dispute, Installment, PaymentPlan)
from app.retention.models import (AuditEvent, LegalHold, RetentionRule,  # noqa: F401
                                  RetentionRun, RetentionTombstone)
from app.retention import audit  # noqa: F401,E402  (the audit trail's session events)
