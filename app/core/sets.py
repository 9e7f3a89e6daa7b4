"""Looking up many keys at once: the set-wise queries of the statement import and the purge."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY

from app.extensions import db

CHUNK = 900  # values per IN (...) on SQLite: under its default limit of bound parameters


def chunks(values: Iterable, size: int = CHUNK) -> Iterator[list]:
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def where_in(column, values: Iterable) -> list:
    """Conditions "column is one of values", as few as possible: one ``= ANY(array)`` on
    PostgreSQL (one parameter, whatever the number of values, and no SQL text to build),
    chunks of ``IN (...)`` elsewhere. Run one query per condition."""
    values = list(dict.fromkeys(v for v in values if v is not None))
    if not values:
        return []
    if db.engine.dialect.name == "postgresql":
        return [column == any_(bindparam(None, values, type_=ARRAY(column.type)))]
    return [column.in_(part) for part in chunks(values)]


def one_of(column, values: Iterable):
    """One condition "column is one of values" for a bounded list (a batch): ``= ANY(array)``
    on PostgreSQL, ``IN (...)`` elsewhere. A 500-value IN list costs more to render and send
    than to run; the array is a single parameter."""
    values = list(values)
    if db.engine.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)
