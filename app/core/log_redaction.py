"""Secrets in addresses never reach a log: pay links, sign-in links, deep links.

The werkzeug development server (``python run.py``) logs every request line, gunicorn logs
them when its access log is switched on (``--access-logfile``), and Flask logs the path of a
request that failed. Each of those records passes through ``RedactTokens``, which replaces the
token part of ``/portal/p/<token>``, ``/portal/login/<token>``, ``/portal/go/<token>`` and
``/portal/confirm-email/<token>`` with ``[hidden]``. ``install(app)`` is called once from
create_app().
"""
from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask

TOKEN_IN_PATH = re.compile(r"(/portal/(?:p|login|go|confirm-email)/)[^\s/?#\"'\\]+")
HIDDEN = "[hidden]"
LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


def redact(value: Any) -> Any:
    """``value`` with every token in a portal address hidden (non-text values unchanged)."""
    if isinstance(value, str):
        return TOKEN_IN_PATH.sub(r"\1" + HIDDEN, value)
    if isinstance(value, bytes):
        return redact(value.decode("latin-1")).encode("latin-1")
    return value


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.msg)
        if isinstance(record.args, dict):  # gunicorn's access log: its own dict of atoms
            for key, value in list(dict.items(record.args)):
                dict.__setitem__(record.args, key, redact(value))
        elif isinstance(record.args, tuple):
            record.args = tuple(redact(value) for value in record.args)
        return True


def install(app: Flask) -> None:
    """Attach the filter to the loggers that write request addresses (idempotent)."""
    for logger in [logging.getLogger(name) for name in LOGGERS] + [app.logger]:
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
