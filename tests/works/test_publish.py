"""Publishing a promoter's programme, on SQLite and PostgreSQL: governed by the works agreement
and the promoter's role, bad rows reported by row and field, nothing changed by a file with no
valid rows, and each new clash notified once to both promoters, in the app and by e-mail
through a real local SMTP server."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import select

from civicshare import db
from civicshare.accounts.service import actor_for
from civicshare.datasets import service as datasets
from civicshare.notifications import service as notifications
from civicshare.notifications.models import Notification
from civicshare.partners import service as partners
from civicshare.works import service
from tests.conftest import demo_store
from tests.mailbox import with_smtp

PLANNER = "works.planner@mercia-water.example"
CO_ORDINATOR = "streetworks@worcestershire-cc.example"
HEADER = (
    "work_reference_number,promoter,usrn,street_name,works_category,activity_type,"
    "traffic_management_type,proposed_start_date,proposed_end_date,works_location_wkt,"
    "excavation,traffic_sensitive"
)


def actor(sessions, email):
    with db.session_scope(sessions) as session:
        return actor_for(partners.get_person_by_email(session, email).memberships[0], "cli")


def a_county_work(settings) -> dict:
    path = settings.data_dir / "synthetic" / "datasets" / "highway-works.csv"
    with path.open(newline="") as handle:
        return next(csv.DictReader(handle))


def programme_file(tmp_path, rows: list[str]):
    path = tmp_path / "mercia-programme.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def county(settings):
    return demo_store(settings, people=300, seed=5)


def test_a_new_clash_is_notified_once_to_both_promoters(
    county,
    sessions,
    tmp_path,
    smtp_server,  # noqa: F811
):
    controller, inbox = smtp_server
    mail_settings = with_smtp(county, controller.port)
    target = a_county_work(county)
    clashing = (
        f"MWNEW0001,Mercia Water,{target['usrn']},{target['street_name']},standard,"
        f"Leak repair,two_way_signals,{target['proposed_start_date']},"
        f'{target["proposed_start_date"]},"{target["works_location_wkt"]}",yes,no'
    )
    bad = (
        "MWNEW0002,Mercia Water,12345,Somewhere,standard,Leak repair,two_way_signals,"
        '2027-03-02,2027-03-01,"POINT (390000 250000)",yes,no'
    )
    planner = actor(sessions, PLANNER)
    with db.session_scope(sessions) as session:
        published = service.publish(
            session, mail_settings, planner, programme_file(tmp_path, [clashing, bad])
        )
    assert published.dataset == "utility-works" and published.accepted == 1
    assert [(e.where, e.field) for e in published.errors] == [("row 2", "proposed_end_date")]
    new = [c for c in published.new_clashes if "MWNEW0001" in c.pair]
    assert [c.pair for c in new] == [tuple(sorted(("MWNEW0001", target["work_reference_number"])))]
    assert notifications.wait_for_mail(30)

    with db.session_scope(sessions) as session:
        told = session.scalars(select(Notification)).all()
        told_partners = {n.membership.partner.key for n in told if "MWNEW0001" in n.subject}
        current = datasets.current_snapshot(session, "mercia-water", "utility-works", county)
    assert told_partners == {"mercia-water", "worcestershire-cc"}
    mailed = {m["To"] for m in inbox.messages if "MWNEW0001" in m["Subject"]}
    assert {PLANNER, CO_ORDINATOR} <= mailed
    assert current.row_count == 1

    # the same programme again: the clash is known, nobody is told twice
    with db.session_scope(sessions) as session:
        again = service.publish(
            session, mail_settings, planner, programme_file(tmp_path, [clashing])
        )
    assert again.new_clashes == [] and again.snapshot_version == published.snapshot_version + 1
    with db.session_scope(sessions) as session:
        assert len(session.scalars(select(Notification)).all()) == len(told)


def test_refusals_change_nothing(county, sessions, tmp_path):
    """A file with no valid rows, a partner outside every works agreement, a member who is
    not the promoter's data provider: each refused, the programme unchanged."""
    planner = actor(sessions, PLANNER)
    with db.session_scope(sessions) as session:
        before = datasets.current_snapshot(session, "mercia-water", "utility-works", county)
    bad = programme_file(
        tmp_path,
        [
            "MW1,Mercia Water,1,A Street,sometimes,Leak repair,two_way_signals,2027-01-01,"
            '2027-01-02,"POINT (390000 250000)",yes,no'
        ],
    )
    with db.session_scope(sessions) as session, pytest.raises(service.WorksError) as refused:
        service.publish(session, county, planner, bad)
    assert "row 1, works_category" in str(refused.value) and "nothing was published" in str(
        refused.value
    )
    with db.session_scope(sessions) as session:
        after = datasets.current_snapshot(session, "mercia-water", "utility-works", county)
    assert after.version == before.version and after.row_count == before.row_count

    hospital = actor(sessions, "provider@worcs-acute.example")
    path = programme_file(tmp_path, [])
    with db.session_scope(sessions) as session, pytest.raises(service.WorksError) as refused:
        service.publish(session, county, hospital, path)
    assert refused.value.status == 403 and "publishing is refused" in str(refused.value)
    analyst = actor(sessions, "analyst@worcestershire-cc.example")
    with db.session_scope(sessions) as session, pytest.raises(service.WorksError) as refused:
        service.publish(session, county, analyst, path)
    assert refused.value.status == 403 and "data provider" in str(refused.value)
