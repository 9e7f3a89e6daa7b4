"""The two file-store backends behave alike: the local folder and a real S3-compatible server."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.core.storage import BadKey, StorageUnavailable, from_url
from app.core.storage.local import LocalStore
from tests.storage.conftest import free_port


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return from_url(f"file://{tmp_path / 'files'}")
    return from_url(request.getfixturevalue("object_store").url())


def test_put_get_list_delete(store):
    assert store.get("requests/1/a.pdf") is None and not store.exists("requests/1/a.pdf")
    store.put("requests/1/a.pdf", b"%PDF-1 first")
    store.put("requests/1/a.pdf", b"%PDF-1 second")  # replaced whole
    store.put("requests/1/b.png", b"\x89PNG")
    store.put("requests/10/c.pdf", b"%PDF-other")
    store.put("letters/2026-01-01/00000007-enclosure-INV-1.pdf", b"%PDF-enc")
    assert store.get("requests/1/a.pdf") == b"%PDF-1 second"
    assert store.exists("requests/1/b.png")
    listed = store.list("requests/1/")
    assert [f.key for f in listed] == ["requests/1/a.pdf", "requests/1/b.png"]
    assert listed[0].size == len(b"%PDF-1 second")
    assert abs(listed[0].modified - datetime.now(UTC)) < timedelta(minutes=5)
    assert [f.key for f in store.list("letters/2026-01-01/00000007-enclosure-")] == [
        "letters/2026-01-01/00000007-enclosure-INV-1.pdf"]
    assert [f.key for f in store.list("requests/")] == [
        "requests/1/a.pdf", "requests/1/b.png", "requests/10/c.pdf"]
    store.delete("requests/1/a.pdf")
    store.delete("requests/1/a.pdf")  # already gone: not an error
    assert store.get("requests/1/a.pdf") is None
    store.check()


@pytest.mark.parametrize("key", ["../secret", "/etc/passwd", "requests/../../x", "a//b", "",
                                 "requests/1/a\\b.pdf", "requests/\x00.pdf", "./a"])
def test_a_key_that_could_leave_the_store_is_refused(store, key):
    with pytest.raises(BadKey):
        store.put(key, b"x")
    with pytest.raises(BadKey):
        store.get(key)


def test_a_local_folder_that_cannot_be_written_reports_the_store_down(tmp_path, app):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the upload folder should be (an unmounted share)")
    store = LocalStore(blocker)
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        with pytest.raises(StorageUnavailable) as caught:
            store.put("requests/1/a.pdf", b"%PDF-")
        assert "rien n'a été enregistré" in caught.value.message  # in the reader's language
        with pytest.raises(StorageUnavailable):
            store.get("requests/1/a.pdf")
    assert list(tmp_path.iterdir()) == [blocker]  # no half-written file anywhere


def test_an_object_store_that_does_not_answer_is_reported_down(app):
    store = from_url(f"s3://creditdesk-files/x?endpoint=http://127.0.0.1:{free_port()}"
                     "&max_attempts=1&connect_timeout=1")
    with pytest.raises(StorageUnavailable) as caught:
        store.put("requests/1/a.pdf", b"%PDF-")
    assert "cannot be reached" in caught.value.message
    assert "EndpointConnectionError" in str(caught.value)  # the operator's log says why
    with pytest.raises(StorageUnavailable):
        store.get("requests/1/a.pdf")


def test_object_store_keys_live_under_the_prefix(object_store):
    import boto3

    first = from_url(object_store.url("deployment-one"))
    second = from_url(object_store.url("deployment-two"))
    first.put("imports/a.csv", b"one")
    assert second.get("imports/a.csv") is None  # two deployments can share one bucket
    raw = boto3.client("s3", endpoint_url=object_store.endpoint, region_name="eu-west-1")
    assert raw.get_object(Bucket=object_store.bucket,
                          Key="deployment-one/imports/a.csv")["Body"].read() == b"one"


@pytest.mark.parametrize("url, message", [
    ("ftp://files.example/x", "unknown kind of store"),
    ("s3://key:secret@bucket/x", "AWS_ACCESS_KEY_ID"),
    ("s3://bucket/x?endpont=http://127.0.0.1:9000", "unknown option"),
    ("file://server/share", "absolute local folder"),
])
def test_a_storage_url_we_cannot_use_stops_the_start_saying_why(url, message):
    with pytest.raises(ValueError) as caught:
        from_url(url, default_dir="/tmp/uploads")
    assert message in str(caught.value)


def test_the_embedded_default_is_the_upload_folder(app):
    from app.core.storage import storage

    store = storage(app)
    assert isinstance(store, LocalStore)
    assert str(store.root) == app.config["UPLOAD_DIR"]


def test_a_dispute_whose_second_file_cannot_be_stored_keeps_neither(app, tmp_path, monkeypatch):
    """The store fails after the first file (a disk filling up, a store going away between
    two PUTs): the first file is removed again, no dispute, request or attachment row stays."""
    from sqlalchemy import func, select

    from app.core.storage import EXTENSION_KEY
    from app.core.validation import ValidationError
    from app.extensions import db
    from app.requests.disputes import open_dispute
    from app.requests.models import Attachment, CustomerRequest, Dispute
    from tests.helpers import make_customer, make_invoice

    class FullAfterOneFile(LocalStore):
        def put(self, key: str, data: bytes) -> None:
            if self.list("requests/"):
                raise StorageUnavailable("put", key, OSError(28, "No space left on device"))
            super().put(key, data)

    from app.notifications.defaults import install_defaults

    install_defaults()  # the acknowledgement the request sends
    folder = tmp_path / "files"
    monkeypatch.setitem(app.extensions, EXTENSION_KEY, FullAfterOneFile(folder))
    customer = make_customer(language="en")
    invoice = make_invoice(customer, total="100.00", due_in_days=-20)
    with pytest.raises(ValidationError) as caught:
        open_dispute(customer, invoice, None, "quality", "x",
                     [("a.pdf", b"%PDF-1.4 a"), ("b.png", b"\x89PNG\r\n\x1a\n b")])
    assert "nothing was saved" in caught.value.errors["files"][0]
    db.session.rollback()
    assert [p for p in folder.rglob("*") if p.is_file()] == []
    for model in (Dispute, CustomerRequest, Attachment):
        assert db.session.scalar(select(func.count()).select_from(model)) == 0
