"""The published OpenAPI document, the Swagger UI (FAB's own copy of swagger-ui, served
from this server: no CDN), and the calendar feed (authenticated by its secret URL)."""
from __future__ import annotations

import json

from flask import Response, jsonify, render_template_string, url_for

from app.api.customer import bp
from app.api.customer.openapi import document
from app.api.customer.problems import Problem
from app.extensions import db


@bp.get("/openapi.json")
def openapi():
    from app.core.links import public_base

    try:
        base = public_base().rstrip("/")
    except Exception:  # noqa: BLE001  (no public address configured: a relative server)
        base = ""
    return jsonify(document(base + url_for("customer_api.openapi").rsplit("/", 1)[0]))


# No inline script (the CSP forbids it): the start-up code is a file of its own.
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CreditDesk customer API</title>
<link rel="stylesheet" href="{{ url_for('appbuilder.static', filename='css/swagger/swagger-ui.css') }}">
</head><body><div id="swagger-ui"></div>
<script src="{{ url_for('appbuilder.static', filename='js/swagger-ui-bundle.js') }}"></script>
<script src="{{ url_for('customer_api.docs_init') }}"></script>
</body></html>"""


@bp.get("/docs")
def docs():
    return render_template_string(_PAGE)


@bp.get("/docs/init.js")
def docs_init():
    url = json.dumps(url_for("customer_api.openapi"))
    script = f"window.ui = SwaggerUIBundle({{url: {url}, dom_id: '#swagger-ui', deepLinking: true}});"
    return Response(script, mimetype="application/javascript")


@bp.get("/calendar/<token>.ics")
def calendar(token: str):
    from app.customer_api import calendar as feed

    found = feed.customer_for(token)
    if found is None:
        raise Problem(404)
    data = feed.ics(found)
    db.session.commit()  # last used
    return Response(data, mimetype="text/calendar",
                    headers={"Content-Disposition": "inline; filename=creditdesk.ics"})
