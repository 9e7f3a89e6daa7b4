"""Files written before the file store keep working, and moving to a shared store keeps them:
a print batch in its old absolute folder, `flask storage copy-local` into the object store,
`flask storage check`, and the collection hand-over files."""
from __future__ import annotations

import io
import zipfile

import pytest

from app.core.storage import EXTENSION_KEY, from_url, storage
from app.extensions import db
from app.notifications.models import Message, PrintBatch
from app.notifications.print_batches import batch_zip
from app.requests import attachments
from app.requests.models import Attachment, CustomerRequest
from tests.helpers import make_customer
from tests.storage.conftest import free_port

PDF = b"%PDF-1.4 written before the file store\n%%EOF\n"


@pytest.fixture
def store_in(app, monkeypatch):
    """store_in(url): the test app uses that store from now on (as after a restart)."""
    def use(url: str):
        store = from_url(url)
        monkeypatch.setitem(app.extensions, EXTENSION_KEY, store)
        monkeypatch.setitem(app.config, "STORAGE_URL", url)
        return store

    return use


def test_a_print_batch_in_its_old_instance_folder_is_still_zipped(tmp_path):
    customer = make_customer(name="Old Letter", delivery_channel="paper")
    folder = tmp_path / "instance" / "letters" / "2025-01-01"
    batch = PrintBatch(name="2025-01-01", status="open", folder=str(folder))
    message = Message(customer=customer, channel="letter", recipient="Old Letter\nRue 1",
                      language="fr", event="payment_received", body_text="x",
                      status="sent", idempotency_key="old-letter", print_batch=batch)
    db.session.add_all([batch, message])
    db.session.commit()
    folder.mkdir(parents=True)
    (folder / f"{message.id:08d}.pdf").write_bytes(PDF)
    (folder / f"{message.id:08d}-enclosure-INV 7.pdf").write_bytes(PDF + b"enclosure")

    archive = zipfile.ZipFile(io.BytesIO(batch_zip(batch)))
    assert archive.read(f"{message.id:08d}.pdf") == PDF
    assert archive.read(f"{message.id:08d}-enclosure-INV 7.pdf") == PDF + b"enclosure"


def test_copy_local_moves_existing_uploads_into_the_object_store(app, object_store, store_in,
                                                                 tmp_path):
    # An attachment as the embedded default wrote it: a row and a file in UPLOAD_DIR.
    customer = make_customer(name="Before The Move")
    req = CustomerRequest(customer_id=customer.id, kind="dispute", status="received",
                          subject="INV-1", payload={})
    db.session.add(req)
    db.session.flush()
    [row] = attachments.store(req, [attachments.Upload("proof.pdf", "application/pdf", "pdf",
                                                       PDF)])
    db.session.commit()
    assert (attachments.upload_root() / row.storage_path).is_file()

    store_in(object_store.url())
    assert attachments.content_of(row) is None  # not in the object store yet
    runner = app.test_cli_runner()
    copied = runner.invoke(args=["storage", "copy-local"])
    assert copied.exit_code == 0, copied.output
    assert "already there" in copied.output and "object store" in copied.output
    assert attachments.content_of(db.session.get(Attachment, row.id)) == PDF
    again = runner.invoke(args=["storage", "copy-local"])
    assert again.exit_code == 0 and " 0 copied" in f" {again.output}"


def test_copy_local_moves_an_old_print_batch_folder_into_the_store(app, object_store, store_in,
                                                                   tmp_path):
    customer = make_customer(name="Letter Before The Move", delivery_channel="paper")
    folder = tmp_path / "instance" / "letters" / "2025-02-01"
    batch = PrintBatch(name="2025-02-01", status="open", folder=str(folder))
    message = Message(customer=customer, channel="letter", recipient="Rue 1", language="nl",
                      event="payment_received", body_text="x", status="sent",
                      idempotency_key="moved-letter", print_batch=batch)
    db.session.add_all([batch, message])
    db.session.commit()
    folder.mkdir(parents=True)
    (folder / f"{message.id:08d}.pdf").write_bytes(PDF)

    store_in(object_store.url())
    moved = app.test_cli_runner().invoke(args=["storage", "copy-local"])
    assert "1 print batch(es) moved" in moved.output, moved.output
    db.session.expire_all()
    batch = db.session.get(PrintBatch, batch.id)
    assert batch.folder == "letters/2025-02-01"
    assert storage().get(f"letters/2025-02-01/{message.id:08d}.pdf") == PDF
    assert zipfile.ZipFile(io.BytesIO(batch_zip(batch))).read(f"{message.id:08d}.pdf") == PDF


def test_storage_init_makes_the_bucket_once(app, object_store, store_in):
    runner = app.test_cli_runner()
    store_in(f"s3://creditdesk-new-bucket/files?endpoint={object_store.endpoint}"
             "&region=eu-west-1")
    first = runner.invoke(args=["storage", "init"])
    assert first.exit_code == 0 and first.output.startswith("made and checked"), first.output
    again = runner.invoke(args=["storage", "init"])
    assert again.exit_code == 0 and again.output.startswith("ok: object store"), again.output


def test_storage_check_says_ok_or_fails(app, object_store, store_in):
    runner = app.test_cli_runner()
    store_in(object_store.url())
    ok = runner.invoke(args=["storage", "check"])
    assert ok.exit_code == 0 and ok.output.startswith("ok: object store s3://creditdesk-files/")
    store_in(f"s3://creditdesk-files/x?endpoint=http://127.0.0.1:{free_port()}"
             "&max_attempts=1&connect_timeout=1")
    down = runner.invoke(args=["storage", "check"])
    assert down.exit_code == 1 and "EndpointConnectionError" in down.output


def test_collection_files_go_to_the_shared_store_once_one_is_configured(app, object_store,
                                                                        store_in):
    from plugins.collection_csv.export import CsvExport

    case = {"case_id": "CD-9", "handed_over_on": "2026-01-05",
            "creditor": {"name": "CreditDesk", "enterprise_number": "0123.456.789"},
            "debtor": {"number": "C9", "name": "Debtor", "kind": "person"},
            "invoices": [], "reminders": []}
    # The embedded default: the instance folder, as before.
    name = CsvExport({}).hand_over(case)
    from pathlib import Path

    assert (Path(app.instance_path) / "collection" / name).is_file()
    # With a shared store: in its collection/ folder, for every host's transfer job.
    store_in(object_store.url())
    assert CsvExport({}).hand_over(case) == "CD-9.csv"
    assert storage().get("collection/CD-9.csv").startswith(b"case_id;handed_over_on")


def test_the_letter_folder_setting_keeps_letters_in_that_local_folder(app, tmp_path):
    from plugins.letter.channel import LetterChannel, open_batch

    channel = LetterChannel({"folder": str(tmp_path / "print-shop")})
    batch = open_batch(channel.root)
    assert batch.folder == f"{tmp_path / 'print-shop'}/{batch.name}"
    default = LetterChannel({})
    assert default.root == "letters"
