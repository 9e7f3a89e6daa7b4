"""Customer API speed: balance + open invoices under load, and webhook deliveries.

    python -m bench.customer_api --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench \\
        --redis-url redis://127.0.0.1:6379/8

Against a database filled by ``bench.generate`` (100k customers / 1M invoices):

1. makes API keys for a sample of customers (through app.customer_api.keys; revoked and
   removed at the end);
2. serves the real app with gunicorn on 127.0.0.1 as shipped (3 sync workers, like the
   Dockerfile and docker-compose) and sends 16 concurrent clients (wrk when
   installed, else Python threads) at GET /api/customer/v1/balance and
   GET /api/customer/v1/invoices?status=open, each request with one of the sample keys in
   turn: key lookup, use recorded, audit event, rate limit, ETag, all included;
3. does the same against a bare Flask endpoint (no FAB, no key, no audit) running the same
   SQL (overview.dashboard and the same select_with_state page), in the same run;
4. prints p50/p95/p99 per endpoint for both next to the target (p95 <= 50 ms) and the API's
   throughput as a share of the bare app's (target >= 50 %);
5. queues 10,000 webhook deliveries (test events to one endpoint on a local receiver) through
   the outbox, then starts 2 RQ workers and times them delivering all (target <= 30 s; their
   start-up included, and the queueing beforehand printed apart), next to a baseline: the
   same 10,000 signed POSTs from 2 plain threads to the same receiver.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click

from bench.load import BEARER, Server, alternate, have_wrk

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/api/customer/v1"
ENDPOINTS = {"balance": PREFIX + "/balance", "open_invoices": PREFIX + "/invoices?status=open"}
TARGET_P95_MS = 50.0
TARGET_RATIO = 0.5
TARGET_WEBHOOK_SECONDS = 30.0


def api_app():
    """The real app (gunicorn "bench.customer_api:api_app()"), without a rate limit."""
    from app import create_app

    app = create_app()
    app.config["CUSTAPI_RATE_LIMIT"] = 10 ** 9
    return app


def bare_app():
    """Plain Flask + Flask-SQLAlchemy running the API's two reads (same service functions)."""
    from flask import Flask, jsonify
    from flask_appbuilder.security.sqla import models as _fab_models  # noqa: F401
    from flask_babel import Babel

    from app import models  # noqa: F401  (the whole metadata, as in the real app)
    from app.accounts import overview
    from app.accounts.invoice_states import select_with_state, state_from_row
    from app.core import read_transactions
    from app.core.time import business_today
    from app.customers.models import Customer
    from app.extensions import db
    from app.invoices.models import Invoice, invoice_is_open
    from config import Config

    app = Flask("bare")
    app.config.from_object(Config)
    db.init_app(app)
    # The same transaction handling as the app (a read-only request commits, so psycopg keeps
    # its prepared statements): the baseline runs the same SQL the same way, without the app.
    read_transactions.init_app(app)
    Babel(app)

    @app.get("/bare/balance/<int:customer_id>")
    def balance(customer_id: int):
        board = overview.dashboard(db.session.get(Customer, customer_id))
        return jsonify(balance=str(board.balance_due), overdue=str(board.overdue_amount))

    @app.get("/bare/open_invoices/<int:customer_id>")
    def open_invoices(customer_id: int):
        today = business_today()
        rows = db.session.execute(select_with_state(
            customer_id, Invoice.id > 0, Invoice.status != "cancelled",
            invoice_is_open()).order_by(Invoice.id).limit(51)).all()
        return jsonify(items=[{"number": s.invoice.number, "status": s.status_key}
                              for s in (state_from_row(r, today) for r in rows[:50])])

    @app.get("/bare/ping")
    def ping():
        return "ok"

    return app


# --- keys ---------------------------------------------------------------------------------------

def sample_keys(count: int) -> list[tuple[int, str, int]]:
    """[(customer id, key, key id)] for ``count`` customers that have open invoices."""
    from sqlalchemy import select

    from app.customer_api import keys
    from app.customers.models import Customer
    from app.extensions import db
    from app.invoices.models import OPEN_STATUSES, Invoice

    ids = list(db.session.scalars(select(Invoice.customer_id).where(
        Invoice.status.in_(OPEN_STATUSES)).distinct().limit(count * 20)))[::20][:count]
    made = []
    for customer_id in ids:
        new = keys.create_key(db.session.get(Customer, customer_id), "bench", "read",
                              actor="bench")
        made.append((customer_id, new.secret, new.key.id))
    db.session.commit()
    return made


def remove_keys(key_ids: list[int]) -> None:
    from app.customer_api.models import ApiKey
    from app.extensions import db

    db.session.query(ApiKey).filter(ApiKey.id.in_(key_ids)).delete(synchronize_session=False)
    db.session.commit()


# --- webhooks -------------------------------------------------------------------------------

class Receiver:
    def __init__(self) -> None:
        self.count = 0
        self.first: float | None = None  # perf_counter of the first POST
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.count += 1
                    if receiver.first is None:
                        receiver.first = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count >= count:
                return True
            time.sleep(0.05)
        return False


def baseline_posts(url: str, secret: str, count: int, threads: int = 2) -> float:
    """The same number of signed POSTs from plain threads (no outbox, no database)."""
    import requests

    from app.customer_api import signing

    per = count // threads

    def post(n: int) -> None:
        session = requests.Session()
        for i in range(per):
            body = b'{"type":"test","data":{}}'
            session.post(url, data=body, headers=signing.headers(
                secret, f"msg_{n}_{i}", int(time.time()), body), timeout=30)

    started = time.perf_counter()
    workers = [threading.Thread(target=post, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def webhook_run(app, env: dict[str, str], count: int
                ) -> tuple[float, float, int, float, float]:
    from sqlalchemy import select

    from app.core.plugins import get_plugin, plugin_config
    from app.customer_api import webhooks
    from app.customers.models import Customer
    from app.extensions import db
    from app.notifications.models import Message

    receiver = Receiver()
    with app.app_context():
        app.config["CUSTAPI_WEBHOOK_ALLOW_PRIVATE"] = True
        plugin_config(get_plugin("webhook")).enabled = True
        customer = db.session.scalar(select(Customer).order_by(Customer.id).limit(1))
        endpoint, secret = webhooks.add_endpoint(customer, receiver.url, ["payment.received"])
        db.session.commit()
        baseline = baseline_posts(receiver.url, secret, count)
        receiver.count, receiver.first = 0, None
        # The events are queued first (their delivery jobs wait in Redis), then the two workers
        # start: the figure is the delivery itself, worker start-up included.
        begun = time.perf_counter()
        for start in range(0, count, 1000):
            for i in range(start, min(start + 1000, count)):
                webhooks.fan_out(customer, event="test", only_endpoint=endpoint,
                                 data={"n": i}, idempotency_key=f"bench:{begun}:{i}")
            db.session.commit()  # the outbox enqueues the delivery jobs after each commit
        queued = time.perf_counter() - begun
        started = time.perf_counter()
        workers = [subprocess.Popen([sys.executable, "-m", "flask", "--app",
                                     "bench.customer_api:worker_app()", "creditdesk", "worker"],
                                    cwd=ROOT, env=env) for _ in range(2)]
        try:
            receiver.wait_for(count, 600)
            elapsed = time.perf_counter() - started
            first = (receiver.first - started) if receiver.first else float("nan")
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:  # RQ's warm shutdown waits for its job
                    worker.kill()
                    worker.wait()
        sent = db.session.scalar(select(db.func.count(Message.id)).where(
            Message.recipient == f"endpoint:{endpoint.id}", Message.status == "sent"))
        webhooks.remove_endpoint(endpoint)
        db.session.commit()
    receiver.server.shutdown()
    return elapsed, baseline, sent, queued, first


def worker_app():
    from app import create_app

    app = create_app()
    app.config["CUSTAPI_WEBHOOK_ALLOW_PRIVATE"] = True
    return app


# --- main -----------------------------------------------------------------------------------

@click.command()
@click.option("--database-url", "url", default=None)
@click.option("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/8"))
@click.option("--clients", default=16, show_default=True)
@click.option("--customers", default=200, show_default=True)
@click.option("--seconds", default=15, show_default=True)
# The server as shipped: the Dockerfile and docker-compose run `gunicorn --workers 3` (sync).
@click.option("--workers", default=3, show_default=True, help="gunicorn workers")
@click.option("--threads", default=1, show_default=True,
              help="threads per gunicorn worker (more than 1: the gthread worker class)")
@click.option("--webhooks", "webhook_count", default=10000, show_default=True)
@click.option("--http/--no-http", default=True, help="Measure the two reads (else webhooks only).")
def main(url, redis_url, clients, customers, seconds, workers, threads, webhook_count, http):
    from app import create_app
    from app.extensions import db
    from app.setup_cli import prepare_database
    from bench.generate import database_url
    from config import Config

    url = database_url(url)
    click.echo(f"load average at start: {_load()}")
    secret_key = secrets.token_hex(32)
    instance = tempfile.mkdtemp(prefix="creditdesk-bench-")
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": secret_key, "JOBS_MODE": "sync",
           "REDIS_URL": "", "SEED_DEMO_DATA": "0", "CREDITDESK_INSTANCE_DIR": instance,
           "FAB_UPDATE_PERMS": "0", "PYTHONPATH": str(ROOT), "PUBLIC_URL_REQUIRED": "0",
           # the workers must decrypt the webhook secret this process encrypts
           "CREDITDESK_ENCRYPTION_KEY": str(Config.ENCRYPTION_KEYS)}
    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SECRET_KEY=secret_key,
                     JOBS_MODE="sync", SEED_DEMO_DATA=False, REDIS_URL="")
    with app.app_context():
        prepare_database()
        click.echo(f"database: {db.engine.url.render_as_string(hide_password=True)}")
        sample = sample_keys(customers) if http else []
    if http:
        measure_reads(sample, env, clients, seconds, workers, threads, app)
    if webhook_count:
        rq_env = {**env, "REDIS_URL": redis_url, "JOBS_MODE": "rq"}
        rq_app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SECRET_KEY=secret_key,
                            JOBS_MODE="rq", REDIS_URL=redis_url, SEED_DEMO_DATA=False)
        elapsed, baseline, sent, queued, first = webhook_run(rq_app, rq_env, webhook_count)
        click.echo("")
        met = elapsed <= TARGET_WEBHOOK_SECONDS and sent == webhook_count
        click.echo(f"webhooks: {sent:,} of {webhook_count:,} delivered through the outbox by "
                   f"2 RQ workers in {elapsed:.1f} s (target <= {TARGET_WEBHOOK_SECONDS:.0f} s: "
                   f"{'met' if met else 'NOT met'}); baseline, the same signed POSTs from "
                   f"2 plain threads: {baseline:.1f} s. (Timed from the workers' start, their "
                   f"start-up included: the first POST came after {first:.1f} s. Queueing the "
                   f"events beforehand took {queued:.1f} s.)")
    click.echo(f"load average at the end: {_load()}")


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} cores)"


def measure_reads(sample, env, clients, seconds, workers, threads, app) -> None:
    click.echo(f"{len(sample)} customers with a key; {clients} clients; {workers} gunicorn "
               f"workers x {threads} threads; load: "
               f"{'wrk' if have_wrk() else 'Python threads'}; {seconds} s per endpoint and app, "
               f"in 3 alternating rounds")
    # Both servers stay up and are loaded in turn (bench.load.alternate).
    servers = {}
    try:
        for name, target, probe in (("bare", "bench.customer_api:bare_app()", "/bare/ping"),
                                    ("api", "bench.customer_api:api_app()",
                                     PREFIX + "/openapi.json")):
            servers[name] = Server(target, env, workers, threads)
            servers[name].wait_ready(probe)

        def items_for(name: str, endpoint: str) -> list[tuple[str, str]]:
            if name == "api":
                return [(ENDPOINTS[endpoint], key) for _cid, key, _kid in sample]
            return [(f"/bare/{endpoint}/{cid}", "") for cid, _key, _kid in sample]

        figures = alternate(servers, items_for, list(ENDPOINTS), clients, seconds, warmup=2,
                            credential=BEARER, wrk_threads=2)
    finally:
        for server in servers.values():
            server.stop()
        with app.app_context():
            remove_keys([kid for _cid, _key, kid in sample])
    click.echo("")
    click.echo(f"{'endpoint':<15} {'app':<5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
               f"{'req/s':>8} {'errors':>7}")
    for endpoint in ENDPOINTS:
        for name in ("api", "bare"):
            f = figures[name][endpoint]
            click.echo(f"{endpoint:<15} {name:<5} {f.p50:>8.1f} {f.p95:>8.1f} "
                       f"{f.p99:>8.1f} {f.per_second:>8.0f} {len(f.errors):>7}"
                       + (f"  {f.errors}" if f.errors else ""))
        api, bare = figures["api"][endpoint], figures["bare"][endpoint]
        share = api.per_second / bare.per_second if bare.per_second else 0.0
        click.echo(f"  -> p95 {api.p95:.1f} ms (target <= {TARGET_P95_MS:.0f}: "
                   f"{'met' if api.p95 <= TARGET_P95_MS else 'NOT met'}); throughput "
                   f"{share:.0%} of bare Flask (target >= {TARGET_RATIO:.0%}: "
                   f"{'met' if share >= TARGET_RATIO else 'NOT met'})")


if __name__ == "__main__":
    main()
