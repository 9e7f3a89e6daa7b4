"""The migrations produce exactly the models' schema (SQLite, and PostgreSQL in CI)."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model

from app.extensions import db


def test_migrations_match_models(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Model.metadata)
    assert differences == []


def test_money_columns_are_numeric_never_float():
    from sqlalchemy import Float, Numeric

    for table in Model.metadata.sorted_tables:
        for column in table.columns:
            assert not isinstance(column.type, Float), f"{table.name}.{column.name} is a float"
            if column.name in {"amount", "total_amount", "open_amount", "balance"}:
                assert isinstance(column.type, Numeric), f"{table.name}.{column.name}"
