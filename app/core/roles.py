"""The staff roles and what each may do, as data (FAB "builtin roles": regex pairs).

Each entry is (name regex, permission regex); FAB grants a permission when one entry of one of
the user's roles matches with ``re.match`` (anchored at the start only, so every pattern here
ends with ``$`` where it means a whole name). FAB checks these in code, so a role's rights are
exactly what is written here, the same on every process, with nothing to sync.

FAB asks two kinds of questions with the same regexes:
- "may this user use permission P of view V?": V is the view class name, e.g. ``InvoiceView``;
- "may this user see menu entry M?": permission ``menu_access`` on the menu entry's *name*
  (the plain English name given to add_view, e.g. "Retention rules") and on its category
  ("Compliance"). FAB shows an entry only inside a category the user may see, so the groups
  below name the categories to hide ("Compliance", "Security") next to the view classes.
tests/backoffice/test_permissions.py checks that each menu entry is visible exactly to the
roles that may open its page.
"""
from __future__ import annotations

ADMIN = "Admin"
CREDIT_MANAGER = "Credit manager"
AR_CLERK = "AR clerk"
COMPLIANCE_OFFICER = "Compliance officer"
READ_ONLY = "Read-only"
ERP_INTEGRATION = "ERP integration"

STAFF_ROLES = (ADMIN, CREDIT_MANAGER, AR_CLERK, COMPLIANCE_OFFICER, READ_ONLY, ERP_INTEGRATION)

# FAB also stores each pair as a permission row (sync_roles): a name regex must stay within 250
# characters and a permission regex within 100 (tests/backoffice/test_permissions.py checks).

# Screens only the Compliance officer and the Admin may see (and their menu category).
COMPLIANCE_VIEWS = r"(Retention|LegalHold|AuditEvent)\w*|Compliance"
# Screens that configure how the product behaves: the AR clerk only reads them. DunningSend
# (sending a date's reminders from the screen) is decided at the same level: credit manager.
# Erp…: the company's own webhooks (ERP integration: ErpWebhookView, ErpWebhooksApi).
POLICY_VIEWS = (r"(Dunning(Policy|Level|Send)|MessageTemplate|Setting|PluginConfig|ReferenceRate"
                r"|Erp)\w*")
# User and role administration (FAB's security screens and their menu category): Admin only.
# ResetPasswordView sets *another* user's password, so it belongs here too.
SECURITY_VIEWS = r"(User|Role|Permission|ViewMenu|Register|Group|ApiKey|ResetPassword)\w*|Security"
# Operations screens (the scheduled jobs and how they ended): Admin only.
OPERATIONS_VIEWS = r"Scheduled ?[jJ]ob\w*"
# Uploads and imports: their pages are forms that change data, so read-only grants leave them out.
UPLOAD_VIEWS = r"Import\w*"
# The REST API classes the ERP uses (built by the API module).
ERP_API_VIEWS = r"(Customers|Invoices|Payments|Imports|Open|Statements|ErpWebhooks)Api"
READ_PERMISSIONS = r"(can_list|can_show|can_get|can_info|can_download|menu_access|can_pdf)$"

# Data-subject requests (GDPR access and erasure) wait in the general request queue, but only
# the Compliance officer and the Admin answer them (DESIGN.md "Who uses it"). The queue asks FAB
# "may this user use can_handle on SUBJECT_REQUESTS?" for these kinds instead of asking it on
# RequestQueueView: the name is not a view of its own, and it falls under COMPLIANCE_VIEWS, so
# exactly the roles with full rights there may (the AR clerk and the credit manager may not).
SUBJECT_REQUEST_KINDS = ("access", "erasure")
SUBJECT_REQUESTS = "RetentionSubjectRequests"

# What every person with a staff login may do on their own account and the home page.
SELF_SERVICE = [
    (r"(UserInfoEditView|ResetMyPasswordView)$", r"can_this_form_(get|post)$"),
    (r"UserDBModelView$", r"(can_userinfo|resetmypassword|userinfoedit)$"),
    (r"LocaleView$", r".*"),
    (r"DashboardIndexView$", r".*"),
]
# A Read-only user changes nothing, not even the name on their account: only their password.
READ_ONLY_SELF_SERVICE = [
    (r"ResetMyPasswordView$", r"can_this_form_(get|post)$"),
    (r"UserDBModelView$", r"(can_userinfo|resetmypassword)$"),
    (r"LocaleView$", r".*"),
    (r"DashboardIndexView$", r".*"),
]



def _all_but(*groups: str) -> str:
    """Any whole name except those matching one of the groups."""
    return rf"^(?!(?:{'|'.join(groups)})$).*"


FAB_ROLES: dict[str, list[tuple[str, str]]] = {
    ADMIN: [(r".*", r".*")],
    CREDIT_MANAGER: SELF_SERVICE + [(_all_but(SECURITY_VIEWS, COMPLIANCE_VIEWS, OPERATIONS_VIEWS),
                                      r".*")],
    AR_CLERK: SELF_SERVICE + [
        (_all_but(SECURITY_VIEWS, COMPLIANCE_VIEWS, POLICY_VIEWS, OPERATIONS_VIEWS), r".*"),
        (rf"^(?:{POLICY_VIEWS})$", READ_PERMISSIONS),
    ],
    COMPLIANCE_OFFICER: SELF_SERVICE + [
        (rf"^(?:{COMPLIANCE_VIEWS})$", r".*"),
        (_all_but(SECURITY_VIEWS, UPLOAD_VIEWS, OPERATIONS_VIEWS), READ_PERMISSIONS),
    ],
    READ_ONLY: READ_ONLY_SELF_SERVICE + [
        (_all_but(SECURITY_VIEWS, COMPLIANCE_VIEWS, UPLOAD_VIEWS, OPERATIONS_VIEWS),
         READ_PERMISSIONS),
    ],
    ERP_INTEGRATION: [(rf"^(?:{ERP_API_VIEWS})$", r".*")],
}
