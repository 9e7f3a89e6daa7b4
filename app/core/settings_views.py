"""Back office screens for business rules (Setting rows) and plugin configuration."""
from __future__ import annotations

import os

from flask import flash
from flask_appbuilder import AppBuilder, expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core.admin import JSONTextField, StaffModelView, refuse
from app.core.models import PluginConfig, Setting
from app.core.plugins import discover, secret_variable, sync_plugin_configs
from app.extensions import db

CATEGORY = "Settings"


class SettingView(StaffModelView):
    """The rules code reads (SLA hours, thresholds, ...): staff change values, not keys."""

    datamodel = SQLAInterface(Setting)
    base_permissions = ["can_list", "can_show", "can_edit"]
    list_title = _l("Business rules")
    show_title = _l("Business rule")
    edit_title = _l("Change a business rule")
    label_columns = {"key": _l("Setting"), "value": _l("Value"), "category": _l("Category"),
                     "description": _l("What it does"), "updated_at": _l("Changed at")}
    list_columns = ["category", "key", "value", "description"]
    search_columns = ["category", "key", "description"]
    show_columns = ["category", "key", "description", "value", "updated_at"]
    edit_columns = ["value"]
    base_order = ("key", "asc")
    edit_form_extra_fields = {"value": JSONTextField(
        _l("Value"), description=_l("JSON: a number (48), text in quotes (\"fr\"), true/false, "
                                    "a list [1, 2] or an object {\"a\": 1}."))}


class PluginConfigView(StaffModelView):
    """Installed plugins (found through the "creditdesk.plugins" entry points): staff enable
    them and edit their non-secret settings; for each secret the screen only says whether its
    environment variable is set, never its value."""

    datamodel = SQLAInterface(PluginConfig)
    base_permissions = ["can_list", "can_show", "can_edit"]
    list_title = _l("Plugins")
    show_title = _l("Plugin")
    edit_title = _l("Configure a plugin")
    label_columns = {"name": _l("Plugin"), "kind": _l("Kind"), "enabled": _l("Enabled"),
                     "settings": _l("Settings"), "updated_at": _l("Changed at")}
    list_columns = ["name", "kind", "enabled", "updated_at"]
    search_columns = ["name", "kind", "enabled"]
    show_columns = ["name", "kind", "enabled", "settings", "updated_at"]
    edit_columns = ["enabled", "settings"]
    base_order = ("name", "asc")
    show_template = "notifications/plugin_show.html"
    list_template = "notifications/plugin_list.html"
    edit_form_extra_fields = {"settings": JSONTextField(
        _l("Settings"), description=_l("JSON object. Secrets (passwords, API keys) belong in "
                                       "environment variables, not here."))}

    @expose("/list/")
    @has_access
    def list(self):
        # A plugin pip-installed since the last visit gets its row (and so its line) now.
        discover(refresh=True)
        sync_plugin_configs()
        db.session.commit()
        self.update_redirect()
        widgets = self._list()
        return self.render_template(self.list_template, title=self.list_title, widgets=widgets,
                                    plugins=plugin_rows())

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        pk = self._deserialize_pk_if_composite(pk)
        widgets = self._show(pk)
        item = self.datamodel.get(pk)
        return self.render_template(self.show_template, pk=pk, title=self.show_title,
                                    widgets=widgets, related_views=self._related_views,
                                    plugin=plugin_details(item) if item else None)

    def pre_update(self, item: PluginConfig) -> None:
        settings = item.settings or {}
        if not isinstance(settings, dict):
            refuse(_("Settings must be a JSON object, e.g. {\"host\": \"smtp.example.com\"}."))
        spec = discover().get(item.name)
        if spec is not None:
            secrets = {s.key for s in spec.settings if s.secret}
            dropped = sorted(secrets & set(settings))
            if dropped:
                flash(_("Not saved: %(keys)s are secrets; set them as environment variables.",
                        keys=", ".join(dropped)), "warning")
            settings = {k: v for k, v in settings.items() if k not in secrets}
        item.settings = settings


def plugin_details(row: PluginConfig) -> dict | None:
    """What the plugin declares, and for each setting its value or (secrets) whether it is set."""
    spec = discover().get(row.name)
    if spec is None:
        return {"installed": False}
    values = row.settings or {}
    settings = []
    for setting in spec.settings:
        if setting.secret:
            variable = secret_variable(spec, setting.key)
            settings.append({"key": setting.key, "label": setting.label, "secret": True,
                             "variable": variable, "is_set": bool(os.environ.get(variable))})
        else:
            settings.append({"key": setting.key, "label": setting.label, "secret": False,
                             "value": values.get(setting.key, setting.default)})
    return {"installed": True, "label": spec.label, "description": spec.description,
            "kind": spec.kind, "channel": spec.channel, "settings": settings}


def plugin_rows() -> dict[str, dict]:
    """Label and description of every installed plugin, by name (for the list page)."""
    return {name: {"label": spec.label, "description": spec.description}
            for name, spec in discover().items()}


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(SettingView, "Business rules", label=_l("Business rules"),
                        icon="fa-sliders", category=CATEGORY, category_label=_l("Settings"),
                        category_icon="fa-cogs")
    appbuilder.add_view(PluginConfigView, "Plugins", label=_l("Plugins"), icon="fa-plug",
                        category=CATEGORY)
