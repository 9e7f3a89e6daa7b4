"""Why a request needs a person, and its subject, are stored as codes with their figures and
rendered in the reader's language: staff in their UI language, the customer in the portal's
current language, from the same stored row."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import g

from app.core.settings import set_setting
from app.extensions import db
from app.portal.auth import create_magic_link, reset_rate_limits, sign
from app.requests import reasons
from app.requests.deferrals import request_deferral
from app.requests.models import CustomerRequest
from app.requests.refund_requests import request_refund  # noqa: F401 - registers the kind
from tests.helpers import make_customer, make_invoice
from tests.portal.conftest import csrf_from

pytestmark = pytest.mark.usefixtures("message_templates")

def _deferral_for_staff(language="nl"):
    set_setting("self_service.deferral.max_amount", "10.00")
    db.session.commit()
    customer = make_customer(language=language, name="Bakkerij Peeters")
    invoice = make_invoice(customer, total="1500.00", due_in_days=-3)
    outcome = request_deferral(customer, [invoice], date.today() + timedelta(days=10),
                               today=date.today())
    db.session.commit()
    assert not outcome.approved
    return customer, outcome.request


def _expected(language: str, stored: dict) -> str:
    from flask_babel import force_locale

    from app.core.i18n import language_locale

    with force_locale(language_locale(language)):
        return reasons.render_reason(stored)


def test_the_reason_is_stored_as_a_code_with_its_figures(app):
    _customer, req = _deferral_for_staff()
    assert req.referral_codes == [{"code": "amount_above_limit", "amount": "1500.00",
                                   "limit": "10.00"}]
    # The customer's words at the time stay as the fallback text.
    assert req.referral_reason


@pytest.mark.parametrize("language", ["en", "fr", "nl"])
def test_staff_read_the_reason_in_their_ui_language(app, staff_client, language):
    _customer, req = _deferral_for_staff(language="nl")
    client = staff_client("AR clerk")
    client.get(f"/lang/{language}")
    html = client.get(f"/requests/queue/{req.id}").get_data(as_text=True)
    expected = _expected(language, req.referral_codes[0])
    assert expected in html.replace("&#39;", "'").replace("&nbsp;", "\xa0")
    for other in {"en", "fr", "nl"} - {language}:
        assert _expected(other, req.referral_codes[0]) not in html


def _portal(app, customer):
    reset_rate_limits()
    g.pop("csrf_token", None)
    link = f"/portal/login/{sign(create_magic_link(customer, None, None, None))}"
    db.session.commit()
    client = app.test_client()
    confirm = client.get(link)
    client.post(link, data={"csrf_token": csrf_from(confirm.get_data(as_text=True))})
    return client


def test_the_customer_reads_reason_and_subject_in_the_portal_language(app):
    customer, req = _deferral_for_staff(language="fr")
    # A refund subject stored as a code: no longer French once the customer switches.
    from app.requests.services import open_request

    refund = open_request(customer, "refund", subject="Remboursement de 80,00 €",
                          subject_code=reasons.subject_code("refund", amount="80.00"))
    db.session.commit()
    client = _portal(app, customer)
    pages = {}
    for language in ("fr", "en", "nl"):
        client.get(f"/portal/language/{language}")
        pages[language] = (client.get(f"/portal/requests/{req.id}").get_data(as_text=True),
                           client.get(f"/portal/requests/{refund.id}").get_data(as_text=True),
                           client.get("/portal/").get_data(as_text=True))
    # The dashboard's open requests too.
    assert "Refund of" in pages["en"][2] and "Remboursement" not in pages["en"][2]
    for language, (detail, _refund_page, _dashboard) in pages.items():
        expected = _expected(language, req.referral_codes[0])
        assert expected in detail.replace("&#39;", "'"), language
    assert "Refund of" in pages["en"][1] and "Remboursement" not in pages["en"][1]
    assert "Remboursement" in pages["fr"][1]
    assert "Terugbetaling" in pages["nl"][1] or "Refund of" not in pages["nl"][1]


def test_a_row_without_codes_shows_its_stored_text(app, staff_client):
    customer = make_customer(language="nl")
    req = CustomerRequest(customer_id=customer.id, kind="deferral", status="received",
                          subject="F-1", payload={}, referral_reason="Oude uitleg")
    db.session.add(req)
    db.session.commit()
    html = staff_client("Read-only").get(f"/requests/queue/{req.id}").get_data(as_text=True)
    assert "Oude uitleg" in html


def test_an_unknown_code_shows_nothing_rather_than_a_wrong_sentence(app):
    customer = make_customer()
    req = CustomerRequest(customer_id=customer.id, kind="deferral", status="received",
                          payload={}, referral_codes=[{"code": "from_the_future"}],
                          subject_code={"code": "nope"}, subject="Stored subject")
    assert reasons.reasons_text(req) == []
    assert reasons.subject_text(req) == "Stored subject"


@pytest.mark.parametrize("code,figures", [("mandate", {"reference": "CD-1"}),
                                          ("refund_account", {"last4": "1234"}),
                                          ("refund", {"amount": "80.00"}),
                                          ("data_change", {}), ("erasure", {})])
def test_system_subjects_follow_the_readers_language(app, code, figures):
    from flask_babel import force_locale

    req = CustomerRequest(subject="stored", subject_code=reasons.subject_code(code, **figures))
    shown = {}
    for language in ("en", "fr", "nl"):
        with force_locale(language):
            shown[language] = reasons.subject_text(req)
    assert len(set(shown.values())) == 3, shown
    for value in figures.values():
        assert all(value in text or "80" in text for text in shown.values())
