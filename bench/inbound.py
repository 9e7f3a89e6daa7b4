"""Customers' e-mail replies at scale: 10,000 replies in a real IMAP mailbox (Dovecot), read,
tied to their customers and classified.

    python -m bench.inbound                      # SQLite in a temporary folder
    python -m bench.inbound --database-url postgresql+psycopg://postgres@127.0.0.1:5432/t_h2

Starts a throw-away Dovecot on a loopback port (tests/inbound/dovecot.py; needs
apt-get install -y dovecot-imapd), makes customers with an invoice and an e-mail we sent each,
and puts 10,000 replies in the mailbox by IMAP APPEND: replies to our Message-ID (token in
In-Reply-To), to the Reply-To plus-address, from a known sender only, from an unknown sender
naming an invoice number, plus out-of-office replies and bounces, in French, Dutch and English
with quoted reminders below. Then, in the same run:

- baseline: bare imaplib reading the same mailbox (UID SEARCH, UID FETCH BODY.PEEK[] in batches);
- the product: app.inbound.polling.poll, which also parses, detects automatic replies, ties,
  classifies, stores each reply once, holds reminders, queues the answers and question
  requests, commits, and moves every batch to the processed folder.

It prints messages/s for both, the target (10,000 in <= 60 s) and what was found. Message
delivery is not part of reading (the answers stay queued; the sweep sends them).
"""
from __future__ import annotations

import os
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import click

TARGET_SECONDS = 60
TEXTS = {
    "fr": [("Bonjour,\n\nLa facture {n} a déjà été payée par virement la semaine passée.\n\n"
            "Cordialement"),
           "Bonjour, je conteste la facture {n} : je n'ai jamais reçu la marchandise.",
           "Bonjour, pourrais-je avoir un plan de paiement ? Je ne peux pas tout payer ce mois-ci.",
           "Bonjour, nous avons déménagé, voici notre nouvelle adresse : rue Neuve 12.",
           "Bonjour, pouvez-vous m'envoyer un duplicata de la facture {n} ? Merci."],
    "nl": ["Goedendag,\n\nFactuur {n} is al betaald via overschrijving.\n\nMet vriendelijke groeten",
           "Beste, wij betwisten factuur {n}: nooit geleverd.",
           "Beste, kan ik een afbetalingsplan krijgen? Ik heb meer tijd nodig.",
           "Beste, wij zijn verhuisd. Nieuw adres: Kerkstraat 5, 9000 Gent.",
           "Beste, kunt u mij een kopie van factuur {n} bezorgen?"],
    "en": ["Hello,\n\nInvoice {n} has already been paid last week.\n\nRegards",
           "Hi, we dispute invoice {n}: the amount is wrong and we never received the goods.",
           "Hello, could we agree on a payment plan? I need more time.",
           "Hello, we have moved: please update our address.",
           "Hello, could you send me a copy of invoice {n}? Thanks."],
}
QUOTE = {"fr": "\n\nLe lun. 7 déc. 2026 à 09:12, Facturation <billing@example.test> a écrit :\n"
               "> Sauf erreur de notre part, la facture {n} reste impayée.\n> Déjà payé ? "
               "Merci de ne pas tenir compte de ce rappel.\n",
         "nl": "\n\nOp ma 7 dec. 2026 om 09:12 schreef Facturatie <billing@example.test>:\n"
               "> Factuur {n} staat nog open.\n> Al betaald? Dan mag u dit negeren.\n",
         "en": "\n\nOn Mon, 7 Dec 2026 at 09:12, Billing <billing@example.test> wrote:\n"
               "> Invoice {n} is still open.\n> Already paid? Please ignore this reminder.\n"}


def _replies(count: int, people: list[dict], seed: int = 7) -> list[bytes]:
    from tests.inbound import mails

    rng = random.Random(seed)
    found = []
    for n in range(count):
        person = rng.choice(people)
        lang = person["language"]
        roll = rng.random()
        text = rng.choice(TEXTS[lang]).format(n=person["invoice"]) + QUOTE[lang].format(
            n=person["invoice"])
        if roll < 0.05:
            found.append(mails.out_of_office_fr(sender=person["email"]))
            continue
        if roll < 0.10:
            found.append(mails.bounce(person["email"], person["message_id"]))
            continue
        kwargs = {"sender": person["email"], "subject": "RE: Rappel / Herinnering / Reminder"}
        if roll < 0.50:
            kwargs["in_reply_to"] = person["message_id"]
        elif roll < 0.70:
            kwargs["to"] = person["reply_to"]
        elif roll < 0.90:
            pass  # the sender's address alone
        else:
            kwargs["sender"] = f"someone{n}@elsewhere.test"  # the invoice number in the text
        found.append(mails.reply(text, **kwargs))
    return found


def _setup(customers: int) -> list[dict]:
    from datetime import date, timedelta

    from app.core.models import utcnow
    from app.customers.services import clean_customer, upsert_customer
    from app.extensions import db
    from app.invoices.services import clean_invoice, upsert_invoice
    from app.notifications.channels import message_id_for
    from app.notifications.models import Message
    from app.notifications.reply_tokens import plus_address

    people = []
    languages = ("fr", "nl", "en")
    for n in range(customers):
        language = languages[n % 3]
        customer, _ = upsert_customer(clean_customer({
            "number": f"B{n:06d}", "name": f"Bench customer {n}", "language": language,
            "email": f"customer{n}@bench.test"}))
        invoice, _ = upsert_invoice(clean_invoice({
            "number": f"BINV-{n:06d}", "customer_number": customer.number,
            "issue_date": (date.today() - timedelta(days=60)).isoformat(),
            "due_date": (date.today() - timedelta(days=30)).isoformat(),
            "total_amount": "120.00"}))
        message = Message(customer_id=customer.id, channel="email", recipient=customer.email,
                          language=language, event="dunning", subject="Rappel de paiement",
                          body_text="...", status="sent", sent_at=utcnow(),
                          idempotency_key=f"bench-reminder:{n}:email", attachments=[])
        db.session.add(message)
        db.session.flush()
        people.append({"language": language, "email": customer.email, "invoice": invoice.number,
                       "message_id": message_id_for(message.idempotency_key, "example.test",
                                                    message.id),
                       "reply_to": plus_address("billing@example.test", message.id)})
    db.session.commit()
    return people


def _count_statements(engine):
    """Count the SQL statements sent from now on; call the result to read the count."""
    from sqlalchemy import event

    seen = [0]

    def count(*_args, **_kwargs):
        seen[0] += 1

    event.listen(engine, "before_cursor_execute", count)

    def stop() -> int:
        event.remove(engine, "before_cursor_execute", count)
        return seen[0]

    return stop


def _bare_imaplib(server, batch: int = 200) -> tuple[int, float]:
    start = time.perf_counter()
    imap = server.client()
    imap.select("INBOX", readonly=True)
    _status, data = imap.uid("SEARCH", "ALL")
    uids = data[0].split()
    read = 0
    for i in range(0, len(uids), batch):
        chunk = b",".join(uids[i:i + batch]).decode()
        _status, data = imap.uid("FETCH", chunk, "(UID BODY.PEEK[])")
        read += sum(1 for item in data if isinstance(item, tuple))
    imap.logout()
    return read, time.perf_counter() - start


@click.command()
@click.option("--replies", default=10_000, show_default=True)
@click.option("--customers", default=2_000, show_default=True)
@click.option("--database-url", default=lambda: os.environ.get("BENCH_DATABASE_URL"),
              help="default: SQLite in a temporary folder")
@click.option("--profile", "profile_to", default=None,
              help="write a cProfile of the poll (not of the setup) to this file")
def main(replies: int, customers: int, database_url: str | None,
         profile_to: str | None) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="creditdesk-bench-inbound-"))
    database_url = database_url or f"sqlite:///{workdir / 'bench.db'}"
    os.environ.update({"DATABASE_URL": database_url, "JOBS_MODE": "sync", "REDIS_URL": "",
                       "CREDITDESK_INSTANCE_DIR": str(workdir / "instance"),
                       "SEED_DEMO_DATA": "0", "LOG_LEVEL": "WARNING",
                       "PUBLIC_URL": os.environ.get("PUBLIC_URL") or "https://credit.example.test",
                       "CREDITDESK_PLUGIN_IMAP_INBOUND_PASSWORD": "s3cret-imap"})

    from sqlalchemy import func, select, text

    from app import create_app
    from app.core import plugins as registry
    from app.extensions import db
    from app.inbound.models import InboundMessage
    from app.inbound.polling import poll
    from app.notifications import outbox
    from app.setup_cli import prepare_database
    from tests.inbound import dovecot

    outbox.enqueue_delivery = lambda ids: None  # answers stay queued: delivery is not reading
    server = dovecot.start()
    try:
        app = create_app()
        with app.app_context():
            if database_url.startswith("postgres"):
                with db.engine.begin() as connection:
                    connection.execute(text("DROP SCHEMA public CASCADE"))
                    connection.execute(text("CREATE SCHEMA public"))
            prepare_database()
            from plugins.imap_inbound import plugin

            registry.discover()
            registry._discovered.setdefault(plugin.name, plugin)  # before pyproject registers it
            row = registry.plugin_config(plugin)
            row.enabled = True
            row.settings = {k: v for k, v in server.settings().items() if k != "password"}
            db.session.commit()
            people = _setup(customers)
            raws = _replies(replies, people)
            click.echo(f"putting {len(raws):,} replies in the mailbox (IMAP APPEND) ...")
            server.append_many(raws)

            bare, bare_seconds = _bare_imaplib(server)
            mailbox = registry.build("imap_inbound")
            profiler = None
            if profile_to:
                import cProfile

                profiler = cProfile.Profile()
            statements = _count_statements(db.engine)
            cpu = time.process_time()
            start = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            counts = poll(mailbox, "imap_inbound")
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(profile_to)
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu
            statements = statements()
            stored = db.session.scalar(select(func.count(InboundMessage.id)))
            tied = Counter(db.session.execute(select(InboundMessage.tied_by)).scalars())
            kinds = Counter(db.session.execute(select(InboundMessage.kind)).scalars())
            categories = Counter(db.session.execute(
                select(InboundMessage.category).where(InboundMessage.kind == "human")).scalars())
            left = server.count("INBOX")
    finally:
        server.stop()
    if "error" in counts or stored != replies or left:
        raise click.ClickException(f"not every reply was read: {counts}, stored {stored}, "
                                   f"{left} left in the mailbox")
    click.echo(f"database: {database_url.split(':')[0]}; {customers:,} customers")
    click.echo(f"bare imaplib (read only)          : {bare:,} messages in {bare_seconds:6.1f} s = "
               f"{bare / bare_seconds:8.0f} messages/s")
    click.echo(f"inbound poll (read, tie, classify): {stored:,} messages in {seconds:6.1f} s = "
               f"{stored / seconds:8.0f} messages/s (CPU {cpu:.1f} s); target <= "
               f"{TARGET_SECONDS} s: {'OK' if seconds <= TARGET_SECONDS else 'MISSED'}")
    click.echo(f"ratio poll / bare imaplib         : {seconds / bare_seconds:6.1f} x")
    click.echo(f"SQL statements during the poll    : {statements:,} "
               f"({statements / max(stored, 1):.1f} per message)")
    click.echo(f"load average (1, 5, 15 min)       : {os.getloadavg()}")
    click.echo(f"kinds: {dict(kinds)}")
    click.echo(f"tied by: {dict(tied)}")
    click.echo(f"categories of human replies: {dict(categories)}")


if __name__ == "__main__":
    main()
