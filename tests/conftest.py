"""Test fixtures: one app per test session, a clean database for every test.

The database is SQLite in a temporary folder by default; set TEST_DATABASE_URL (e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/test) to run the same tests on PostgreSQL.
Redis is fakeredis unless TEST_REDIS_URL names a real server.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

# "Today" in a test is the business day (Europe/Brussels, app.core.time.business_today), which
# the code uses for due dates, deferrals and the dunning run. Run the test process on Brussels
# time so that date.today() in a test agrees with it: between midnight in Brussels and
# midnight UTC the two dates differ, and tests written with date.today() failed in that hour.
os.environ["TZ"] = "Europe/Brussels"
time.tzset()

_TMP = Path(tempfile.mkdtemp(prefix="creditdesk-tests-"))
os.environ.setdefault("CREDITDESK_INSTANCE_DIR", str(_TMP / "instance"))

from sqlalchemy import text

from app import create_app
from app.extensions import db
from config import TestConfig

# Rows that belong to the schema, not to a test: kept between tests.
KEPT_TABLES = {"alembic_version", "ab_role", "ab_permission", "ab_view_menu",
               "ab_permission_view", "ab_permission_view_role"}


def database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_TMP / 'test.db'}"


def is_postgres() -> bool:
    return database_url().startswith("postgres")


@pytest.fixture(scope="session")
def app():
    from app.setup_cli import prepare_database

    if is_postgres():
        _reset_postgres_schema(database_url())
    application = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=database_url(),
        UPLOAD_DIR=str(_TMP / "uploads"),
        INSTANCE_DIR=str(_TMP / "instance"),
        REDIS_URL=os.environ.get("TEST_REDIS_URL", ""),
    )
    with application.app_context():
        prepare_database()
        _truncate_all()  # every test starts empty, the first one too (no shipped defaults)
    return application


def _reset_postgres_schema(url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1)
                           if url.startswith("postgresql://") else url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(autouse=True)
def _clean_database(app):
    """Each test starts on an empty database (schema and roles kept)."""
    ctx = app.app_context()
    ctx.push()
    try:
        yield
    finally:
        db.session.rollback()
        db.session.remove()
        _truncate_all()
        ctx.pop()


def _truncate_all() -> None:
    from flask_appbuilder import Model

    tables = [t.name for t in reversed(Model.metadata.sorted_tables) if t.name not in KEPT_TABLES]
    # DELETE, children first, rather than TRUNCATE on PostgreSQL too: TRUNCATE rewrites every
    # table's files and cost ~0.5 s per test here, DELETE on near-empty tables ~0.03 s.
    with db.engine.begin() as conn:
        for table in tables:
            conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def staff_client(app):
    """staff_client(role) -> a test client logged in to the back office with that role."""
    from flask import g

    from tests.helpers import logged_in_client

    def make(role: str = "Admin"):
        # The test keeps one app context open, so Flask's `g` (where Flask-Login caches the user
        # and Flask-WTF the CSRF token) would carry one client's login into the next.
        for name in ("_login_user", "user", "csrf_token"):
            g.pop(name, None)
        return logged_in_client(app, role)

    return make


@pytest.fixture(scope="module")
def server(app):
    """For browser tests: the app on a real HTTP server thread; its base URL."""
    from tests.browser_support import live_server

    with live_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """For browser tests: Debian's Chromium through Playwright, one per test module."""
    from tests.browser_support import chromium

    with chromium() as launched:
        yield launched
