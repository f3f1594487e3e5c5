"""The governance store: the same migrations on SQLite and PostgreSQL, matching the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from civicshare import db
from civicshare.datasets import service as datasets
from civicshare.partners import service as partners


def test_migrations_create_every_table_of_the_models(engine):
    db.import_models()
    assert db.current_revision(engine) == db.head_revision()
    assert set(db.Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_models_and_migrations_do_not_drift(engine):
    db.import_models()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.Base.metadata)
    assert differences == [], "models differ from migrations: write a new revision"


def test_downgrade_to_empty_then_upgrade_again(engine):
    db.downgrade(engine, "base")
    assert db.current_revision(engine) is None
    assert "partners" not in inspect(engine).get_table_names()
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()


def test_partner_type_is_checked_by_the_store_itself(sessions):
    with db.session_scope(sessions) as session:
        partners.upsert(session, [{"key": "fire", "name": "Fire", "type": "fire_and_rescue"}])
    with pytest.raises(IntegrityError), db.session_scope(sessions) as session:
        session.connection().exec_driver_sql(
            "INSERT INTO partners (key, name, type, status, created_at) "
            "VALUES ('bad', 'Bad', 'bakery', 'invited', CURRENT_TIMESTAMP)"
        )


def test_unknown_partner_type_is_refused_with_the_record_named(sessions):
    with (
        pytest.raises(ValueError, match="partner bakery: field 'type' is 'shop'"),
        db.session_scope(sessions) as session,
    ):
        partners.upsert(session, [{"key": "bakery", "name": "Bakery", "type": "shop"}])


def test_a_failed_unit_of_work_leaves_nothing_half_written(sessions):
    records = [
        {"key": "county", "name": "County Council", "type": "county_council"},
        {"key": "broken", "name": "Broken", "type": "nonsense"},
    ]
    with pytest.raises(ValueError), db.session_scope(sessions) as session:
        partners.upsert(session, records)
    with db.session_scope(sessions) as session:
        assert partners.list_partners(session) == []


def test_dataset_names_are_unique_per_partner_and_holdings_add_up(sessions):
    with db.session_scope(sessions) as session:
        fire, police = partners.upsert(
            session,
            [
                {"key": "fire", "name": "Fire", "type": "fire_and_rescue"},
                {"key": "police", "name": "Police", "type": "police"},
            ],
        )
        for name, rows in [("visits", 120), ("incidents", 30)]:
            datasets.register(
                session,
                partner_id=fire.id,
                name=name,
                title=name.title(),
                file_format="csv",
                row_count=rows,
                column_count=4,
            )
        # Registering again updates in place rather than duplicating.
        datasets.register(
            session,
            partner_id=fire.id,
            name="visits",
            title="Home fire safety visits",
            file_format="csv",
            row_count=150,
            column_count=5,
        )
        holdings = datasets.holdings_by_partner(session)
        assert holdings[fire.id].datasets == 2
        assert holdings[fire.id].rows == 180
        assert holdings[fire.id].titles == ("Home fire safety visits", "Incidents")
        assert police.id not in holdings
