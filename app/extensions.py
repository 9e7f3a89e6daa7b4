"""Extensions shared by the whole application, created once and bound in create_app()."""
from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.utils.legacy import get_sqla_class
from flask_migrate import Migrate

# FAB 5 no longer exports SQLA; binding it to FAB's Model metadata keeps the security tables
# and ours in one MetaData, so Alembic sees everything.
SQLA = get_sqla_class()
db = SQLA(metadata=Model.metadata)
migrate = Migrate()


def _drop_sqlalchemy_utils_flush_listener() -> None:
    """sqlalchemy_utils (pulled in by FAB) walks the whole session after every flush for its
    `aggregated` feature, which CreditDesk does not use: bulk imports and jobs slowed down
    several times over with it."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    try:
        from sqlalchemy_utils.aggregates import manager
    except ImportError:
        return
    if event.contains(Session, "after_flush", manager.construct_aggregate_queries):
        event.remove(Session, "after_flush", manager.construct_aggregate_queries)


_drop_sqlalchemy_utils_flush_listener()
