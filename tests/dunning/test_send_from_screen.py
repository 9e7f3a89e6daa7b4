"""Sending a date's reminders from the dry-run screen: who may, the confirmation, the run page,
and that every reminder goes out once whatever is clicked or run at the same time."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core import job_runs
from app.dunning.models import DunningAction, DunningRun
from app.dunning.runs import RunInProgress, run
from app.extensions import db
from app.notifications.models import Message
from tests.dunning.conftest import consumer, overdue, today
from tests.helpers import csrf_for, csrf_token

pytestmark = pytest.mark.usefixtures("defaults")


def _count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def _customers(n: int = 3) -> list:
    customers = [consumer(name=f"Client {i}") for i in range(n)]
    for customer in customers:
        overdue(customer, 10, total="120.00")
    return customers


def _confirm(client, day=None):
    page = client.get(f"/dunning/send/?date={(day or today()).isoformat()}")
    assert page.status_code == 200, page.status_code
    return page, csrf_token(page.get_data(as_text=True))


def _send(client, token, day=None):
    return client.post("/dunning/send/", data={"date": (day or today()).isoformat(),
                                               "csrf_token": token})


@pytest.mark.parametrize("role", ["Credit manager", "Admin"])
def test_the_dry_run_offers_to_send_and_the_confirmation_counts_per_level_and_channel(
        staff_client, role):
    _customers(3)
    client = staff_client(role)
    dry = client.get(f"/dunning/dry-run/?date={today().isoformat()}").get_data(as_text=True)
    assert "Send these 3 reminders" in dry and "/dunning/send/?date=" in dry

    page, _token = _confirm(client)
    html = page.get_data(as_text=True)
    assert "3 customers will get a reminder." in html
    assert "First reminder (free)" in html and "E-mail" in html
    assert 'name="csrf_token"' in html
    assert _count(DunningAction) == 0 and _count(Message) == 0, "confirming sends nothing"


@pytest.mark.parametrize("role", ["AR clerk", "Read-only", "Compliance officer"])
def test_other_roles_cannot_send(staff_client, role):
    _customers(1)
    client = staff_client(role)
    dry = client.get("/dunning/dry-run/").get_data(as_text=True)
    assert "/dunning/send/?date=" not in dry
    refused = client.get(f"/dunning/send/?date={today().isoformat()}")
    assert refused.status_code in (302, 403)
    token = csrf_for(client)
    posted = client.post("/dunning/send/", data={"date": today().isoformat(),
                                                 "csrf_token": token})
    assert posted.status_code in (302, 400, 403)
    assert "/dunning/send/run/" not in (posted.location or "")
    assert _count(DunningAction) == 0 and _count(Message) == 0


def test_send_without_the_csrf_token_is_refused(staff_client):
    _customers(1)
    client = staff_client("Credit manager")
    response = client.post("/dunning/send/", data={"date": today().isoformat()})
    assert response.status_code == 400
    assert _count(DunningAction) == 0


def test_sending_twice_sends_each_reminder_once_and_the_run_page_says_what_went_out(
        staff_client):
    customers = _customers(3)
    client = staff_client("Credit manager")
    _page, token = _confirm(client)

    first = _send(client, token)
    assert first.status_code == 302
    assert first.location.endswith(f"/dunning/send/run/{today().isoformat()}")
    messages, actions = _count(Message), _count(DunningAction)
    assert actions == 3 and messages >= 3

    second = _send(client, token)  # a second click (or the back button and click again)
    assert second.status_code == 302
    assert _count(Message) == messages and _count(DunningAction) == 3
    assert _count(DunningRun) == 1

    page = client.get(first.location)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "3 customers reminded." in html and "Done" in html
    assert "First reminder (free)" in html and "E-mail" in html
    for customer in customers:
        assert f"/customerview/show/{customer.id}" in html and customer.name in html
    assert "/messageview/show/" in html
    assert 'http-equiv="refresh"' not in html, "a finished run does not reload itself"


def test_a_run_in_progress_elsewhere_is_not_doubled_by_the_screen(app, staff_client):
    _customers(4)
    client = staff_client("Credit manager")
    _page, token = _confirm(client)
    started, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def hold(_batch: int) -> None:  # the CLI-like run stays in progress until the click is done
        started.set()
        release.wait(timeout=60)

    def engine_run() -> None:
        with app.app_context():
            try:
                outcome["run"] = run(today(), triggered_by="cli", batch_size=2, after_batch=hold)
            except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
                outcome["run"] = exc
            finally:
                db.session.remove()

    thread = threading.Thread(target=engine_run)
    thread.start()
    try:
        assert started.wait(timeout=60)
        response = _send(client, token)
        assert response.status_code == 302
        page = client.get(response.location).get_data(as_text=True)
        assert "A run for this date is in progress" in page or "Running" in page
        assert 'http-equiv="refresh"' in page, "a running run's page reloads itself"
    finally:
        release.set()
        thread.join(timeout=120)
    assert not isinstance(outcome["run"], BaseException), outcome
    messages = _count(Message)
    assert _count(DunningAction) == 4

    _send(client, token)  # clicked again once the CLI run is over: nothing new
    assert _count(DunningAction) == 4 and _count(Message) == messages


def test_the_screen_job_says_in_progress_when_the_lease_is_held(staff_client):
    _customers(2)
    client = staff_client("Credit manager")
    _page, token = _confirm(client)
    lease = f"dunning-run-{today().isoformat()}"
    holder = job_runs.acquire_lock(lease, timedelta(minutes=10))
    try:
        assert _send(client, token).status_code == 302
        assert _count(DunningAction) == 0 and _count(Message) == 0
        with pytest.raises(RunInProgress):
            run(today())
    finally:
        job_runs.release_lock(lease, holder)
    assert _send(client, token).status_code == 302
    assert _count(DunningAction) == 2


def test_an_impossible_date_is_refused_with_a_message(staff_client):
    client = staff_client("Credit manager")
    for url in ("/dunning/dry-run/?date=2026-02-30", "/dunning/send/?date=2026-02-30",
                "/dunning/send/run/2026-02-30"):
        page = client.get(url)
        assert page.status_code == 400, url
        assert "Not a date: 2026-02-30" in page.get_data(as_text=True)


def test_a_future_date_cannot_be_sent(staff_client):
    _customers(1)
    client = staff_client("Credit manager")
    tomorrow = today() + timedelta(days=1)
    page = client.get(f"/dunning/send/?date={tomorrow.isoformat()}")
    assert page.status_code == 400
    assert "future" in page.get_data(as_text=True)
    dry = client.get(f"/dunning/dry-run/?date={tomorrow.isoformat()}").get_data(as_text=True)
    assert "/dunning/send/?date=" not in dry


def test_nothing_to_send_says_so(staff_client):
    client = staff_client("Credit manager")
    page = client.get(f"/dunning/send/?date={today().isoformat()}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "there is nothing to send" in html and "send-form" not in html


def test_a_long_run_shows_its_progress_on_the_run_page(staff_client):
    from app.dunning import jobs as dunning_jobs

    _customers(5)
    client = staff_client("Credit manager")
    record = dunning_jobs._record_progress(today())
    pages: list[str] = []

    def progress(done: int, total: int) -> None:
        record(done, total)
        if done < total:  # the page another person opens while the run works
            pages.append(client.get(f"/dunning/send/run/{today().isoformat()}")
                         .get_data(as_text=True))

    run(today(), triggered_by="credit_manager", batch_size=2, progress=progress)
    assert pages, "the run had more than one batch"
    assert "2 of 5 customers looked at." in pages[0]
    assert 'http-equiv="refresh"' in pages[0] and "Running" in pages[0]
    done = client.get(f"/dunning/send/run/{today().isoformat()}").get_data(as_text=True)
    assert "5 customers reminded." in done and 'http-equiv="refresh"' not in done
