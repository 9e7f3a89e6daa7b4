"""Back office: template versions and live preview, the plugin screen, plugin discovery."""
from __future__ import annotations

import sys
import textwrap

from sqlalchemy import select

from app.core import plugins
from app.extensions import db
from app.notifications.models import MessageTemplate
from app.notifications.rendering import active_template
from tests.helpers import csrf_for, csrf_token, make_customer


def _template(key="payment_received", channel="email", language="fr"):
    return active_template(key, channel, language)


def test_editing_a_template_saves_a_new_version(defaults, staff_client):
    client = staff_client("Credit manager")
    original = _template()
    page = client.get(f"/messagetemplateview/edit/{original.id}").get_data(as_text=True)
    assert 'id="template-preview"' in page  # the live preview panel
    response = client.post(f"/messagetemplateview/edit/{original.id}", data={
        "csrf_token": csrf_token(page), "active": "y", "subject": "Merci {{ customer.name }} !",
        "body_text": "Bonjour {{ customer.contact_name }}, merci.",
        "body_html": original.body_html})
    assert response.status_code == 302
    db.session.expire_all()
    versions = db.session.scalars(select(MessageTemplate).where(
        MessageTemplate.key == "payment_received", MessageTemplate.channel == "email",
        MessageTemplate.language == "fr").order_by(MessageTemplate.version)).all()
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].subject == original.subject  # the old version is untouched
    assert versions[1].subject == "Merci {{ customer.name }} !"
    assert versions[1].created_by_id is not None
    assert _template().id == versions[1].id  # the newest version is the one used


def test_a_template_with_a_syntax_error_is_refused(defaults, staff_client):
    client = staff_client("Credit manager")
    original = _template()
    page = client.get(f"/messagetemplateview/edit/{original.id}").get_data(as_text=True)
    response = client.post(f"/messagetemplateview/edit/{original.id}", data={
        "csrf_token": csrf_token(page), "active": "y", "subject": "x",
        "body_text": "Bonjour {{ customer.name ", "body_html": ""})
    assert response.status_code == 200 and "Template error" in response.get_data(as_text=True)
    assert db.session.scalar(select(MessageTemplate.version).where(
        MessageTemplate.key == "payment_received", MessageTemplate.channel == "email",
        MessageTemplate.language == "fr").order_by(MessageTemplate.version.desc())) == 1


def test_live_preview_on_a_real_customer(defaults, staff_client):
    make_customer(number="C-PREVIEW", name="Nora Janssens", language="nl")
    client = staff_client("Credit manager")
    template = _template(language="nl")
    result = client.post("/messagetemplateview/preview", data={
        "template_id": str(template.id), "customer": "C-PREVIEW",
        "subject": "Dag {{ customer.name }}", "body_text": "Saldo: {{ customer.balance|money }}",
        "body_html": "<b>{{ customer.name }}</b>", "csrf_token": csrf_for(client)}).get_json()
    assert result["subject"] == "Dag Nora Janssens"
    assert result["text"].startswith("Saldo: €\xa00,00")  # Belgian Dutch money format
    assert result["html"] == "<b>Nora Janssens</b>"
    broken = client.post("/messagetemplateview/preview", data={
        "template_id": str(template.id), "customer": "Nora",
        "body_text": "{{ config.SECRET_KEY }}", "csrf_token": csrf_for(client)}).get_json()
    assert "Template error" in broken["error"] and "text" not in broken

    page = client.get(f"/messagetemplateview/preview/{template.id}?customer=Nora")
    assert "Nora Janssens" in page.get_data(as_text=True)


def test_plugin_screen_lists_plugins_and_hides_secrets(defaults, staff_client, monkeypatch):
    monkeypatch.setenv("CREDITDESK_PLUGIN_SMS_GATEWAY_API_SECRET", "very-secret-value")
    client = staff_client("Admin")
    listing = client.get("/pluginconfigview/list/").get_data(as_text=True)
    for name in ("email_smtp", "local_mailbox", "sms_gateway", "letter", "webhook"):
        assert name in listing
    row = plugins.plugin_config(plugins.get_plugin("sms_gateway"))
    page = client.get(f"/pluginconfigview/show/{row.id}").get_data(as_text=True)
    assert "CREDITDESK_PLUGIN_SMS_GATEWAY_API_SECRET" in page
    assert "set in the environment" in page and "very-secret-value" not in page
    assert "CREDITDESK_PLUGIN_SMS_GATEWAY_API_KEY" in page and "not set" in page

    edit = client.get(f"/pluginconfigview/edit/{row.id}").get_data(as_text=True)
    client.post(f"/pluginconfigview/edit/{row.id}", data={
        "csrf_token": csrf_token(edit), "enabled": "y",
        "settings": '{"sender": "ACME", "api_secret": "typed-in-by-mistake"}'})
    db.session.expire_all()
    row = plugins.plugin_config(plugins.get_plugin("sms_gateway"))
    assert row.enabled and row.settings == {"sender": "ACME"}  # the secret was not stored


def test_a_separately_installed_plugin_appears_in_the_admin(app, tmp_path, monkeypatch,
                                                           staff_client):
    """A real entry-point discovery: a package with its own dist-info on sys.path."""
    package = tmp_path / "acme_fax"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent('''
        from app.core.plugins import PluginSetting, PluginSpec

        class Fax:
            def __init__(self, settings):
                self.settings = settings
            def is_configured(self):
                return True
            def send(self, message):
                return "fax-1"
            def close(self):
                pass

        plugin = PluginSpec(name="acme_fax", kind="channel", channel="fax", label="ACME Fax",
                            description="Faxes messages", factory=Fax,
                            settings=(PluginSetting("token", "Token", secret=True),))
    '''))
    dist_info = tmp_path / "acme_fax-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-fax\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[creditdesk.plugins]\nacme_fax = acme_fax:plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        client = staff_client("Admin")
        listing = client.get("/pluginconfigview/list/").get_data(as_text=True)
        assert "acme_fax" in listing and "ACME Fax" in listing
        spec = plugins.get_plugin("acme_fax")
        assert spec.channel == "fax"
        row = plugins.plugin_config(spec)
        row.enabled = True
        db.session.commit()
        assert plugins.build("acme_fax").send(None) == "fax-1"
    finally:
        sys.modules.pop("acme_fax", None)
        monkeypatch.undo()
        plugins.discover(refresh=True)
    assert "acme_fax" not in plugins.discover()


def test_mailbox_and_print_batches_are_in_the_menu(defaults, staff_client):
    page = staff_client("AR clerk").get("/messageview/list/").get_data(as_text=True)
    assert "/mailboxview/list/" in page and "/printbatchview/list/" in page
