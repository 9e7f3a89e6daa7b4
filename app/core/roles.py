"""The staff roles and what each may do, as data (FAB "builtin roles": regex pairs).

Each entry is (view-or-menu name regex, permission regex). FAB checks these in code, so a role's
rights are exactly what is written here, the same on every process, with nothing to sync.
"""
from __future__ import annotations

ADMIN = "Admin"
CREDIT_MANAGER = "Credit manager"
AR_CLERK = "AR clerk"
COMPLIANCE_OFFICER = "Compliance officer"
READ_ONLY = "Read-only"
ERP_INTEGRATION = "ERP integration"

STAFF_ROLES = (ADMIN, CREDIT_MANAGER, AR_CLERK, COMPLIANCE_OFFICER, READ_ONLY, ERP_INTEGRATION)

# Screens only the Compliance officer and the Admin may see.
COMPLIANCE_VIEWS = r"(RetentionRule|LegalHold|RetentionRun|RetentionTombstone|AuditEvent)\w*|Compliance"
# Screens that configure how the product behaves (credit manager and admin only).
POLICY_VIEWS = r"(DunningPolicy|DunningLevel|MessageTemplate|Setting|PluginConfig|ReferenceRate)\w*"
ERP_API_VIEWS = r"(Customers|Invoices|Payments|Imports)Api"
READ_PERMISSIONS = r"(can_list|can_show|can_get|can_info|can_download|menu_access|can_pdf)$"
SELF_SERVICE = [
    (r"UserInfoEditView|ResetMyPasswordView", r"can_this_form_(get|post)$"),
    (r"(UserDBModelView|UserInfoEditView)$", r"can_userinfo$|resetmypassword$|userinfoedit$"),
    (r"LocaleView$", r".*"),
    (r"DashboardIndexView$", r".*"),
]
_NOT_COMPLIANCE = rf"(?!(?:{COMPLIANCE_VIEWS})$)(?!(?:User|Role|Permission|ViewMenu|RegisterUser|Group|ApiKey)\w*$)(?!Security$)"
_NOT_POLICY = rf"(?!(?:{POLICY_VIEWS})$)"

FAB_ROLES: dict[str, list[tuple[str, str]]] = {
    ADMIN: [(r".*", r".*")],
    CREDIT_MANAGER: SELF_SERVICE + [(rf"^{_NOT_COMPLIANCE}.*", r".*")],
    AR_CLERK: SELF_SERVICE + [
        (rf"^{_NOT_COMPLIANCE}{_NOT_POLICY}.*", r".*"),
        (rf"^(?:{POLICY_VIEWS})$", READ_PERMISSIONS),
    ],
    COMPLIANCE_OFFICER: SELF_SERVICE + [
        (rf"^(?:{COMPLIANCE_VIEWS})$", r".*"),
        (rf"^{_NOT_COMPLIANCE}.*", READ_PERMISSIONS),
    ],
    READ_ONLY: SELF_SERVICE + [(rf"^{_NOT_COMPLIANCE}.*", READ_PERMISSIONS)],
    ERP_INTEGRATION: [(rf"^(?:{ERP_API_VIEWS})$", r".*")],
}
