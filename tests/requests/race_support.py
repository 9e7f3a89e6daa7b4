"""Race the same decision from several threads at once, for the concurrency tests.

Each thread has its own application context, hence its own database session and connection;
a barrier releases them together right before the decision, so that both read the same state
and really overlap (PostgreSQL: row locks; SQLite: the database write lock)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core.validation import ValidationError
from app.extensions import db

ROUNDS = 5  # a lucky interleaving must not hide a bug: every race is run several times


@dataclass
class Outcome:
    result: Any = None
    refusal: dict | None = None
    error: BaseException | None = None

    @property
    def won(self) -> bool:
        return self.refusal is None and self.error is None


def race(app, *actions: Callable[[Callable[[], None]], Any], context: bool = True,
         timeout: float = 60) -> list[Outcome]:
    """Run every ``action(ready)`` in its own thread; each calls ``ready()`` right before its
    decision (after loading what it needs). A ValidationError is a refusal (the session is
    rolled back); any other exception is an error. ``context=False`` for actions that go
    through a test client (the request pushes its own application context)."""
    barrier = threading.Barrier(len(actions), timeout=timeout)
    outcomes = [Outcome() for _ in actions]

    def run(outcome: Outcome, action) -> None:
        def body() -> None:
            try:
                outcome.result = action(barrier.wait)
            except ValidationError as exc:
                outcome.refusal = exc.errors
                if context:
                    db.session.rollback()
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                outcome.error = exc
                barrier.abort()
                if context:
                    db.session.rollback()

        if context:
            with app.app_context():
                try:
                    body()
                finally:
                    db.session.remove()
        else:
            body()

    threads = [threading.Thread(target=run, args=(o, a)) for o, a in zip(outcomes, actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a racing thread hangs"
    errors = sorted((o.error for o in outcomes if o.error is not None),
                    key=lambda e: isinstance(e, threading.BrokenBarrierError))
    if errors:  # the real failure first, not the barrier it broke for the others
        raise errors[0]
    return outcomes


def one_winner(outcomes: list[Outcome]) -> tuple[Outcome, list[Outcome]]:
    """The single winner and the refused others (fails if not exactly one won)."""
    won = [o for o in outcomes if o.won]
    assert len(won) == 1, f"{len(won)} of {len(outcomes)} racing decisions were taken"
    return won[0], [o for o in outcomes if not o.won]


def refusal_text(outcome: Outcome) -> str:
    return " ".join(str(m) for messages in (outcome.refusal or {}).values() for m in messages)
