"""`civicshare agreements`: list, show, review-due, expire, ropa and templates."""

from __future__ import annotations

import csv
from datetime import timedelta

from typer.testing import CliRunner

from civicshare import db
from civicshare.agreements import service
from civicshare.agreements.models import Status
from civicshare.cli import app
from tests.agreements.conftest import TODAY, make_active

runner = CliRunner()


def invoke(settings, *args: str) -> str:
    env = {"CIVICSHARE_DATABASE_URL": settings.effective_database_url, "COLUMNS": "200",
           "CIVICSHARE_DATA_DIR": str(settings.data_dir)}  # fmt: skip
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_agreements_commands(settings, sessions, world, tmp_path):
    with db.session_scope(sessions) as session:
        ending = make_active(session, world, start_date=TODAY - timedelta(days=40),
                             end_date=TODAY - timedelta(days=1))  # fmt: skip
        due = make_active(session, world, review_date=TODAY + timedelta(days=10))
        ref_ending, ref_due = ending.reference, due.reference
    listed = invoke(settings, "agreements", "list")
    assert ref_ending in listed and "Active" in listed
    shown = invoke(settings, "agreements", "show", ref_due)
    assert "Health or social care – Article 9(2)(h)" in shown and "activated" in shown
    review = invoke(settings, "agreements", "review-due", "--within", "3650")
    assert ref_due in review
    expired = invoke(settings, "agreements", "expire")
    assert f"{ref_ending} version 1 expired: Its end date" in expired
    assert "1 agreement expired." in expired
    with db.session_scope(sessions) as session:
        assert service.get(session, ref_ending).versions[0].status == Status.expired
    assert "Status: expired" not in invoke(settings, "agreements", "list", "--status", "active")
    out = tmp_path / "ropa.csv"
    assert "Wrote 2 rows" in invoke(settings, "agreements", "ropa", "--format", "csv",
                                    "--out", str(out))  # fmt: skip
    rows = list(csv.DictReader(out.open()))
    assert {r["Agreement"] for r in rows} == {ref_due}
    xlsx = tmp_path / "ropa.xlsx"
    invoke(settings, "agreements", "ropa", "--format", "xlsx", "--out", str(xlsx))
    assert xlsx.read_bytes()[:2] == b"PK"
    assert "hospital-discharge" in invoke(settings, "agreements", "templates")
