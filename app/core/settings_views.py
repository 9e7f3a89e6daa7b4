"""Back office screens for business rules and plugin configuration.

Settings → Business rules is one form per group of the settings registry (app/core/settings.py
GROUPS): every declared setting with a typed field, its translated label and help, its default,
a mark when it differs from it and a way back. The registry decides who may change what; a
person who may not change a group sees it read-only. The service (``change_settings``) checks
everything before storing anything and writes each change to the audit trail.
"""
from __future__ import annotations

import os

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import AppBuilder, BaseView, expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core import settings as registry
from app.core.admin import JSONTextField, StaffModelView
from app.core.models import PluginConfig, Setting
from app.core.plugins import configure, discover, secret_variable, sync_plugin_configs
from app.core.roles import ADMIN, COMPLIANCE_OFFICER, CREDIT_MANAGER
from app.core.validation import ValidationError
from app.extensions import db

CATEGORY = "Settings"

# The roles named on a read-only form ("changing them is for: ..."), in the reader's language.
ROLE_LABELS = {ADMIN: _l("the administrator"), CREDIT_MANAGER: _l("the credit manager"),
               COMPLIANCE_OFFICER: _l("the compliance officer")}
UNITS = {"money": "€", "percent": "%", "days": _l("days"), "hours": _l("hours"),
         "minutes": _l("minutes")}


def _role_names() -> set[str]:
    from flask_login import current_user

    return {role.name for role in (getattr(current_user, "roles", None) or [])}


def group_rows(group: str, typed: dict[str, str] | None = None,
               errors: dict[str, list[str]] | None = None) -> list[dict]:
    """What the form shows for each setting of ``group``: label, help, the value (or what was
    typed when the form was refused), the default, whether it differs, and the errors."""
    found = registry.definitions(group=group)
    values = registry.get_settings(d.key for d in found)
    stored = registry.stored_keys(d.key for d in found)
    roles = _role_names()
    rows = []
    for d in found:
        value = values[d.key]
        shown = registry.display_value(d, value)
        if typed is not None and d.key in typed:
            shown = typed[d.key]
        rows.append({
            "key": d.key, "type": d.type, "label": d.label, "help": d.help,
            "type_help": registry.type_help(d), "unit": UNITS.get(d.type, ""),
            "value": shown, "default": _default_text(d),
            "choices": [(value_, str(label)) for value_, label in d.choices],
            "changed": d.key in stored and value != d.default, "stored": d.key in stored,
            "editable": d.may_change(roles), "errors": (errors or {}).get(d.key, []),
            "required": d.required,
        })
    return rows


def _default_text(found: registry.SettingDefinition) -> str:
    """The default as the reader writes it: "1 000,00 €", "30 days", "Yes", a choice's label."""
    from app.core.i18n import money

    default = found.default
    if found.type == "money":
        return money(default)
    if found.type == "bool":
        return _("Yes") if default else _("No")
    if found.type == "choice":
        return next((str(label) for value, label in found.choices if value == default), default)
    text = registry.display_value(found, default)
    if not text:
        return "—"
    unit = UNITS.get(found.type)
    return f"{text} {unit}" if unit else text


class SettingGroupView(BaseView):
    """Settings → Business rules: the groups, then one form per group."""

    route_base = "/settings/rules"
    default_view = "index"
    # Opening and sending the forms is one FAB permission, can_list (every staff role but the
    # ERP's may read the rules); who may change which setting is the registry's decision.

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        roles = _role_names()
        groups = []
        for key, group in registry.GROUPS.items():
            found = registry.definitions(group=key)
            groups.append({"key": key, "label": group.label, "help": group.help,
                           "count": len(found),
                           "editable": any(d.may_change(roles) for d in found)})
        return self.render_template("admin/settings_index.html", groups=groups,
                                    title=_("Business rules"))

    @expose("/<group>", methods=["GET", "POST"])
    @has_access
    @permission_name("list")
    def group(self, group: str):
        if group not in registry.GROUPS:
            abort(404)
        typed = errors = None
        if request.method == "POST":
            # Every field of the group that was sent: one the person may not change is
            # refused by the registry (a read-only form sends none, its fields are disabled).
            keys = [d.key for d in registry.definitions(group=group)]
            typed = {key: request.form.get(key, "") for key in keys if key in request.form}
            try:
                changes = registry.change_settings(typed, _role_names())
            except ValidationError as exc:
                db.session.rollback()
                errors = exc.errors
                labels = {d.key: str(d.label) for d in registry.definitions(group=group)}
                flash(_("Not saved: check %(fields)s.",
                        fields="; ".join(labels.get(k, k) for k in errors)), "danger")
            else:
                db.session.commit()
                if changes:
                    flash(_("Saved: %(n)s setting(s) changed.", n=len(changes)), "success")
                else:
                    flash(_("Nothing changed."), "info")
                return redirect(url_for("SettingGroupView.group", group=group))
        rows = group_rows(group, typed, errors)
        return self.render_template(
            "admin/settings_group.html", group=registry.GROUPS[group], rows=rows,
            groups=registry.GROUPS, editable=any(r["editable"] for r in rows),
            role_labels=[str(ROLE_LABELS.get(r, r)) for r in registry.GROUPS[group].roles],
            title=registry.GROUPS[group].label), 200 if not errors else 400

    @expose("/<group>/reset/<key>", methods=["POST"])
    @has_access
    @permission_name("list")
    def reset(self, group: str, key: str):
        found = registry.REGISTRY.get(key)
        if group not in registry.GROUPS or found is None or found.group != group:
            abort(404)
        try:
            done = registry.reset_to_default(key, _role_names())
        except ValidationError as exc:
            db.session.rollback()
            flash(f"{found.label}: {' '.join(exc.errors.get(key, []))}", "danger")
        else:
            db.session.commit()
            if done:
                flash(_("%(setting)s: back to its default.", setting=found.label), "success")
        return redirect(url_for("SettingGroupView.group", group=group))


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

    def update_from_form(self, row: Setting, form) -> Setting:
        """The same rules as the forms (registry.change_stored_row): who may change a declared
        setting, its type, and old → new in the audit trail."""
        try:
            registry.change_stored_row(row, form.value.data, _role_names())
        except ValidationError as exc:
            raise ValidationError({"value": [str(m) for ms in exc.errors.values()
                                             for m in ms]}) from exc
        return row


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

    def update_from_form(self, row: PluginConfig, form) -> PluginConfig:
        """Enabled and settings through app.core.plugins.configure: secrets never stored."""
        dropped = configure(row, form.enabled.data, form.settings.data)
        if dropped:
            flash(_("Not saved: %(keys)s are secrets; set them as environment variables.",
                    keys=", ".join(dropped)), "warning")
        return row


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
    status = []
    if spec.status is not None:
        try:
            status = spec.status()
        except Exception:  # noqa: BLE001 (a status that cannot be read must not break the page)
            status = [(_("Status"), _("The status cannot be read right now."))]
    return {"installed": True, "label": spec.label, "description": spec.description,
            "kind": spec.kind, "channel": spec.channel, "settings": settings, "status": status}


def plugin_rows() -> dict[str, dict]:
    """Label and description of every installed plugin, by name (for the list page)."""
    return {name: {"label": spec.label, "description": spec.description}
            for name, spec in discover().items()}


def register(appbuilder: AppBuilder) -> None:
    registry.load_declarations()  # every declared setting has its line on the forms
    appbuilder.add_view(SettingGroupView, "Business rules", label=_l("Business rules"),
                        icon="fa-sliders", category=CATEGORY, category_label=_l("Settings"),
                        category_icon="fa-cogs")
    # The stored rows as they are (no menu entry): the forms above are where rules change.
    appbuilder.add_view_no_menu(SettingView)
    appbuilder.add_view(PluginConfigView, "Plugins", label=_l("Plugins"), icon="fa-plug",
                        category=CATEGORY)
