"""The dry run shows exactly what the real run then does: the same customers, levels, invoices,
amounts and fees, on a book with every reason to remind, wait or leave out (issue 22).

The screen's counts come from a snapshot (app/dunning/dry_run.py); its panels and the engine's
full evaluation must both agree with the actions a run then writes.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from app.core.settings import set_setting
from app.dunning.dry_run import membership, snapshot_name
from app.dunning.engine import REMIND, evaluate
from app.dunning.holds import hold_reminders
from app.dunning.models import DunningAction, DunningActionInvoice
from app.dunning.runs import run
from app.extensions import db
from app.payments.models import Payment
from app.requests.models import Deferral, Dispute, Installment, PaymentPlan
from tests.dunning.conftest import business, consumer, day, level, overdue, remind_state, today

pytestmark = pytest.mark.usefixtures("defaults")


def _varied_book() -> dict[str, object]:
    """One customer per case; returns them by name."""
    c = {}
    c["first_level"] = consumer(name="First Level")
    overdue(c["first_level"], 20, total="120.00")
    overdue(c["first_level"], 9, total="40.00")

    c["second_level_fees"] = consumer(name="Second Level")  # Belgian consumer lump sum
    old = overdue(c["second_level_fees"], 45, total="200.00")
    remind_state(old, level=1, reminded_days_ago=17)
    overdue(c["second_level_fees"], 12, total="60.00")

    c["business_fees"] = business(name="Business Fees")  # B2B compensation and interest
    late = overdue(c["business_fees"], 60, total="1000.00")
    remind_state(late, level=1, reminded_days_ago=30)

    c["grace_days"] = consumer(name="Grace Days")  # overdue, first level not reached yet
    overdue(c["grace_days"], 3, total="90.00")

    c["below_minimum"] = consumer(name="Below Minimum")
    overdue(c["below_minimum"], 30, total="3.00")

    c["level_minimum"] = consumer(name="Level Minimum")  # next level asks for more owed
    level_min = overdue(c["level_minimum"], 50, total="80.00")
    remind_state(level_min, level=2, reminded_days_ago=20)

    c["disputed"] = consumer(name="Disputed")
    whole = overdue(c["disputed"], 25, total="100.00")
    part = overdue(c["disputed"], 25, total="100.00")
    db.session.add_all([Dispute(customer=c["disputed"], invoice=whole, amount=D("100.00")),
                        Dispute(customer=c["disputed"], invoice=part, amount=D("30.00"))])

    c["deferred"] = consumer(name="Deferred")
    promised = overdue(c["deferred"], 30, total="70.00")
    db.session.add(Deferral(customer=c["deferred"], invoice=promised,
                            original_due_date=promised.due_date, new_due_date=day(5)))

    c["promise_broken"] = consumer(name="Promise Broken")
    broken = overdue(c["promise_broken"], 30, total="75.00")
    db.session.add(Deferral(customer=c["promise_broken"], invoice=broken,
                            original_due_date=broken.due_date, new_due_date=day(-2)))

    c["plan_kept"] = consumer(name="Plan Kept")
    in_plan = overdue(c["plan_kept"], 40, total="200.00")
    plan = PaymentPlan(customer=c["plan_kept"], status="active", total_amount=D("200.00"),
                       installment_count=2, day_of_month=5, start_date=day(-5),
                       invoices=[in_plan])
    db.session.add_all([plan, Installment(plan=plan, sequence=1, due_date=day(-3),
                                          amount=D("100.00"), structured_reference="1" * 12)])

    c["plan_broken"] = consumer(name="Plan Broken")
    in_broken = overdue(c["plan_broken"], 60, total="200.00")
    broken_plan = PaymentPlan(customer=c["plan_broken"], status="active",
                              total_amount=D("200.00"), installment_count=2, day_of_month=1,
                              start_date=day(-45), invoices=[in_broken])
    db.session.add_all([broken_plan,
                        Installment(plan=broken_plan, sequence=1, due_date=day(-11),
                                    amount=D("100.00"), structured_reference="2" * 12)])

    c["paused"] = consumer(name="Paused")
    c["paused"].dunning_paused_until, c["paused"].dunning_pause_reason = day(3), "hospital"
    overdue(c["paused"], 30)

    c["held"] = consumer(name="Held")
    overdue(c["held"], 30)
    c["invoice_held"] = consumer(name="Invoice Held")
    held_invoice = overdue(c["invoice_held"], 30, total="55.00")
    overdue(c["invoice_held"], 30, total="65.00")

    c["blocked"] = consumer(name="Blocked")
    overdue(c["blocked"], 30, dunning_blocked=True, dunning_block_reason="called")
    overdue(c["blocked"], 30, total="45.00")

    c["payday"] = consumer(name="Payday", preferred_payment_day=day(2).day)
    overdue(c["payday"], 10)

    c["legal"] = consumer(name="Legal", legal_status="insolvent")
    overdue(c["legal"], 30)

    c["unmatched"] = consumer(name="Unmatched")
    overdue(c["unmatched"], 30, total="80.00")
    db.session.add(Payment(customer=c["unmatched"], received_on=day(-2), amount=D("80.00"),
                           unallocated_amount=D("80.00"), status="unmatched"))

    c["direct_debit"] = consumer(name="Direct Debit", payment_method="direct_debit")
    overdue(c["direct_debit"], 15, total="33.00")

    c["not_due"] = consumer(name="Not Due")  # due in 10 days: not even looked at
    overdue(c["not_due"], -10)
    db.session.commit()

    hold_reminders(c["held"].id, until=day(4), reason="asked for a call", source="staff")
    hold_reminders(c["invoice_held"].id, invoice_ids=[held_invoice.id], until=day(4),
                   reason="credit note coming", source="staff")
    step = level("Belgian consumers", 3)
    step.min_amount = D("500.00")  # "Level Minimum" owes 80: stays at level 2, waits
    set_setting("dunning.minimum_amount", "10.00")
    db.session.commit()
    return c


def _as_decided(decision):
    return (decision.customer.id, decision.level.sequence,
            [i.invoice.id for i in decision.listed], decision.amount_due, decision.fee_total,
            sorted((i.invoice.id, i.level_after, i.fees.total) for i in decision.listed))


def _as_done(action, lines):
    return (action.customer_id, action.level.sequence, list(action.invoice_ids),
            action.amount_due, action.fee_amount,
            sorted((line.invoice_id, line.level_sequence, line.fees) for line in lines))


def test_dry_run_shows_exactly_what_the_run_then_does(staff_client):
    customers = _varied_book()
    evaluation = evaluate(today())
    outcomes = {d.customer.id: d.outcome for d in evaluation.decisions}
    reminded = sorted(_as_decided(d) for d in evaluation.decisions if d.outcome == REMIND)
    broken_deferrals = sorted(i for d in evaluation.decisions if d.outcome == REMIND
                              for i in d.broken_deferrals or ())
    broken_plans = sorted(i for d in evaluation.decisions if d.outcome == REMIND
                          for i in d.broken_plans or ())

    # Every case did what it is there for: the book is as varied as it claims.
    by_name = {name: outcomes.get(c.id) for name, c in customers.items()}
    assert by_name == {
        "first_level": "remind", "second_level_fees": "remind", "business_fees": "remind",
        "grace_days": "waiting", "below_minimum": "excluded", "level_minimum": "waiting",
        "disputed": "remind", "deferred": "excluded", "promise_broken": "remind",
        "plan_kept": "excluded", "plan_broken": "remind", "paused": "excluded",
        "held": "excluded", "invoice_held": "remind", "blocked": "remind",
        "payday": "postponed", "legal": "excluded", "unmatched": "excluded",
        "direct_debit": "remind", "not_due": None}
    fees = {d.customer.id: d.fee_total for d in evaluation.decisions}
    assert fees[customers["second_level_fees"].id] > 0
    assert fees[customers["business_fees"].id] > 0
    assert broken_deferrals and broken_plans

    # The screen: its counts (the snapshot) and each reminded customer's panel (decided live).
    client = staff_client("Admin")
    html = client.get(f"/dunning/dry-run/?date={today().isoformat()}&outcome=remind"
                      ).get_data(as_text=True)
    shown = membership(today()).value
    assert shown.of(REMIND) == sorted(row[0] for row in reminded)
    assert shown.counts == evaluation.counts
    for name, customer in customers.items():
        assert (f'id="customer-{customer.number}"' in html) is (by_name[name] == REMIND), name
    assert "dry-run-changed" not in html

    result = run(today())

    db.session.expire_all()
    actions = list(db.session.scalars(select(DunningAction).order_by(DunningAction.customer_id)))
    lines = list(db.session.scalars(select(DunningActionInvoice)))
    done = sorted(_as_done(a, [x for x in lines if x.action_id == a.id]) for a in actions)
    assert done == reminded
    assert result.counts[REMIND] == len(reminded)
    assert sorted(d.id for d in db.session.scalars(
        select(Deferral).where(Deferral.status == "broken"))) == broken_deferrals
    assert sorted(p.id for p in db.session.scalars(
        select(PaymentPlan).where(PaymentPlan.status == "broken"))) == broken_plans

    # The run made the snapshot of its date moot: forgotten, the next view counts again.
    from app.core.snapshots import FigureSnapshot

    assert db.session.get(FigureSnapshot, snapshot_name(today())) is None
    after = client.get(f"/dunning/dry-run/?date={today().isoformat()}&outcome=done"
                       ).get_data(as_text=True)
    assert membership(today()).value.counts["done"] == len(reminded)
    assert all(f'id="customer-{customers[n].number}"' in after
               for n, o in by_name.items() if o == REMIND)


def test_the_screen_says_how_fresh_its_counts_are_and_staff_can_refresh_them(staff_client):
    from app.core.models import utcnow
    from app.core.snapshots import FigureSnapshot
    from app.dunning.dry_run import DRY_RUN_MAX_AGE
    from tests.helpers import csrf_token

    anna = consumer(name="Anna Fresh")
    annas = overdue(anna, 20)
    db.session.commit()
    client = staff_client("Admin")
    page = client.get("/dunning/dry-run/").get_data(as_text=True)
    assert 'id="dry-run-as-of"' in page and "Counts as of" in page
    assert membership(today()).value.counts[REMIND] == 1

    # A new customer after the snapshot: not counted until refreshed; a customer whose outcome
    # changed since is shown as it is now, and said to have changed.
    bert = consumer(name="Bert Later")
    overdue(bert, 20)
    db.session.add(Dispute(customer=anna, invoice=annas, amount=D("100.00")))
    db.session.commit()
    page = client.get("/dunning/dry-run/").get_data(as_text=True)
    assert "Bert Later" not in page
    assert "Changed since the counts were computed" in page

    response = client.post("/dunning/dry-run/refresh",
                           data={"date": today().isoformat(), "outcome": "remind",
                                 "csrf_token": csrf_token(page)})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Bert Later" in page and "Changed since" not in page
    assert membership(today()).value.counts == {**dict.fromkeys(
        ("remind", "postponed", "waiting", "excluded", "not_due", "done"), 0),
        "remind": 1, "excluded": 1}

    # Older than its age limit: shown once more while its refresh is queued (run at once here).
    row = db.session.get(FigureSnapshot, snapshot_name(today()))
    row.computed_at = utcnow() - DRY_RUN_MAX_AGE - timedelta(minutes=1)
    db.session.commit()
    client.get("/dunning/dry-run/")
    db.session.expire_all()
    assert utcnow() - db.session.get(FigureSnapshot,
                                     snapshot_name(today())).computed_at < timedelta(minutes=1)



def test_the_counts_time_is_written_as_the_readers_language_writes_it(app, staff_client):
    from flask_babel import force_locale

    from app.core.i18n import moment

    overdue(consumer(name="Chloé Locale"), 20)
    db.session.commit()
    client = staff_client("Admin")
    client.get("/lang/fr")
    page = client.get("/dunning/dry-run/").get_data(as_text=True)
    as_of = membership(today()).computed_at
    with app.test_request_context("/"), force_locale("fr"):
        french = moment(as_of)
    assert french in page.split('id="dry-run-as-of"', 1)[1].split("</form>", 1)[0]
    client.get("/lang/nl")
    page = client.get("/dunning/dry-run/").get_data(as_text=True)
    with app.test_request_context("/"), force_locale("nl"):
        dutch = moment(as_of)
    assert dutch in page.split('id="dry-run-as-of"', 1)[1].split("</form>", 1)[0]
    assert french != dutch  # each language's own way of writing it, not one format for all
