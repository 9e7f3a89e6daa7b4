"""Late-payment fees as pure functions: no database, no settings lookup, no clock.

Every figure the law sets is a named constant here, with its source; what staff may tune
(interest margins, the €40) reaches these functions as arguments read from settings
(app/dunning/rules.py). Amounts are Decimal; percentages are annual, in percent (8 = 8 %).

Rounding: a computed fee is rounded *down* to the cent, so a statutory maximum is never
exceeded by half a cent (the debtor gets the benefit of the doubt).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from functools import cached_property

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
DAYS_PER_YEAR = 365  # simple interest, actual days / 365 (Belgian and French practice)

# --- Belgium, consumers: Code of Economic Law, Book XIX (law of 4 May 2023) ---------------------
# Art. XIX.2: the first reminder is free; nothing may be charged before 14 calendar days after
# it, counted from the 3rd working day after a letter is posted or the day after an e-mail.
BE_CONSUMER_WAIT_DAYS = 14
BE_CONSUMER_LETTER_WORKING_DAYS = 3
# Art. XIX.4: lump-sum damages, at most (only where the terms and conditions provide for them):
BE_CONSUMER_LOW_LIMIT = Decimal("150.00")      # balance up to €150 ...
BE_CONSUMER_LOW_FEE = Decimal("20.00")         # ... €20
BE_CONSUMER_MIDDLE_LIMIT = Decimal("500.00")   # €150.01 - €500: ...
BE_CONSUMER_MIDDLE_BASE = Decimal("30.00")     # ... €30
BE_CONSUMER_MIDDLE_RATE = Decimal("0.10")      # ... + 10 % of the part above €150
BE_CONSUMER_HIGH_BASE = Decimal("65.00")       # above €500: €65
BE_CONSUMER_HIGH_RATE = Decimal("0.05")        # ... + 5 % of the part above €500
BE_CONSUMER_CAP = Decimal("2000.00")           # ... at most €2,000
# Interest at most the reference rate + 8 points: the margin is the setting
# dunning.be_consumer_interest_margin (default below).
BE_CONSUMER_INTEREST_MARGIN = Decimal(8)

# --- Businesses: Belgian law of 2 August 2002 and EU Directive 2011/7/EU ------------------------
# Interest at the reference rate + 8 points, and at least €40 per late invoice without a
# reminder (ECJ C-78/22). Defaults of the settings dunning.b2b_interest_margin / b2b_compensation.
B2B_INTEREST_MARGIN = Decimal(8)
B2B_COMPENSATION = Decimal("40.00")

# --- France, businesses: Code de commerce L441-10 and D441-5 ------------------------------------
# Penalties from the day after the due date at the rate the terms state, at least 3x the legal
# rate; without a stated rate, the ECB rate + 10 points. Plus the €40 recovery indemnity.
FR_INTEREST_MARGIN = Decimal(10)
FR_LEGAL_RATE_MULTIPLIER = Decimal(3)
FR_INDEMNITY = Decimal("40.00")

# --- Netherlands, consumers: art. 6:96 BW and the Besluit vergoeding voor buitengerechtelijke
# incassokosten: a "14-day letter" first; then at most this scale on the principal ---------------
NL_FOURTEEN_DAY_LETTER_DAYS = 14
NL_COLLECTION_COST_BRACKETS: tuple[tuple[Decimal | None, Decimal], ...] = (
    (Decimal(2500), Decimal("0.15")),    # 15 % of the first €2,500
    (Decimal(2500), Decimal("0.10")),    # 10 % of the next €2,500
    (Decimal(5000), Decimal("0.05")),    # 5 % of the next €5,000
    (Decimal(190000), Decimal("0.01")),  # 1 % of the next €190,000
    (None, Decimal("0.005")),              # 0.5 % of the rest
)
NL_COLLECTION_COST_MIN = Decimal("40.00")
NL_COLLECTION_COST_MAX = Decimal("6775.00")


def cents_down(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_DOWN)


# --- Lump sums ----------------------------------------------------------------------------------

def be_consumer_lump_sum(balance: Decimal) -> Decimal:
    """The most a Belgian consumer may be charged as lump-sum damages on ``balance``."""
    balance = Decimal(balance)
    if balance <= 0:
        return ZERO
    if balance <= BE_CONSUMER_LOW_LIMIT:
        fee = BE_CONSUMER_LOW_FEE
    elif balance <= BE_CONSUMER_MIDDLE_LIMIT:
        fee = BE_CONSUMER_MIDDLE_BASE + (balance - BE_CONSUMER_LOW_LIMIT) * BE_CONSUMER_MIDDLE_RATE
    else:
        fee = BE_CONSUMER_HIGH_BASE + (balance - BE_CONSUMER_MIDDLE_LIMIT) * BE_CONSUMER_HIGH_RATE
    return min(cents_down(fee), BE_CONSUMER_CAP)


def nl_collection_costs(principal: Decimal) -> Decimal:
    """Dutch statutory extrajudicial collection costs (WIK scale) on ``principal``."""
    remaining = Decimal(principal)
    if remaining <= 0:
        return ZERO
    total = Decimal(0)
    for width, rate in NL_COLLECTION_COST_BRACKETS:
        part = remaining if width is None else min(remaining, width)
        total += part * rate
        remaining -= part
        if remaining <= 0:
            break
    return min(max(cents_down(total), NL_COLLECTION_COST_MIN), NL_COLLECTION_COST_MAX)


# --- Interest -----------------------------------------------------------------------------------
# A schedule is [(valid_from, annual rate in %)], sorted by date: the rate applies from that day
# until the next row. Days before the first row have no known rate and earn no interest (we claim
# less rather than guess).
Schedule = Sequence[tuple[date, Decimal]]


def rate_on(schedule: Schedule, day: date) -> Decimal | None:
    found = None
    for valid_from, rate in schedule:
        if valid_from <= day:
            found = rate
        else:
            break
    return found


def plus_margin(schedule: Schedule, margin: Decimal) -> list[tuple[date, Decimal]]:
    """Reference rate + margin points (e.g. ECB + 8)."""
    return [(valid_from, Decimal(rate) + Decimal(margin)) for valid_from, rate in schedule]


def fr_penalty_schedule(ecb: Schedule, legal: Schedule, margin: Decimal = FR_INTEREST_MARGIN,
                        multiplier: Decimal = FR_LEGAL_RATE_MULTIPLIER
                        ) -> list[tuple[date, Decimal]]:
    """French penalty rate per day: ECB + margin, but never under multiplier x the legal rate."""
    result = []
    for day in sorted({d for d, _ in ecb} | {d for d, _ in legal}):
        ecb_rate, legal_rate = rate_on(ecb, day), rate_on(legal, day)
        candidates = []
        if ecb_rate is not None:
            candidates.append(Decimal(ecb_rate) + Decimal(margin))
        if legal_rate is not None:
            candidates.append(Decimal(legal_rate) * Decimal(multiplier))
        if candidates:
            result.append((day, max(candidates)))
    return result


def interest(amount: Decimal, start: date, end: date, schedule: Schedule) -> Decimal:
    """Simple interest on ``amount`` for the days from ``start`` (included) to ``end`` (excluded).

    The schedule's rate changes are followed day by day (a period across two half-years is
    charged at each half-year's rate).
    """
    amount = Decimal(amount)
    if amount <= 0 or end <= start:
        return ZERO
    total = Decimal(0)
    rows = list(schedule)
    for index, (valid_from, rate) in enumerate(rows):
        valid_to = rows[index + 1][0] if index + 1 < len(rows) else end
        first, last = max(start, valid_from), min(end, valid_to)
        if last > first:
            total += amount * Decimal(rate) / 100 * (last - first).days / DAYS_PER_YEAR
    return cents_down(total)


# --- Fees of one reminder, per rule -------------------------------------------------------------

@dataclass(frozen=True)
class FeeItem:
    """What a fee rule needs to know about one invoice."""

    key: int                    # the invoice id (or any key the caller uses)
    amount: Decimal             # the amount reminded (open minus disputed)
    due_date: date
    fees_from: date | None = None  # Belgian consumers: since when fees may be claimed


@dataclass(frozen=True)
class InvoiceFees:
    lump_sum: Decimal = ZERO  # damages, recovery compensation or collection costs
    interest: Decimal = ZERO
    rate: Decimal | None = None  # annual interest rate (%) on the run date, when interest runs

    @property
    def total(self) -> Decimal:
        return self.lump_sum + self.interest


NO_FEES = InvoiceFees()


@dataclass(frozen=True)
class FeeParameters:
    """The settings and rate schedules fee rules read, gathered once per run."""

    ecb: Schedule = ()
    fr_legal: Schedule = ()
    be_consumer_margin: Decimal = BE_CONSUMER_INTEREST_MARGIN
    b2b_margin: Decimal = B2B_INTEREST_MARGIN
    b2b_compensation: Decimal = B2B_COMPENSATION
    fr_margin: Decimal = FR_INTEREST_MARGIN
    fr_multiplier: Decimal = FR_LEGAL_RATE_MULTIPLIER
    fr_indemnity: Decimal = FR_INDEMNITY

    # The interest schedule of each rule, computed once (not once per customer).
    @cached_property
    def be_consumer_schedule(self) -> list[tuple[date, Decimal]]:
        return plus_margin(self.ecb, self.be_consumer_margin)

    @cached_property
    def b2b_schedule(self) -> list[tuple[date, Decimal]]:
        return plus_margin(self.ecb, self.b2b_margin)

    @cached_property
    def fr_schedule(self) -> list[tuple[date, Decimal]]:
        return fr_penalty_schedule(self.ecb, self.fr_legal, self.fr_margin, self.fr_multiplier)

    def schedule(self, rule: str) -> list[tuple[date, Decimal]] | None:
        return {"be_consumer": self.be_consumer_schedule, "b2b_late_payment": self.b2b_schedule,
                "fr_business": self.fr_schedule}.get(rule) if rule in INTEREST_RULES else None


INTEREST_RULES = ("be_consumer", "b2b_late_payment", "fr_business")


def allocate(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` over ``weights`` in proportion, in cents, summing exactly to ``total``."""
    weight_sum = sum(weights, Decimal(0))
    if not weights or weight_sum <= 0:
        return [ZERO for _ in weights]
    shares = [cents_down(total * w / weight_sum) for w in weights]
    remainder = total - sum(shares, Decimal(0))
    largest = max(range(len(weights)), key=lambda i: weights[i])
    shares[largest] += remainder
    return shares


def fees_for(rule: str, items: Iterable[FeeItem], run_date: date, params: FeeParameters
             ) -> dict[int, InvoiceFees]:
    """Fees claimed per invoice on ``run_date`` under ``rule`` (see DunningLevel.fee_rule).

    Consumer lump sums are computed once on the total of the invoices (the scales are
    degressive, so this is the lower, safe reading) and split over them; business
    compensations are per late invoice, as the law says.
    """
    items = list(items)
    if rule == "be_consumer":
        lumps = allocate(be_consumer_lump_sum(sum((i.amount for i in items), ZERO)),
                         [i.amount for i in items])
        schedule = params.be_consumer_schedule
        # Interest runs from the day after the first reminder that claims fees (fees_from),
        # which the engine only sends once the 14-day wait is over.
        return {item.key: InvoiceFees(
            lump, interest(item.amount, (item.fees_from or run_date) + timedelta(days=1),
                           run_date + timedelta(days=1), schedule), rate_on(schedule, run_date))
            for item, lump in zip(items, lumps, strict=True)}
    if rule == "nl_consumer":
        costs = allocate(nl_collection_costs(sum((i.amount for i in items), ZERO)),
                         [i.amount for i in items])
        return {item.key: InvoiceFees(cost) for item, cost in zip(items, costs, strict=True)}
    if rule in ("b2b_late_payment", "fr_business"):
        if rule == "b2b_late_payment":
            schedule, flat = params.b2b_schedule, params.b2b_compensation
        else:
            schedule, flat = params.fr_schedule, params.fr_indemnity
        # Interest runs from the day after the due date up to and including the run date.
        return {item.key: InvoiceFees(
            Decimal(flat), interest(item.amount, item.due_date + timedelta(days=1),
                                    run_date + timedelta(days=1), schedule),
            rate_on(schedule, run_date)) for item in items}
    return {item.key: NO_FEES for item in items}


def announced_lump_sum(rule: str, total: Decimal, invoice_count: int,
                       params: FeeParameters) -> Decimal:
    """The lump sum a reminder announces for the next step ("if unpaid after 14 days")."""
    if rule == "be_consumer":
        return be_consumer_lump_sum(total)
    if rule == "nl_consumer":
        return nl_collection_costs(total)
    if rule == "b2b_late_payment":
        return Decimal(params.b2b_compensation) * invoice_count
    if rule == "fr_business":
        return Decimal(params.fr_indemnity) * invoice_count
    return ZERO


def announced_rate(rule: str, day: date, params: FeeParameters) -> Decimal | None:
    """The annual interest rate (%) a rule would charge from ``day`` (None: no interest)."""
    schedule = params.schedule(rule)
    return rate_on(schedule, day) if schedule is not None else None
