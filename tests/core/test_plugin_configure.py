"""Settings -> Plugins saves through app.core.plugins.configure: secrets never stored, settings
an object, whichever way the row is changed."""
from __future__ import annotations

import pytest

from app.core import plugins
from app.core.validation import ValidationError
from app.extensions import db
from tests.helpers import csrf_for


def _sms_row():
    row = plugins.plugin_config(plugins.get_plugin("sms_gateway"))
    db.session.commit()
    return row


def test_configure_keeps_secrets_out_and_wants_an_object():
    row = _sms_row()
    dropped = plugins.configure(row, True, {"sender": "ACME", "api_secret": "oops"})
    assert dropped == ["api_secret"]
    assert row.enabled and row.settings == {"sender": "ACME"}
    with pytest.raises(ValidationError) as refused:
        plugins.configure(row, False, ["not", "an", "object"])
    assert "settings" in refused.value.errors
    assert row.enabled and row.settings == {"sender": "ACME"}


def test_the_plugin_screen_refuses_settings_that_are_not_an_object(staff_client):
    row = _sms_row()
    before = dict(row.settings or {})
    client = staff_client("Admin")
    response = client.post(f"/pluginconfigview/edit/{row.id}", data={
        "enabled": "y", "settings": "[1, 2]", "csrf_token": csrf_for(client)})
    assert response.status_code == 200
    assert "Settings must be a JSON object" in response.get_data(as_text=True)
    db.session.expire_all()
    row = plugins.plugin_config(plugins.get_plugin("sms_gateway"))
    assert row.settings == before
