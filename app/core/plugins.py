"""The plugin registry: channels, payment providers, statement formats, collection agencies.

A plugin is any installed package that declares an entry point in the group
``creditdesk.plugins`` pointing at a ``PluginSpec`` (or a function returning one). The plugins
shipped with CreditDesk live in ``plugins/`` and are declared in our own pyproject.toml; a
third-party plugin is installed with pip and appears in the admin (Settings → Plugins) the same
way. Whether a plugin is enabled, and its non-secret settings, are PluginConfig rows staff edit;
secrets come from the environment only (CREDITDESK_PLUGIN_<NAME>_<SETTING>), never shown back.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.models import PluginConfig
from app.core.validation import ValidationError
from app.extensions import db

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "creditdesk.plugins"
# "inbound": reads customers' e-mail replies (app.inbound; e.g. plugins/imap_inbound).
KINDS = ("channel", "payment_provider", "statement_format", "collection_agency", "inbound")


@dataclass(frozen=True)
class PluginSetting:
    key: str
    label: Any
    secret: bool = False
    default: Any = None


@dataclass(frozen=True)
class PluginSpec:
    """What a plugin declares: its name, kind, a label for staff, and how to build it."""

    name: str
    kind: str
    label: Any
    factory: Callable[[dict[str, Any]], Any]
    settings: tuple[PluginSetting, ...] = field(default_factory=tuple)
    description: Any = None
    enabled_by_default: bool = False
    # For kind "channel": the message channel it delivers ("email", "sms", "letter", "webhook").
    channel: str | None = None
    # Several enabled plugins for one channel: the lowest number that is configured is used.
    priority: int = 100
    # Optional: () -> [(label, value), ...], the plugin's live state shown on its settings page
    # (e.g. a mailbox's last poll and error).
    status: Callable[[], list[tuple[Any, Any]]] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"plugin {self.name}: unknown kind {self.kind!r}")


class PluginUnavailable(LookupError):
    """The plugin is not installed, or staff have not enabled it."""


_discovered: dict[str, PluginSpec] | None = None


def discover(refresh: bool = False) -> dict[str, PluginSpec]:
    """Every installed plugin, by name. A broken plugin is logged and skipped, not fatal.

    Scanning the installed packages takes milliseconds, too slow for every message a worker
    sends: the result is kept until ``refresh=True`` (the admin's plugin screen refreshes, so
    a package pip-installed while the app runs shows up there).
    """
    global _discovered
    if _discovered is not None and not refresh:
        return dict(_discovered)
    found: dict[str, PluginSpec] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry_point.load()
            spec = loaded() if callable(loaded) and not isinstance(loaded, PluginSpec) else loaded
        except Exception:
            log.exception("plugin %s could not be loaded", entry_point.name)
            continue
        if not isinstance(spec, PluginSpec):
            log.error("plugin %s does not provide a PluginSpec", entry_point.name)
            continue
        found[spec.name] = spec
    _discovered = found
    return dict(found)


def get_plugin(name: str) -> PluginSpec:
    try:
        return discover()[name]
    except KeyError:
        raise PluginUnavailable(name) from None


def plugin_config(spec: PluginSpec) -> PluginConfig:
    """The staff-edited row of a plugin, created (with its defaults) the first time it is seen."""
    row = db.session.scalar(select(PluginConfig).where(PluginConfig.name == spec.name))
    if row is None:
        row = PluginConfig(name=spec.name, kind=spec.kind, enabled=spec.enabled_by_default,
                           settings={s.key: s.default for s in spec.settings if not s.secret})
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:  # two workers met the new plugin at once: keep the other's row
            row = db.session.scalar(select(PluginConfig).where(PluginConfig.name == spec.name))
    return row


def sync_plugin_configs() -> list[PluginConfig]:
    """Make sure every installed plugin has its row (so the admin lists it)."""
    return [plugin_config(spec) for spec in discover().values()]


def secret_variable(spec: PluginSpec, key: str) -> str:
    """The environment variable that holds a plugin's secret setting."""
    return f"CREDITDESK_PLUGIN_{spec.name}_{key}".upper().replace("-", "_")


def secret(spec: PluginSpec, key: str) -> str | None:
    return os.environ.get(secret_variable(spec, key))


def effective_settings(spec: PluginSpec, row: PluginConfig) -> dict[str, Any]:
    values = {s.key: s.default for s in spec.settings}
    values.update({k: v for k, v in (row.settings or {}).items()
                   if k in values and not _is_secret(spec, k)})
    for setting in spec.settings:
        if setting.secret:
            values[setting.key] = secret(spec, setting.key)
    return values


def _is_secret(spec: PluginSpec, key: str) -> bool:
    return any(s.key == key and s.secret for s in spec.settings)


def configure(row: PluginConfig, enabled: bool, settings: Any) -> list[str]:
    """Staff enable a plugin and set its non-secret settings (Settings -> Plugins). Settings are
    a JSON object; a secret the plugin declares is never stored in the database (it belongs in
    its environment variable, ``secret_variable``): it is left out, and its key returned so the
    screen can say so. ValidationError({"settings": ...}) when not an object: nothing changes.
    The caller commits."""
    settings = {} if settings is None else settings
    if not isinstance(settings, dict):
        raise ValidationError({"settings": [_(
            "Settings must be a JSON object, e.g. {\"host\": \"smtp.example.com\"}.")]})
    spec = discover().get(row.name)
    dropped: list[str] = []
    if spec is not None:
        dropped = sorted(k for k in settings if _is_secret(spec, k))
        settings = {k: v for k, v in settings.items() if k not in dropped}
    row.enabled = bool(enabled)
    row.settings = settings
    return dropped


def enabled_plugins(kind: str) -> list[PluginSpec]:
    return [spec for spec in discover().values()
            if spec.kind == kind and plugin_config(spec).enabled]


def build(name: str) -> Any:
    """An instance of an enabled plugin, configured from its row and the environment."""
    spec = get_plugin(name)
    row = plugin_config(spec)
    if not row.enabled:
        raise PluginUnavailable(name)
    return spec.factory(effective_settings(spec, row))
