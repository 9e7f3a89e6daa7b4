"""My work today: returned payments (returns and reversals) not reviewed are a queue, with the
same count as the cash screen, a link to it, and each line one click from its review."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.insights.workqueues import work_counts
from app.payments.incoming.importing import import_statement
from app.payments.incoming.models import StatementLine
from tests.backoffice.conftest import session_csrf
from tests.payments.statements.builders import Entry, Tx, camt053

DD_RETURN = ("PMNT", "IDDT", "UPDD")


def _return(amount: str, n: int, reason: str = "MD06") -> Entry:
    return Entry(amount, credit=False, reversal=True, ref=f"R{n}", family=DD_RETURN,
                 txs=[Tx(end_to_end=f"E2E-UNKNOWN-{n}", mandate=f"UMR-{n}", return_reason=reason,
                         name=f"Returned payer {n}", iban=None)])


def _import_returns() -> list[StatementLine]:
    report = import_statement(camt053([
        _return("40.00", 1), _return("25.50", 2, "AC04"), _return("10.00", 3),
        Entry("33.00", ref="P1", txs=[Tx(ustrd=["?"], name="Unknown payer", iban=None)]),
        Entry("12.00", credit=False, ref="D1", txs=[Tx(name="Supplier", iban=None)]),
    ]), "returns.xml")
    assert report.ok, report.error
    return list(db.session.scalars(select(StatementLine).where(StatementLine.kind == "return")
                                   .order_by(StatementLine.id)))


def _badge(html: str, row_id: str) -> tuple[int, str]:
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.DOTALL).group(1)
    link = re.search(r'<a href="([^"]+)"', row).group(1)
    return int(re.search(r'<span class="badge">(\d+)</span>', row).group(1)), link


def test_returns_not_reviewed_are_a_work_queue(app, staff_client):
    returns = _import_returns()
    assert len(returns) == 3
    assert work_counts()["returns"] == 3
    clerk = staff_client("AR clerk")
    reviewed = clerk.post(f"/matching/line/{returns[0].id}/reviewed",
                          data={"csrf_token": session_csrf(app, clerk)})
    assert reviewed.status_code == 302
    db.session.expire_all()
    assert work_counts()["returns"] == 2

    home = clerk.get("/").get_data(as_text=True)
    assert _badge(home, "work-returns") == (2, "/cash/")
    cash = clerk.get("/cash/").get_data(as_text=True)
    waiting = re.search(r'<tr id="waiting-returns">(.*?)</tr>', cash, re.DOTALL).group(1)
    assert re.search(r'cd-count">(\d+)<', waiting).group(1) == "2"  # the same figure

    work = clerk.get("/mywork/").get_data(as_text=True)
    panel = work.split('id="queue-returns"', 1)[1].split('class="panel panel-default"', 1)[0]
    assert 'class="badge cd-queue-count">2<' in panel
    assert f'href="/matching/line/{returns[1].id}"' in panel
    assert f'href="/matching/line/{returns[2].id}"' in panel
    assert f'href="/matching/line/{returns[0].id}"' not in panel  # reviewed: gone


def test_nothing_returned_nothing_waits(app, staff_client):
    assert work_counts()["returns"] == 0
    home = staff_client("Read-only").get("/").get_data(as_text=True)
    assert _badge(home, "work-returns") == (0, "/cash/")
