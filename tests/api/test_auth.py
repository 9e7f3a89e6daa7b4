"""Who may call the API: JWT from FAB's login, API keys, and the roles of app/core/roles.py."""
import pytest

from app.customers.models import Customer
from app.customers.services import find_by_number
from app.invoices.models import Invoice
from app.payments.models import Payment
from tests.api.support import ApiClient, count
from tests.helpers import make_customer, make_invoice, make_staff_user

ENDPOINTS = [
    ("get", "/api/v1/customers/C1"),
    ("put", "/api/v1/customers/C1"),
    ("get", "/api/v1/customers/C1/balance"),
    ("get", "/api/v1/customers/C1/invoices"),
    ("post", "/api/v1/invoices"),
    ("put", "/api/v1/invoices/F1"),
    ("get", "/api/v1/invoices/F1"),
    ("post", "/api/v1/payments"),
    ("get", "/api/v1/payments/1"),
]
CUSTOMER = {"name": "Dupont"}
INVOICE = {"number": "F9", "customer_number": "C1", "issue_date": "2024-03-01",
           "due_date": "2024-03-31", "total_amount": "10.00"}
PAYMENT = {"customer_number": "C1", "amount": "5.00", "received_on": "2024-04-01"}


@pytest.mark.parametrize("method, path", ENDPOINTS)
@pytest.mark.parametrize("authorization", [None, "Bearer garbage", "Bearer ", "Basic abc",
                                           "Bearer cdk_not-a-key"])
def test_without_valid_credentials_every_endpoint_is_401(client, method, path, authorization):
    make_customer(number="C1")
    headers = {"Authorization": authorization} if authorization else {}
    response = getattr(client, method)(path, json={"name": "X"}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["message"]
    assert find_by_number("C1").name != "X"


def test_wrong_password_gets_no_token(app, client):
    make_staff_user(app, "ERP integration")
    response = client.post("/api/v1/security/login", json={
        "username": "erp_integration", "password": "wrong", "provider": "db", "refresh": False})
    assert response.status_code == 401
    assert "access_token" not in (response.get_json() or {})


def test_read_only_user_may_read_but_not_write(api_as):
    customer = make_customer(number="C1", name="Before")
    invoice = make_invoice(customer, total="10.00")
    reader = api_as("Read-only")
    assert reader.get("/api/v1/customers/C1").status_code == 200
    assert reader.get("/api/v1/customers/C1/balance").status_code == 200
    assert reader.get(f"/api/v1/invoices/{invoice.number}").status_code == 200

    assert reader.put("/api/v1/customers/C1", json=CUSTOMER).status_code == 403
    assert reader.put("/api/v1/customers/C2", json=CUSTOMER).status_code == 403
    assert reader.post("/api/v1/invoices", json=INVOICE).status_code == 403
    assert reader.put("/api/v1/invoices/F9", json=INVOICE).status_code == 403
    assert reader.post("/api/v1/payments", json=PAYMENT).status_code == 403
    assert find_by_number("C1").name == "Before"
    assert (count(Customer), count(Invoice), count(Payment)) == (1, 1, 0)


def test_erp_integration_user_may_write(erp):
    assert erp.put("/api/v1/customers/C1", json=CUSTOMER).status_code == 201
    assert erp.post("/api/v1/invoices", json=INVOICE).status_code == 201
    assert erp.post("/api/v1/payments", json=PAYMENT).status_code == 201


# --- API keys ---------------------------------------------------------------------------

def create_key(app, username: str) -> str:
    result = app.test_cli_runner().invoke(args=["creditdesk", "api-key", "create", username,
                                                "--name", "ERP test"])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def api_keys_on(app, monkeypatch):
    """FAB reads FAB_API_KEY_ENABLED on every request, so a test can switch it on alone."""
    monkeypatch.setitem(app.config, "FAB_API_KEY_ENABLED", True)


def test_api_key_of_the_erp_user_reads_and_writes(app, client, api_keys_on):
    make_staff_user(app, "ERP integration")
    key = create_key(app, "erp_integration")
    assert key.startswith("cdk_")  # CreditDesk's prefix (config.FAB_API_KEY_PREFIXES)
    erp = ApiClient(client, key)
    assert erp.put("/api/v1/customers/C1", json=CUSTOMER).status_code == 201
    assert erp.get("/api/v1/customers/C1/balance").get_json()["balance"] == "0.00"


def test_api_key_with_a_custom_prefix(app, client, api_keys_on, monkeypatch):
    monkeypatch.setitem(app.config, "FAB_API_KEY_PREFIXES", ["acme_"])
    make_staff_user(app, "ERP integration")
    key = create_key(app, "erp_integration")
    assert key.startswith("acme_")
    assert ApiClient(client, key).put("/api/v1/customers/C1", json=CUSTOMER).status_code == 201


def test_revoked_or_wrong_api_key_is_401(app, client, api_keys_on):
    user = make_staff_user(app, "ERP integration")
    key = create_key(app, "erp_integration")
    assert ApiClient(client, key[:-2] + "xx").put("/api/v1/customers/C1",
                                                  json=CUSTOMER).status_code == 401
    uuid = app.appbuilder.sm.find_api_keys_for_user(user.id)[0].uuid
    result = app.test_cli_runner().invoke(args=["creditdesk", "api-key", "revoke", uuid])
    assert result.exit_code == 0, result.output
    assert ApiClient(client, key).put("/api/v1/customers/C1", json=CUSTOMER).status_code == 401
    assert count(Customer) == 0


def test_api_key_of_a_read_only_user_cannot_write(app, client, api_keys_on):
    user = make_staff_user(app, "Read-only")
    assert [role.name for role in user.roles] == ["Read-only"]
    reader = ApiClient(client, create_key(app, "read_only"))
    assert reader.get("/api/v1/customers/C1").status_code == 404  # may read: not found
    assert reader.put("/api/v1/customers/C1", json=CUSTOMER).status_code == 403
    assert count(Customer) == 0


def test_api_keys_are_refused_while_the_flag_is_off(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "FAB_API_KEY_ENABLED", False)
    make_staff_user(app, "ERP integration")
    key = create_key(app, "erp_integration")
    assert ApiClient(client, key).put("/api/v1/customers/C1", json=CUSTOMER).status_code == 401


def test_api_key_for_an_unknown_user_is_refused_by_the_cli(app):
    result = app.test_cli_runner().invoke(args=["creditdesk", "api-key", "create", "nobody"])
    assert result.exit_code != 0
    assert "nobody" in result.output


def test_api_key_list_never_shows_the_key(app, api_keys_on):
    make_staff_user(app, "ERP integration")
    key = create_key(app, "erp_integration")
    listing = app.test_cli_runner().invoke(args=["creditdesk", "api-key", "list",
                                                 "erp_integration"])
    assert "ERP test" in listing.output and "active" in listing.output
    assert key not in listing.output

