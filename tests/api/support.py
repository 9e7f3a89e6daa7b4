"""API test helpers: a client that logs in through POST /api/v1/security/login like an ERP."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from tests.helpers import PASSWORD, make_staff_user


class ApiClient:
    """The Flask test client with an Authorization header on every call."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, url: str, **kwargs):
        return self.client.get(url, headers=self.headers, **kwargs)

    def put(self, url: str, json=None, **kwargs):
        return self.client.put(url, json=json, headers=self.headers, **kwargs)

    def post(self, url: str, json=None, **kwargs):
        return self.client.post(url, json=json, headers=self.headers, **kwargs)


def jwt_for(app, client, role: str) -> str:
    assert app.appbuilder.sm.find_role(role) is not None, (
        f"role {role!r} is missing from ab_role: sync_roles failed at setup (see its log)")
    user = make_staff_user(app, role)
    response = client.post("/api/v1/security/login", json={
        "username": user.username, "password": PASSWORD, "provider": "db", "refresh": False})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


def count(model, *where) -> int:
    """Committed rows (the session is rolled back first, so nothing pending is counted)."""
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))
