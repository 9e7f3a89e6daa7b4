"""Staff security: FAB's security manager with CreditDesk's roles defined in code."""
from __future__ import annotations

from flask_appbuilder.security.manager import BaseSecurityManager
from flask_appbuilder.security.sqla.manager import SecurityManager


class CreditDeskSecurityManager(SecurityManager):
    def sync_roles(self) -> None:
        """Create the role rows for the roles of app.core.roles (their rights live in code).

        FAB_CREATE_DB is off so that FAB never runs create_all() behind Alembic's back; this is
        the part of FAB's create_db that we keep, run after the migrations.
        """
        BaseSecurityManager.create_db(self)
