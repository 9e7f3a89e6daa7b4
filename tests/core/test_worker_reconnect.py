"""`flask creditdesk worker` outlives Redis: a throw-away redis-server on a free port is killed
and started again; the worker process is still there and runs a job enqueued afterwards.

Needs the redis-server binary (not TEST_REDIS_URL: the server is the test's own).
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest

from app import jobs
from app.customers.models import Customer
from app.extensions import db
from tests.conftest import _TMP, database_url
from tests.helpers import make_customer, make_invoice
from tests.notifications.workers import start_worker, stop

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(not REDIS_SERVER, reason="needs the redis-server binary")


def slow_job(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_redis(port: int, folder: Path) -> subprocess.Popen:
    process = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", str(folder)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait(lambda: _answers(port), 20, "redis-server to start")
    return process


def _answers(port: int) -> bool:
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        return bool(Redis(port=port, socket_connect_timeout=0.5).ping())
    except RedisConnectionError:
        return False


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _workers(url: str) -> int:
    from redis import Redis
    from rq import Worker

    return len(Worker.all(connection=Redis.from_url(url)))


def test_the_worker_reconnects_after_redis_restarts_and_runs_new_jobs(app, monkeypatch,
                                                                      tmp_path):
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    redis_server = _start_redis(port, tmp_path)
    log_path = tmp_path / "worker.log"
    worker = start_worker(database_url(), url, str(_TMP / "instance"), log_path)
    try:
        _wait(lambda: _workers(url) == 1, 60, "the worker to register")
        # Redis goes away while a job runs: finishing it, RQ's worker cannot write the result,
        # leaves its loop and (before) the process exited.
        from redis import Redis
        from rq import Queue

        connection = Redis.from_url(url)
        job = Queue("default", connection=connection).enqueue(
            jobs.run_in_app_context, "tests.core.test_worker_reconnect.slow_job", 3)
        _wait(lambda: job.get_status(refresh=True) == "started", 60, "the slow job to start")
        connection.close()
        redis_server.kill()
        redis_server.wait(timeout=10)
        time.sleep(8)  # the job ends, the worker finds Redis gone
        assert worker.poll() is None, log_path.read_text()[-3000:]

        redis_server = _start_redis(port, tmp_path)
        customer = make_customer()
        make_invoice(customer, total="42.00")
        customer.balance = Decimal("999.99")
        db.session.commit()
        monkeypatch.setitem(app.config, "JOBS_MODE", "rq")
        monkeypatch.setitem(app.config, "REDIS_URL", url)
        job_id = jobs.enqueue("app.customers.jobs.refresh_all_balances", job_id="after-restart")

        def balance_repaired() -> bool:
            db.session.rollback()
            return db.session.get(Customer, customer.id).balance == Decimal("42.00")

        _wait(balance_repaired, 90, f"job {job_id} to run after the restart\n"
                                    + log_path.read_text()[-3000:])
        assert worker.poll() is None
        assert "reconnecting in" in log_path.read_text()  # our back-off, not RQ's own wait
    finally:
        stop(worker)
        if redis_server.poll() is None:
            redis_server.kill()
            redis_server.wait(timeout=10)
