"""My details → Connected apps: the customer's API keys, webhook addresses and calendar feed.

Thin: read the form, call app/customer_api (keys, webhooks, calendar), show the page. A new
key, webhook secret or calendar address is shown once, on the page that made it, never
again. Every id in a URL is looked up with the signed-in customer's id (another's: 404).
"""
from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from app.core.links import absolute
from app.core.models import utcnow
from app.core.validation import ValidationError
from app.customer_api import calendar, keys, webhooks
from app.customer_api.models import SCOPES
from app.extensions import db
from app.portal import bp
from app.portal.auth import current_customer, login_required
from app.portal.forms import csrf_refused

ID = "<int(max=2147483647):item_id>"


class ActionForm(FlaskForm):
    """Only the CSRF token: the fields are checked by app/customer_api (translated errors)."""


def _page(*, new_key=None, new_secret=None, new_calendar=None, errors=None, status=200):
    customer = current_customer()
    return render_template(
        "portal/connected_apps.html", form=ActionForm(), keys=keys.keys_of(customer.id),
        endpoints=webhooks.endpoints_of(customer.id), events=webhooks.EVENTS,
        attempts=webhooks.recent_attempts(customer.id), feed=calendar.feed_of(customer.id),
        scopes=SCOPES, now=utcnow(), new_key=new_key, new_secret=new_secret,
        new_calendar=new_calendar, errors=errors or {}, values=request.form,
        api_base=absolute("/api/customer/v1"), default_days=keys.DEFAULT_DAYS), status


@bp.route("/connected-apps")
@login_required
def connected_apps():
    return _page()


def _post(action):
    """CSRF, then the action; a refusal shows the page with the messages (nothing changed)."""
    if not ActionForm().validate_on_submit():
        return csrf_refused()
    try:
        result = action()
    except ValidationError as exc:
        db.session.rollback()
        return _page(errors=exc.errors, status=400)
    db.session.commit()
    return result


@bp.route("/connected-apps/keys", methods=["POST"])
@login_required
def api_key_create():
    def create():
        made = keys.create_key(current_customer(), request.form.get("name"),
                               request.form.get("scope"), request.form.get("days"))
        return made.key, made.secret

    done = _post(create)
    if isinstance(done, tuple) and len(done) == 2 and isinstance(done[1], str):
        return _page(new_key=done)
    return done


@bp.route(f"/connected-apps/keys/{ID}/revoke", methods=["POST"])
@login_required
def api_key_revoke(item_id: int):
    key = keys.key_of(current_customer().id, item_id)
    if key is None:
        abort(404)
    return _post(lambda: (keys.revoke_key(key, f"customer #{key.customer_id}"),
                          redirect(url_for("portal.connected_apps")))[1])


@bp.route("/connected-apps/webhooks", methods=["POST"])
@login_required
def webhook_add():
    def add():
        return webhooks.add_endpoint(current_customer(), request.form.get("url"),
                                     request.form.getlist("events"))

    done = _post(add)
    if isinstance(done, tuple) and len(done) == 2 and isinstance(done[1], str):
        return _page(new_secret=done)
    return done


def _endpoint(item_id: int):
    found = webhooks.endpoint_of(current_customer().id, item_id)
    if found is None:
        abort(404)
    return found


@bp.route(f"/connected-apps/webhooks/{ID}/<any(test, enable, disable, remove):action>",
          methods=["POST"])
@login_required
def webhook_action(item_id: int, action: str):
    endpoint = _endpoint(item_id)
    do = {"test": lambda: webhooks.send_test_event(endpoint),
          "enable": lambda: webhooks.set_enabled(endpoint, True),
          "disable": lambda: webhooks.set_enabled(endpoint, False),
          "remove": lambda: webhooks.remove_endpoint(endpoint)}[action]
    if action == "test" and not endpoint.enabled:
        return _page(errors={"webhook": [_("Switch this address on before sending a test "
                                           "event.")]}, status=400)
    return _post(lambda: (do(), redirect(url_for("portal.connected_apps", done=action)))[1])


@bp.route("/connected-apps/calendar", methods=["POST"])
@login_required
def calendar_feed():
    def make():
        if request.form.get("action") == "stop":
            calendar.stop_feed(current_customer())
            return None
        return calendar.new_feed(current_customer())

    done = _post(make)
    if done is None:
        return redirect(url_for("portal.connected_apps"))
    if isinstance(done, str):
        return _page(new_calendar=absolute(url_for("customer_api.calendar", token=done)))
    return done
