from __future__ import annotations

import pytest

from tests.api.support import ApiClient, jwt_for


@pytest.fixture
def api_as(app, client):
    """api_as(role) -> an ApiClient holding a JWT of a staff user with that role."""

    def make(role: str = "ERP integration") -> ApiClient:
        return ApiClient(client, jwt_for(app, client, role))

    return make


@pytest.fixture
def erp(api_as) -> ApiClient:
    """The ERP's technical user (role "ERP integration"), logged in with a JWT."""
    return api_as("ERP integration")
