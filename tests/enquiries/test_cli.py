"""`civicshare enquiries` for admins at the gateway: CSV loads refused whole with the row and
field named, service levels, reminders on a given day, and the retention run's evidence line."""

from __future__ import annotations

from datetime import timedelta

from typer.testing import CliRunner

from civicshare import db
from civicshare.cli import app as cli_app
from civicshare.enquiries import service, upkeep
from tests.enquiries.conftest import BROMSGROVE_CLLR, STREET, actor

runner = CliRunner()


def test_a_bad_topics_file_is_refused_whole_naming_row_and_field(casework, operator_env, tmp_path):
    path = tmp_path / "topics.csv"
    path.write_text("key,name\nparking,Parking\nlibraries,\n")
    refused = runner.invoke(cli_app, ["enquiries", "load-topics", str(path)])
    assert refused.exit_code == 2
    assert "Row 3, name: give the topic's name" in refused.output
    listed = runner.invoke(cli_app, ["enquiries", "topics"])
    assert "parking" not in listed.output  # the good row was not stored either
    path.write_text("key,name\nparking,Parking\n")
    loaded = runner.invoke(cli_app, ["enquiries", "load-topics", str(path)])
    assert loaded.exit_code == 0
    assert "Topics: 1 added, 0 changed, 0 unchanged." in loaded.output


def test_service_level_reminders_and_the_retention_evidence(casework, operator_env, sessions):
    assert (
        runner.invoke(cli_app, ["enquiries", "service-level", "bromsgrove-dc", "3"]).exit_code == 0
    )
    bad = runner.invoke(cli_app, ["enquiries", "service-level", "bromsgrove-dc", "400"])
    assert bad.exit_code == 2 and "1 to 90 days" in bad.output
    with db.session_scope(sessions) as session:
        enquiry = service.raise_enquiry(
            session, casework, actor(session, BROMSGROVE_CLLR, "bromsgrove-dc"),
            topic="waste", summary="Bins missed three weeks running", postcode=STREET,
            consent=True, resident=service.Resident(name="Ada Quill"),
        )  # fmt: skip
        reference, due = enquiry.reference, enquiry.due_on
    day = (due + timedelta(days=1)).isoformat()
    late = runner.invoke(cli_app, ["enquiries", "remind", "--today", day])
    assert late.exit_code == 0, late.output
    assert f"{reference}: overdue; the team and the councillor were reminded." in late.output
    again = runner.invoke(cli_app, ["enquiries", "remind", "--today", day])
    assert "0 due-soon and 0 overdue reminders sent." in again.output
    purge_day = (due + timedelta(days=upkeep.RESIDENT_RETENTION_DAYS)).isoformat()
    run = runner.invoke(cli_app, ["retention", "run", "--today", purge_day])
    assert run.exit_code == 0, run.output
    assert f"{reference}: the resident's details deleted" in run.output
    assert "Resident details deleted from 1 enquiry." in run.output
