"""File-store fixtures: a real S3-compatible server (moto's, on loopback) and hosts.

``object_store`` starts ``python -m moto.server`` (the moto[s3] package; it speaks the S3 HTTP
API, SigV4 included) on a free port for the test session and makes a bucket; the S3 backend
talks to it over real HTTP exactly as to MinIO or AWS.

``hosts(storage_url)`` builds two more apps — two "hosts" with their own instance and upload
folders — on the test database and the given store, each served on its own HTTP port.
"""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS = {"AWS_ACCESS_KEY_ID": "creditdesk-test", "AWS_SECRET_ACCESS_KEY": "creditdesk-secret"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ObjectStore:
    endpoint: str
    bucket: str

    def url(self, prefix: str = "") -> str:
        # One attempt and short time-outs: a test about a store that is down fails fast.
        return (f"s3://{self.bucket}/{prefix or secrets.token_hex(4)}?endpoint={self.endpoint}"
                "&region=eu-west-1&max_attempts=2&connect_timeout=2&read_timeout=10")


@pytest.fixture(scope="session")
def object_store():
    pytest.importorskip("moto.server", reason="needs moto[s3] and flask-cors (test extra)")
    pytest.importorskip("boto3", reason="needs boto3 (the s3 extra)")
    import boto3

    for name, value in ACCESS.items():
        os.environ.setdefault(name, value)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                               "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError("the moto S3 server did not start") from None
                time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1").create_bucket(
            Bucket="creditdesk-files",
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield ObjectStore(endpoint, "creditdesk-files")
    finally:
        server.terminate()
        server.wait(10)


@dataclass
class Host:
    app: object
    url: str
    folder: Path  # its own instance folder (upload folder inside)


@pytest.fixture
def hosts(tmp_path):
    """hosts(storage_url) -> (host A, host B): two apps, one database, one file store."""
    from app import create_app
    from app.extensions import db
    from config import TestConfig
    from tests.browser_support import live_server
    from tests.conftest import database_url

    with ExitStack() as stack:
        made: list[Host] = []

        def make(storage_url: str) -> tuple[Host, Host]:
            pair = []
            for name in ("host-a", "host-b"):
                folder = tmp_path / name
                app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url(),
                                 INSTANCE_DIR=str(folder / "instance"),
                                 UPLOAD_DIR=str(folder / "instance" / "uploads"),
                                 STORAGE_URL=storage_url,
                                 REDIS_URL=os.environ.get("TEST_REDIS_URL", ""))
                url = stack.enter_context(live_server(app))
                pair.append(Host(app, url, folder))
            made.extend(pair)
            return pair[0], pair[1]

        yield make
        for host in made:
            with host.app.app_context():
                db.session.remove()
                db.engine.dispose()


@contextmanager
def app_context_of(host: Host):
    """Run code as that host (its file store); the session's own context comes back after."""
    from app.extensions import db

    with host.app.app_context():
        try:
            yield
        finally:
            db.session.remove()
