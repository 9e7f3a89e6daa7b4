"""A pay link's token never reaches a log: werkzeug's request lines (the embedded default),
gunicorn's access log, Flask's error log."""
from __future__ import annotations

import logging
import urllib.request
from datetime import timedelta
from types import SimpleNamespace

from app.extensions import db
from app.paylinks import services
from tests.browser_support import live_server
from tests.helpers import make_customer, make_invoice
from tests.paylinks.conftest import token_path


def _token_path() -> str:
    customer = make_customer(language="en")
    invoice = make_invoice(customer, total="10.00", due_in_days=-3)
    path = token_path(services.pay_link_url(customer.id, [invoice.id]))
    db.session.commit()
    return path


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_werkzeug_request_lines_hide_the_token(app, caplog):
    path = _token_path()
    token = path.rsplit("/", 1)[1]
    caplog.set_level(logging.INFO, logger="werkzeug")
    with live_server(app) as url:
        opener = urllib.request.build_opener(_NoRedirect)
        for address in (url + path, url + "/portal/p/" + token + "x?utm=1"):
            try:
                opener.open(address, timeout=30)
            except urllib.error.HTTPError:
                pass  # the 303 / 410 themselves
    lines = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert any("/portal/p/[hidden]" in line for line in lines), lines
    assert not any(token in line for line in lines), lines


def test_gunicorn_access_log_hides_the_token(app, tmp_path):
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    token = _token_path().rsplit("/", 1)[1]
    log_file = tmp_path / "access.log"
    config = Config()
    config.set("accesslog", str(log_file))
    logger = Logger(config)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/portal/p/{token}",
               "PATH_INFO": f"/portal/p/{token}", "QUERY_STRING": "", "SERVER_PROTOCOL":
               "HTTP/1.1", "REMOTE_ADDR": "203.0.113.9",
               "HTTP_REFERER": f"https://credit.example/portal/p/{token}"}
    response = SimpleNamespace(status="303 SEE OTHER", sent=0, headers=[])
    logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=4))
    for handler in logging.getLogger("gunicorn.access").handlers:
        handler.flush()
    written = log_file.read_text()
    assert "GET /portal/p/[hidden] HTTP/1.1" in written, written
    assert token not in written


def test_flask_error_log_hides_the_token(app):
    from app.core.log_redaction import RedactTokens

    record = logging.LogRecord("app", logging.ERROR, __file__, 1,
                               "Exception on /portal/login/abc.def-ghi [GET]", None, None)
    assert RedactTokens().filter(record) and record.getMessage() == \
        "Exception on /portal/login/[hidden] [GET]"
    assert any(isinstance(f, RedactTokens) for f in app.logger.filters)
