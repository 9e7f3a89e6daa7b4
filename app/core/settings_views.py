"""Back office screens for business rules (Setting rows) and plugin configuration."""
from __future__ import annotations

from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l

from app.core.admin import JSONTextField, StaffModelView
from app.core.models import PluginConfig, Setting

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
    edit_form_extra_fields = {"settings": JSONTextField(
        _l("Settings"), description=_l("JSON object. Secrets (passwords, API keys) belong in "
                                       "environment variables, not here."))}

    def pre_update(self, item: PluginConfig) -> None:
        item.settings = item.settings or {}


def register(appbuilder: AppBuilder) -> None:
    appbuilder.add_view(SettingView, "Business rules", label=_l("Business rules"),
                        icon="fa-sliders", category=CATEGORY, category_label=_l("Settings"),
                        category_icon="fa-cogs")
    appbuilder.add_view(PluginConfigView, "Plugins", label=_l("Plugins"), icon="fa-plug",
                        category=CATEGORY)
