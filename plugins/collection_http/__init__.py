"""Collection agency hand-over through the agency's HTTP API (JSON POST with ``requests``).

The case is posted as JSON to the configured URL with the API key as a bearer token (a secret:
CREDITDESK_PLUGIN_COLLECTION_HTTP_API_KEY) and the case id as ``Idempotency-Key``, so a case
sent twice (a retry after a timeout) is recognised by the agency. The agency's reference is
read from the JSON answer (``reference`` or ``id``).
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.core.plugins import PluginSetting, PluginSpec


def _build(settings):
    from plugins.collection_http.client import HttpAgency

    return HttpAgency(settings)


plugin = PluginSpec(
    name="collection_http", kind="collection_agency",
    label=_l("Collection agency: HTTP API"),
    description=_l("Sends each hand-over to the agency's web API."),
    factory=_build,
    settings=(
        PluginSetting("url", _l("Address of the agency's case endpoint (https://...)"),
                      default=""),
        PluginSetting("api_key", _l("API key"), secret=True),
        PluginSetting("timeout", _l("Timeout in seconds"), default=20),
    ),
)
