"""Discharge planning on the demo county: features read only through decide -> execute under
the discharge-care-planning agreement, with no identifier and no full date of birth; the
national data opt-out honoured in training and scoring; the saved model, its report, the
discharge team's list, the forecast; and the API, pages and command line over them."""

from __future__ import annotations

import csv
import io
import json
import re
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from civicshare import db
from civicshare.accounts.service import actor_for
from civicshare.app import create_app
from civicshare.audit.models import AuditRecord
from civicshare.cli import app as cli_app
from civicshare.core.codes import ETHNIC_GROUP
from civicshare.demo import DEMO_PASSWORD
from civicshare.discharge import features, service
from civicshare.discharge.features import DischargeError
from civicshare.partners import service as partners
from civicshare.sharing.models import Receipt
from tests.conftest import api_token, post_sign_in

ANALYST = "analyst@worcestershire-cc.example"
TRUST = "provider@worcs-acute.example"
FIRE = "crew.manager@hw-fire.example"


def actor(sessions, email: str):
    with db.session_scope(sessions) as session:
        person = partners.get_person_by_email(session, email)
        return actor_for(person.memberships[0], "cli")


def read_as_service(county, sessions):
    """The five reads and the feature table, as training makes them."""
    with db.session_scope(sessions) as session:
        who = service.service_actor(session)
        return service._read(session, county, who, features.MODEL_PURPOSE, "cli", "test")


def truth(county, name: str):
    return pq.read_table(county.data_dir / "synthetic" / "truth" / name).to_pandas()


def opted_out_spell_ids(county) -> set[str]:
    """Spell records of people who registered the opt-out, as their GP registration records it
    (someone registered with no GP here has no opt-out on record)."""
    people = truth(county, "people.parquet")
    registered = set(truth(county, "gp-registrations.parquet")["person_id"])
    out = set(people.loc[people["national_data_opt_out"], "person_id"]) & registered
    records = truth(county, "acute-admissions.parquet")
    return set(records.loc[records["person_id"].isin(out), "record_id"])


def identifiers(county) -> dict[str, set[str]]:
    """NHS numbers, names, full dates of birth and full postcodes of the acute trust's
    and the GP registrations' records, as the sources hold them."""
    folder = county.data_dir / "synthetic" / "datasets"
    with (folder / "acute-admissions.csv").open(newline="") as handle:
        acute = list(csv.DictReader(handle))
    gp = pq.read_table(folder / "gp-registrations.parquet").to_pylist()
    return {
        "nhs": {r["NHS_NO"].replace(" ", "") for r in acute if r["NHS_NO"]}
        | {r["nhs_number"] for r in gp if r["nhs_number"]},
        "names": {r["PAT_SURNAME"].strip() for r in acute if len(r["PAT_SURNAME"].strip()) > 3}
        | {r["family_name"].strip() for r in gp if len(r["family_name"].strip()) > 3},
        "dob": {r["DOB"] for r in acute if r["DOB"]}
        | {str(r["date_of_birth"]) for r in gp if r["date_of_birth"]},
        "postcode": {r["POSTCODE"].strip() for r in acute if r["POSTCODE"]},
    }


def test_no_identifier_or_full_date_of_birth_reaches_the_features_or_the_saved_model(
    county, county_sessions, trained
):
    read, _, table, _, _ = read_as_service(county, county_sessions)
    delivered = {name: set(t.column_names) for name, t in read.tables.items()}
    for forbidden in ("NHS_NO", "PAT_SURNAME", "PAT_FORENAME", "ADDR1", "nhs_number", "dob",
                      "date_of_birth", "family_name", "Client Name", "NHS Number"):  # fmt: skip
        assert all(forbidden not in columns for columns in delivered.values()), forbidden
    # the date of birth arrives as the year only, the postcode as its sector
    years = read.tables[features.ACUTE].column("DOB").to_pylist()
    assert all(y is None or 1900 < int(y) < 2027 for y in years)
    allowed = {*features.KEYS, *features.FEATURES, *features.SUBGROUPS, *features.OUTCOMES}
    assert set(table.columns) <= allowed
    found = identifiers(county)
    cells = {str(v) for column in table.columns for v in table[column].tolist()}
    cells -= set(ETHNIC_GROUP.values())  # "White" is a surname too
    for kind, values in found.items():
        assert values, kind  # the check has something to find
        assert not (cells & values), kind
    saved = (county.data_dir / trained.row.file).read_bytes()
    for kind, values in found.items():
        leaked = [v for v in values if v.encode() in saved]
        assert leaked == [], kind
    # nor which spells or people it was trained on
    assert not any(s.encode() in saved for s in table["spell_id"])
    assert not any(p.encode() in saved for p in table["person"].dropna()[:200])


def test_an_opted_out_person_is_absent_from_training_and_scoring(county, county_sessions, trained):
    out = opted_out_spell_ids(county)
    with (county.data_dir / "synthetic" / "datasets" / "acute-admissions.csv").open() as handle:
        held = {row["SPELL_ID"] for row in csv.DictReader(handle)}
    assert out & held  # the trust holds their spells
    read, _, table, _, opted_out = read_as_service(county, county_sessions)
    assert opted_out > 0
    assert not (set(table["spell_id"]) & out)
    assert not (set(trained.test["spell_id"]) & out)
    assert trained.row.report["opted_out_spells"] == opted_out
    # scoring: mark a current inpatient's person as opted out in what the ICB delivered,
    # and the same build leaves them off the list's input
    inpatient = table[table["discharged"].isna()].iloc[0]
    gp = read.tables[features.GP]
    flags = [
        True if key == inpatient["person"] else flag
        for key, flag in zip(
            gp.column("person_key").to_pylist(),
            gp.column("national_data_opt_out").to_pylist(),
            strict=True,
        )
    ]
    changed = gp.set_column(
        gp.schema.get_field_index("national_data_opt_out"),
        "national_data_opt_out",
        pa.array(flags),
    )
    tables = {**read.tables, features.GP: changed}
    again, _, _ = features.build(
        features.Read(tables, read.snapshots, read.receipts, read.agreement),
        service.postcode_sectors(county),
    )
    assert inpatient["spell_id"] not in set(again["spell_id"])
    assert len(again) < len(table)


def test_every_read_is_decided_audited_and_receipted_under_the_agreement(
    county, county_sessions, trained
):
    assert len(trained.row.receipts) == len(features.SOURCES)
    with db.session_scope(county_sessions) as session:
        receipts = session.scalars(
            select(Receipt).where(Receipt.id.in_(trained.row.receipts))
        ).all()
        assert {(r.provider, r.dataset) for r in receipts} == set(features.SOURCES)
        assert {r.agreement for r in receipts} == {trained.row.agreement_ref}
        assert {r.purpose for r in receipts} == {features.MODEL_PURPOSE}
        assert {r.snapshot_version for r in receipts} == set(trained.row.snapshots.values())
        record = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "discharge_model_trained")
        ).first()
        assert record.agreement_ref == trained.row.agreement_ref


def test_the_model_is_saved_with_its_version_snapshots_and_agreement(county, trained):
    row = trained.row
    assert row.version >= 1 and row.agreement_ref.startswith("ISA-")
    assert set(row.snapshots) == {f"{p}/{d}" for p, d in features.SOURCES}
    bundle = service.load(county, row)
    assert bundle["version"] == row.version
    assert bundle["agreement"] == row.agreement_ref
    assert bundle["snapshots"] == row.snapshots
    assert bundle["features"] == list(features.FEATURES)
    changed = SimpleNamespace(file=row.file, file_sha256="0" * 64, version=row.version)
    with pytest.raises(DischargeError) as refused:
        service.load(county, changed)
    assert refused.value.status == 409


def test_the_report_judges_every_model_on_later_spells(trained):
    report = trained.row.report
    periods = trained.row.periods
    assert periods["train"]["to"] <= periods["calibrate"]["from"]
    assert periods["calibrate"]["to"] <= periods["test"]["from"]
    assert set(report["models"]) == {"score", "logistic", "boosted"}
    for figures in report["models"].values():
        low, high = figures["auroc_ci"]
        assert 0.5 < figures["auroc"] <= 1 and low <= figures["auroc"] <= high
        assert 0 < figures["brier"] < 0.25
        assert len(figures["calibration"]) == 10
        assert {g["by"] for g in figures["subgroups"]} == set(features.SUBGROUPS)
    chosen = report["models"][report["chosen"]]
    best_baseline = max(report["models"][k]["validation_auroc"] for k in ("score", "logistic"))
    if report["chosen"] == "boosted":
        assert chosen["validation_auroc"] >= best_baseline
    else:
        assert chosen["validation_auroc"] == best_baseline
    compared = report["against_baselines"]
    baseline = compared["baseline"]
    assert report["models"][baseline]["auroc"] == max(
        report["models"][k]["auroc"] for k in ("score", "logistic")
    )
    gain = round(chosen["auroc"] - report["models"][baseline]["auroc"], 4)
    assert compared["gain"] == pytest.approx(gain, abs=2e-4)
    assert compared["beats_baselines"] == (
        report["chosen"] == "boosted" and compared["gain_ci"][0] > 0
    )


def test_the_list_is_the_trusts_current_adult_inpatients_and_each_view_is_audited(
    county, county_sessions, trained
):
    outcomes = truth(county, "discharge_outcomes.parquet")
    records = truth(county, "acute-admissions.parquet")
    out = opted_out_spell_ids(county)
    # adults still in hospital on the data's date (alive then, whatever happens later)
    adult = 75 + 10 * outcomes["x_a"] >= 18
    in_hospital = set(outcomes.index[outcomes["in_hospital"] & adult])
    opted_out_spells = set(records.loc[records["record_id"].isin(out), "spell_index"])
    expected = in_hospital - opted_out_spells
    trust = actor(county_sessions, TRUST)
    with db.session_scope(county_sessions) as session:
        before = session.scalar(select(func.count()).select_from(AuditRecord))
        result = service.inpatient_list(session, county, trust, via="cli")
        after = session.scalar(select(func.count()).select_from(AuditRecord))
    spell_of = dict(zip(records["record_id"], records["spell_index"], strict=True))
    listed = {spell_of[e["spell_id"]] for e in result["inpatients"]}
    assert listed == expected and listed
    assert after - before == len(features.SOURCES) + 1  # five reads and the view
    risks = [e["risk"] for e in result["inpatients"]]
    assert risks == sorted(risks, reverse=True)
    for entry in result["inpatients"]:
        assert entry["risk_band"] in ("High", "Medium", "Low")
        assert entry["pathway"] in (0, 1, 2, 3)
        assert abs(sum(entry["pathway_probabilities"].values()) - 1) < 0.01
        assert entry["age_band"] != "under 18"


@pytest.mark.parametrize("email", [FIRE, ANALYST])
def test_a_partner_outside_the_agreement_or_only_providing_sees_no_list(
    county, county_sessions, trained, email
):
    # fire and rescue is no party; the county only provides its social care records
    outsider = actor(county_sessions, email)
    with db.session_scope(county_sessions) as session:
        before = session.scalar(select(func.count()).select_from(Receipt))
        with pytest.raises(DischargeError) as refused:
            service.inpatient_list(session, county, outsider, via="cli")
        assert refused.value.status == 403
        assert session.scalar(select(func.count()).select_from(Receipt)) == before


SUPPRESSED = re.compile(r"^(\*|0|[1-9][0-9,]*[05])$")


def test_the_forecast_gives_suppressed_aggregates_and_its_held_out_error(county, county_sessions):
    with db.session_scope(county_sessions) as session:
        result = service.demand_forecast(session, county, via="cli")
    assert len(result.weeks) == 6
    assert result.rows and all(SUPPRESSED.match(r["six_weeks"]) for r in result.rows)
    assert all(SUPPRESSED.match(r["needing_support"]) for r in result.history)
    assert {r["pathway"] for r in result.rows} <= {0, 1, 2, 3}
    for method in ("mean", "naive"):
        assert result.held_out[method]["mae"] >= 0
    assert json.dumps(result.to_json())


def test_the_api_needs_the_scope_and_a_party_to_the_agreement(county, trained):
    reader = api_token(county, TRUST, ["discharge:read"])
    unscoped = api_token(county, TRUST, ["share:read"])
    fire = api_token(county, FIRE, ["discharge:read"])
    with TestClient(create_app(county), raise_server_exceptions=False) as client:
        listed = client.get("/api/discharge/list", headers={"Authorization": f"Bearer {reader}"})
        assert listed.status_code == 200, listed.text
        assert listed.json()["inpatients"]
        exported = client.get(
            "/api/discharge/list.csv", headers={"Authorization": f"Bearer {reader}"}
        )
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(exported.text)))
        assert rows[0] == list(service.LIST_COLUMNS)
        assert len(rows) == len(listed.json()["inpatients"]) + 1
        models = client.get("/api/discharge/models", headers={"Authorization": f"Bearer {reader}"})
        assert models.status_code == 200 and models.json()[0]["agreement"].startswith("ISA-")
        for token in (unscoped, fire):
            refused = client.get(
                "/api/discharge/list", headers={"Authorization": f"Bearer {token}"}
            )
            assert refused.status_code == 403


def test_the_pages_show_the_model_card_with_its_plots_and_the_list(county, trained):
    with TestClient(create_app(county), raise_server_exceptions=False) as client:
        assert post_sign_in(client, TRUST, DEMO_PASSWORD).status_code == 303
        card = client.get("/discharge")
        assert card.status_code == 200
        assert 'href="/discharge"' in client.get("/").text  # in the navigation
        assert card.text.count("<svg") == 2 and "Calibration on the test period" in card.text
        assert trained.row.agreement_ref in card.text
        assert 'id="chosen"' in card.text and 'id="against-baselines"' in card.text
        assert "paired bootstrap" in card.text or "nothing beat it" in card.text
        page = client.get("/discharge/list")
        assert page.status_code == 200 and 'id="inpatients"' in page.text
        forecast = client.get("/discharge/forecast")
        assert forecast.status_code == 200 and "<svg" in forecast.text
        client.cookies.clear()
        assert post_sign_in(client, ANALYST, DEMO_PASSWORD).status_code == 303
        assert 'href="/discharge"' not in client.get("/").text  # the county only provides
        assert client.get("/discharge").status_code == 403


def test_the_command_line_reports_and_forecasts(store_env, trained):
    runner = CliRunner()
    report = runner.invoke(cli_app, ["discharge", "report", "--json"])
    assert report.exit_code == 0, report.output
    assert json.loads(report.output.strip().splitlines()[-1])["chosen"] == trained.row.chosen
    forecast = runner.invoke(cli_app, ["discharge", "forecast"])
    assert forecast.exit_code == 0, forecast.output
    assert "Held-out weeks" in forecast.output
    token = api_token(store_env, TRUST, ["discharge:read"])
    listed = runner.invoke(cli_app, ["discharge", "list", "--token", token])
    assert listed.exit_code == 0, listed.output
    assert "Current inpatients" in listed.output
