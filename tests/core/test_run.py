"""`python run.py` on a fresh folder: migrates, seeds, prints logins, serves, limits logins."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def running_product(tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "TEST_DATABASE_URL", "SECRET_KEY"}}
    env.update(CREDITDESK_INSTANCE_DIR=str(instance), DEMO_PASSWORD="demo-pass-123",
               PYTHONUNBUFFERED="1")
    log = (instance / "run.log").open("w+")
    process = subprocess.Popen([sys.executable, "run.py", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                requests.get(base + "/login/", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        log.seek(0)
        output = log.read()
        assert process.poll() is None, f"run.py exited:\n{output}"
        yield base, output, instance
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def test_first_start_creates_sqlite_database_and_prints_logins(running_product):
    _, output, instance = running_product
    assert (instance / "creditdesk.db").exists()
    for role in ("Admin", "Credit manager", "AR clerk", "Compliance officer", "Read-only"):
        assert re.search(rf"{role}\s+\S+\s+demo-pass-123", output), output


def test_admin_logs_in_and_sees_the_demo_receivables(running_product):
    base, output, _ = running_product
    username = re.search(r"Admin\s+(\S+)\s+demo-pass-123", output).group(1)
    session = requests.Session()
    page = session.get(base + "/login/").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    session.post(base + "/login/", data={"username": username, "password": "demo-pass-123",
                                         "csrf_token": token})
    home = session.get(base + "/")
    assert home.status_code == 200
    assert "Logout" in home.text or "logout" in home.text
    customers = session.get(base + "/customerview/list/")
    assert customers.status_code == 200


def test_repeated_bad_logins_are_rate_limited(running_product):
    base, _, _ = running_product
    session = requests.Session()
    statuses = []
    for _ in range(12):
        page = session.get(base + "/login/")
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
        token = match.group(1) if match else ""
        response = session.post(base + "/login/", data={"username": "nobody", "password": "x",
                                                        "csrf_token": token},
                                allow_redirects=False)
        statuses.append(response.status_code)
    assert 429 in statuses, statuses
