"""The admin screen: upload -> preview -> import, with CSRF, as an AR clerk."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from tests.helpers import csrf_token
from tests.imports.conftest import customers_csv, db_state, invoice_row, invoices_csv


@pytest.fixture
def clerk(staff_client):
    return staff_client("AR clerk")


def _upload(client, kind: str, data: bytes, filename: str = "export.csv"):
    page = client.get("/imports/")
    assert page.status_code == 200
    return client.post(f"/imports/upload/{kind}", content_type="multipart/form-data",
                       data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                             "file": (io.BytesIO(data), filename)})


def _token(location: str) -> str:
    match = re.search(r"/imports/preview/(customers|invoices)/([0-9a-f]{32})$", location)
    assert match, location
    return match.group(2)


def test_upload_preview_import(app, clerk):
    response = _upload(clerk, "customers", customers_csv(), filename="../../klanten.csv")
    assert response.status_code == 302
    token = _token(response.headers["Location"])
    stored = Path(app.config["UPLOAD_DIR"]) / "imports" / f"{token}.csv"
    assert stored.read_bytes() == customers_csv()  # kept under our name, not the client's

    preview = clerk.get(response.headers["Location"])
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert 'id="preview-ok"' in html
    assert 'id="count-created">2<' in html
    assert "Boulangerie Dupré" in html  # the first rows are shown
    assert db_state()["customers"] == 0  # a preview changes nothing

    confirm = {"csrf_token": csrf_token(html), "kind": "customers", "token": token}
    result = clerk.post("/imports/run", data=confirm)
    html = result.get_data(as_text=True)
    assert result.status_code == 200
    assert "Imported: 2 created, 0 updated." in html
    assert db_state()["customers"] == 2
    assert not stored.exists()
    again = clerk.post("/imports/run", data=confirm)  # pressing Import twice
    assert again.status_code == 404
    assert "This upload was not found" in again.get_data(as_text=True)


def test_preview_lists_every_error_with_line_and_column_and_offers_no_import(
        clerk, known_customers):
    data = ("factuurnummer;klantnummer;factuurdatum;vervaldag;bedrag\r\n"
            "F-1;C100;01/06/2025;01/07/2025;12,50\r\n"
            "F-2;C100;01/06/2025;vandaag;12,50\r\n"
            "F-3;C999;01/06/2025;01/07/2025;12,50\r\n").encode("cp1252")
    before = db_state()

    response = _upload(clerk, "invoices", data)
    html = clerk.get(response.headers["Location"]).get_data(as_text=True)

    assert 'id="confirm-import"' not in html
    rows = re.findall(r'<tr class="danger import-error">\s*<td>(\d+)</td>\s*<td>(.*?)</td>'
                      r'\s*<td>(.*?)</td>', html, re.DOTALL)
    columns = [(line, " ".join(re.sub(r"<.*?>", " ", column).split()))
               for line, column, _message in rows]
    assert columns == [("3", "vervaldag (due_date)"), ("4", "klantnummer (customer_number)")]
    assert "Unknown customer number: C999." in rows[1][2]
    assert db_state() == before


def test_posts_without_csrf_token_are_refused(clerk):
    response = clerk.post("/imports/upload/customers", content_type="multipart/form-data",
                          data={"file": (io.BytesIO(customers_csv()), "export.csv")})
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)

    upload = _upload(clerk, "customers", customers_csv())
    response = clerk.post("/imports/run", data={"kind": "customers",
                                                "token": _token(upload.headers["Location"])})
    assert response.status_code == 400
    assert db_state()["customers"] == 0


@pytest.mark.parametrize("token", ["../../../../etc/passwd", "..", "0" * 32,
                                   "../imports/" + "a" * 32, "A" * 32])
def test_an_unknown_or_malformed_token_gives_a_message_not_a_500(clerk, token):
    html = clerk.get("/imports/").get_data(as_text=True)
    response = clerk.post("/imports/run", data={"csrf_token": csrf_token(html),
                                                "kind": "customers", "token": token})
    assert response.status_code == 404
    assert "This upload was not found" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/imports/preview/customers/" + "0" * 32,
                                  "/imports/preview/customers/..%2F..%2Fsecret_key",
                                  "/imports/preview/customers/..",
                                  "/imports/preview/nonsense/" + "0" * 32])
def test_preview_of_an_unknown_token_is_a_clear_404(clerk, path):
    response = clerk.get(path)
    assert response.status_code == 404


def test_a_file_that_is_not_csv_is_shown_as_an_error(clerk):
    response = _upload(clerk, "invoices", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    html = clerk.get(response.headers["Location"]).get_data(as_text=True)
    assert "This is not a CSV text file." in html


def test_an_upload_over_the_limit_is_refused(app, clerk, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 100)
    response = _upload(clerk, "customers", customers_csv() * 3)
    assert response.status_code == 413
    assert "The file is too large" in response.get_data(as_text=True)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 200)  # werkzeug refuses the request
    response = _upload(clerk, "customers", customers_csv() * 3)
    assert response.status_code == 413
    assert "The file is too large" in response.get_data(as_text=True)


def test_read_only_staff_cannot_import(staff_client):
    reader = staff_client("Read-only")
    assert reader.get("/imports/").status_code == 403
    assert "/imports/" not in reader.get("/").get_data(as_text=True)


def test_the_menu_shows_import_to_the_clerk(clerk):
    html = clerk.get("/").get_data(as_text=True)
    assert 'href="/imports/"' in html


def test_importing_a_file_whose_preview_had_errors_imports_nothing(clerk):
    upload = _upload(clerk, "invoices", invoices_csv([invoice_row("F-1", customer="C1")]))
    html = clerk.get(upload.headers["Location"]).get_data(as_text=True)
    assert "Unknown customer number: C1." in html
    token = _token(upload.headers["Location"])
    # The preview offers no Import button; a hand-made POST still imports nothing.
    index = clerk.get("/imports/").get_data(as_text=True)
    result = clerk.post("/imports/run", data={"csrf_token": csrf_token(index),
                                              "kind": "invoices", "token": token})
    assert "Nothing was imported." in result.get_data(as_text=True)
    assert db_state()["invoices"] == 0


def test_upload_without_a_file_asks_for_one(clerk):
    html = clerk.get("/imports/").get_data(as_text=True)
    response = clerk.post("/imports/upload/invoices", content_type="multipart/form-data",
                          data={"csrf_token": csrf_token(html)})
    assert response.status_code == 400
    assert "Choose a CSV file." in response.get_data(as_text=True)
