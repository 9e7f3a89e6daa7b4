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
