"""Staff security: FAB's security manager with CreditDesk's roles defined in code."""
from __future__ import annotations

from flask_appbuilder.security.sqla.manager import SecurityManager


class CreditDeskSecurityManager(SecurityManager):
    def sync_roles(self) -> None:
        """Create the role rows for the roles of app.core.roles; idempotent.

        Their rights are regexes that FAB evaluates in code (builtin roles), so no permission
        rows are stored. FAB_CREATE_DB is off so that FAB never runs create_all() behind
        Alembic's back; this runs after the migrations instead.
        """
        names = [*self.builtin_roles, self.auth_role_admin, self.auth_role_public]
        for name in dict.fromkeys(names):
            if self.find_role(name) is None:
                self.add_role(name)
