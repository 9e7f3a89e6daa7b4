"""Every model, imported once so that the metadata (and Alembic) sees the whole schema."""
from app.core import audit  # noqa: F401  (the audit trail's session events)
from app.core.audit_models import AuditEvent  # noqa: F401
from app.core.job_runs import JobLock, ScheduledJobRun  # noqa: F401
from app.core.models import NumberSequence, PluginConfig, Setting  # noqa: F401
from app.core.portal_access import PortalAccess  # noqa: F401
from app.core.snapshots import FigureSnapshot  # noqa: F401
from app.customers.models import Address, BankAccount, Contact, Contract, Customer, Mandate  # noqa: F401
from app.customers.selfservice_models import EmailChange, SmsCode  # noqa: F401
from app.dunning.holds import ReminderHold  # noqa: F401
from app.dunning.models import DunningAction, DunningLevel, DunningPolicy, DunningRun, ReferenceRate  # noqa: F401
from app.einvoicing.models import CustomerPeppol, EDocument  # noqa: F401
from app.inbound.models import FailingAddress, InboundAttachment, InboundMessage, MailboxState  # noqa: F401
from app.invoices.models import CreditNote, Invoice, InvoiceLine  # noqa: F401
from app.notifications.models import Message, MessageTemplate, PrintBatch  # noqa: F401
from app.paylinks.models import PayLink, PayLinkEvent, SmsSignInCode  # noqa: F401
from app.payments.incoming.models import BankStatement, StatementLine  # noqa: F401
from app.payments.models import Allocation, Payment  # noqa: F401
from app.payments.online.models import OnlineCheckout  # noqa: F401
from app.payments.outgoing.models import (  # noqa: F401
    CollectionBatch,
    CollectionItem,
    CreditTransferBatch,
    Refund,
    WriteOff,
)
from app.requests.models import (  # noqa: F401
    Attachment,
    CustomerRequest,
    Deferral,
    Dispute,
    Installment,
    PaymentPlan,
)
from app.retention.models import (  # noqa: F401
    LegalHold,
    RetentionRule,
    RetentionRun,
    RetentionTombstone,
)
