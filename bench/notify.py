"""Notifications throughput: 10,000 e-mails rendered and delivered by two RQ workers.

    python -m bench.notify [--messages 10000] [--workers 2] [--redis-url URL]
                           [--database-url URL] [--customers 500]

What is timed: from the first ``queue_message`` (rendering the template for the customer and
writing the outbox row, committed in chunks of 500 like a batch job would) until the local SMTP
server (aiosmtpd on loopback, in its own process) has accepted every message, delivered by real
``flask creditdesk worker`` processes on the real Redis. The target is at most 20 s, and at most
1.2 times the baseline below. Each chunk is prepared like a batch job does it
(``outbox.prepare_batch``: the chunk's contacts and existing idempotency keys read at once), and
its commit writes the chunk's outbox rows in one multi-row INSERT.

The baseline, measured in the same run against the same server: the same rendered messages sent
with plain smtplib over one connection from one process — the floor for a single sender, with no
outbox, no status bookkeeping and no crash safety. It writes each mail with the SMTP plugin's
own writer (``email_bytes``), so a faster writer speeds the baseline up as much as the outbox.

The database is --database-url / BENCH_DATABASE_URL (PostgreSQL, as in production: its schema
is dropped and recreated) or else a fresh SQLite file, where the workers' writes queue behind
one lock and the figure is lower. The Redis database must be one the bench may use: its
"default" queue receives the jobs and must be empty at the start.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 20
TARGET_RATIO = 1.2  # at most this many times the raw smtplib baseline of the same run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _smtp_server(port: int, counter, ready) -> None:
    """The receiving SMTP server (own process, so it does not share a GIL with the sender)."""
    from aiosmtpd.controller import Controller

    class Count:
        async def handle_DATA(self, server, session, envelope):
            with counter.get_lock():
                counter.value += 1
            return "250 OK"

    parent = os.getppid()
    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while os.getppid() == parent:  # ends with the bench, even one killed with -9
        time.sleep(0.5)
    controller.stop()


def _start_worker(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "creditdesk",
                             "worker"], cwd=ROOT, env=env, stdout=open(log, "ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(counter, goal: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if counter.value >= goal:
            return True
        time.sleep(0.02)
    return False


@click.command()
@click.option("--messages", default=10_000, show_default=True)
@click.option("--workers", default=2, show_default=True)
@click.option("--customers", default=500, show_default=True)
@click.option("--redis-url", default=lambda: os.environ.get("REDIS_URL")
              or "redis://127.0.0.1:6379/11", show_default="REDIS_URL or db 11 on localhost")
@click.option("--database-url", default=lambda: os.environ.get("BENCH_DATABASE_URL"),
              help="Default: BENCH_DATABASE_URL, else a fresh SQLite file (SQLite serialises "
                   "the workers' writes: production runs workers on PostgreSQL).")
def main(messages: int, workers: int, customers: int, redis_url: str,
         database_url: str | None) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="creditdesk-bench-notify-"))
    database_url = database_url or f"sqlite:///{workdir / 'bench.db'}"
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "JOBS_MODE": "rq", "CREDITDESK_INSTANCE_DIR": str(workdir / "instance"),
           "SEED_DEMO_DATA": "0", "LOG_LEVEL": "WARNING",
           # Messages carry links: any public address will do for the bench.
           "PUBLIC_URL": os.environ.get("PUBLIC_URL") or "https://credit.example.test"}
    os.environ.update(env)  # before config.py is imported: the app below uses the same

    from app import create_app
    from app.extensions import db
    from app.jobs import redis_connection
    from app.setup_cli import prepare_database

    app = create_app()
    port = _free_port()
    spawn = multiprocessing.get_context("spawn")
    counter, ready = spawn.Value("i", 0), spawn.Event()
    server = spawn.Process(target=_smtp_server, args=(port, counter, ready), daemon=True)
    server.start()
    ready.wait(30)
    processes: list[subprocess.Popen] = []
    try:
        with app.app_context():
            if database_url.startswith("postgres"):
                _reset_postgres(db)
            prepare_database()
            customer_ids = _setup(app, port, customers)
            connection = redis_connection(app)
            queued = connection.llen("rq:queue:default")
            if queued:
                raise click.UsageError(f"the Redis 'default' queue at {redis_url} already holds "
                                       f"{queued} jobs; use another Redis database")
            processes = [_start_worker(env, workdir / f"worker{n}.log") for n in range(workers)]
            _wait_workers(connection, workers)

            click.echo(f"delivering {messages:,} e-mails with {workers} RQ workers "
                       f"({database_url.split(':')[0]}, Redis {redis_url})")
            producer_cpu = time.process_time()
            workers_cpu = sum(_cpu_seconds(p.pid) for p in processes)
            server_cpu = _cpu_seconds(server.pid)
            started = time.perf_counter()
            _queue_all(messages, customer_ids)
            rendered = time.perf_counter() - started
            if not _wait_for(counter, messages, timeout=600):
                raise click.ClickException(f"only {counter.value} of {messages} delivered")
            elapsed = time.perf_counter() - started

            cpu = {"producer (rendering, outbox rows)": time.process_time() - producer_cpu,
                   f"{workers} RQ workers (delivery)": sum(_cpu_seconds(p.pid)
                                                          for p in processes) - workers_cpu,
                   "SMTP server": _cpu_seconds(server.pid) - server_cpu}
            before = counter.value
            baseline = _baseline(port, messages)
            if not _wait_for(counter, before + messages, timeout=60):
                raise click.ClickException("the baseline's mails did not all arrive")
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
        server.terminate()

    verdict = "OK" if elapsed <= TARGET_SECONDS else "TOO SLOW"
    ratio = elapsed / baseline
    click.echo(f"outbox + {workers} RQ workers : {messages:,} e-mails rendered and delivered in "
               f"{elapsed:6.1f} s = {messages / elapsed:7.0f}/s  (rendering and queueing "
               f"{rendered:.1f} s)  target <= {TARGET_SECONDS} s: {verdict}")
    click.echo(f"baseline raw smtplib, 1 proc: {messages:,} e-mails sent               in "
               f"{baseline:6.1f} s = {messages / baseline:7.0f}/s  (same messages, one "
               f"connection, no outbox)")
    click.echo(f"ratio outbox / raw smtplib  : {ratio:5.2f} x  target <= {TARGET_RATIO} x: "
               f"{'OK' if ratio <= TARGET_RATIO else 'TOO SLOW'}")
    load = os.getloadavg()[0]
    click.echo(f"CPU seconds spent ({os.cpu_count()} CPUs, load average {load:.1f} at the end; "
               f"the database server's share is not counted):")
    for name, seconds in cpu.items():
        click.echo(f"  {name:<36} {seconds:6.1f} s = {seconds * 1000 / messages:5.2f} ms/e-mail")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its finished children (RQ's work horses)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _reset_postgres(db) -> None:
    from sqlalchemy import text

    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


def _setup(app, port: int, count: int) -> list[int]:
    """Templates, the SMTP plugin pointed at the local server, and customers to write to."""
    from app.core.plugins import get_plugin, plugin_config
    from app.customers.models import Contact, Customer
    from app.extensions import db
    from app.notifications.defaults import install_defaults

    install_defaults()
    row = plugin_config(get_plugin("email_smtp"))
    row.enabled = True
    row.settings = {**(row.settings or {}), "host": "127.0.0.1", "port": port,
                    "security": "none"}
    languages = ("fr", "nl", "en")
    customers = [Customer(number=f"B{n:06d}", name=f"Bench Customer {n}",
                          language=languages[n % 3], email=f"bench{n}@example.test")
                 for n in range(count)]
    db.session.add_all(customers)
    db.session.flush()
    db.session.add_all(Contact(customer_id=c.id, name=f"Contact {c.number}", role="billing",
                               email=c.email) for c in customers)
    db.session.commit()
    return [c.id for c in customers]


def _queue_all(total: int, customer_ids: list[int], chunk: int = 500) -> None:
    """Render and queue every message; each chunk's commit hands its jobs to the workers."""
    from decimal import Decimal

    from app.core.time import business_today
    from app.customers.models import Customer
    from app.extensions import db
    from app.notifications.outbox import prepare_batch, queue_message

    customers = {c.id: c for c in db.session.query(Customer).filter(
        Customer.id.in_(customer_ids))}
    today = business_today()
    for start in range(0, total, chunk):
        numbers = range(start, min(start + chunk, total))
        # What a batch job does: the batch's contacts and existing keys read in one go.
        prepare_batch([customers[customer_ids[n % len(customer_ids)]] for n in numbers],
                      [f"bench-{n}" for n in numbers])
        for n in numbers:
            customer = customers[customer_ids[n % len(customer_ids)]]
            queue_message(customer, event="payment_received", template_key="payment_received",
                          context={"payment_amount": Decimal("100.00") + n % 50,
                                   "payment_date": today, "balance": Decimal("0.00"),
                                   "invoices": [{"number": f"INV-{n:06d}",
                                                 "amount": Decimal("100.00")}]},
                          idempotency_key=f"bench-{n}", channels=["email"])
        db.session.commit()
        db.session.expire_all()


def _wait_workers(connection, count: int, timeout: float = 60) -> None:
    from rq import Worker

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(Worker.all(connection=connection)) >= count:
            return
        time.sleep(0.2)
    raise click.ClickException("the RQ workers did not start (see their logs)")


def _baseline(port: int, total: int) -> float:
    """The same rendered messages, sent with smtplib over one connection from this process."""
    from sqlalchemy import select

    from app.extensions import db
    from app.notifications.models import Message
    from plugins.email_smtp.channel import company_values, email_bytes

    rows = db.session.scalars(select(Message).order_by(Message.id).limit(total)).all()
    company = company_values()
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for message in rows:
            # The bytes the SMTP plugin itself sends (its own fast MIME writer, so the
            # comparison stays like for like).
            mail = email_bytes(message, "creditdesk@localhost", company)
            if isinstance(mail, tuple):
                smtp.sendmail("creditdesk@localhost", [message.recipient], mail[0])
            else:
                smtp.send_message(mail)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
