"""Objections and the national data opt-out at the choke point: an objector's rows stay behind
under the purpose objected to and only there; the opt-out holds health rows back from planning
uses; the audit log counts what was withheld and never names whom."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from civicshare import db
from civicshare.agreements import service as agreements
from civicshare.audit.models import AuditRecord
from civicshare.discharge import service as discharge
from civicshare.linkage.models import IndexedRecord
from civicshare.rights import service as rights
from civicshare.rights.models import NationalOptOut
from civicshare.sharing import delivery
from civicshare.sharing.service import ShareRequest, decide
from tests.rights.conftest import IG_LEAD, acting

ACUTE = "worcs-acute/acute-admissions"
MODEL, LIST = "discharge-risk-model", "discharge-list"


def _reference(session) -> str:
    return next(
        v.reference
        for v in agreements.active_versions(session)
        if MODEL in v.purpose_codes() and LIST in v.purpose_codes()
    )


def _pull(session, county, purpose: str, provider="worcs-acute", dataset="acute-admissions",
          columns=("SPELL_ID",)):  # fmt: skip
    """The spell ids delivered, and the audit record of the delivery."""
    request = ShareRequest(
        actor=discharge.service_actor(session),
        purpose=purpose,
        provider=provider,
        dataset=dataset,
        columns=columns,
        agreement=_reference(session),
        scope="discharge:read",
    )
    shared = delivery.share(session, county, request, via="cli")
    record = session.scalars(
        select(AuditRecord)
        .where(AuditRecord.action == "share_allowed")
        .order_by(AuditRecord.seq.desc())
    ).first()
    return shared, record


def _an_objector(session) -> tuple[str, str, set[str]]:
    """A person with two or more spells: one spell id to name them by, their person key and
    the ids of every spell of theirs the index holds."""
    by_person: dict[str, set[str]] = {}
    for record_id, key in session.execute(
        select(IndexedRecord.record_id, IndexedRecord.person_key).where(
            IndexedRecord.source == ACUTE
        )
    ):
        by_person.setdefault(key, set()).add(record_id)
    key, spells = next((k, s) for k, s in sorted(by_person.items()) if len(s) >= 2)
    return sorted(spells)[0], key, spells


def test_an_objection_removes_exactly_that_persons_rows_under_that_purpose_only(
    county, county_sessions
):
    with db.session_scope(county_sessions) as session:
        before, _ = _pull(session, county, MODEL)
        listed_before, _ = _pull(session, county, LIST)
        named_by, key, spells = _an_objector(session)
        lead = acting(session, IG_LEAD)
        objection = rights.record_objection(
            session, lead, purpose=MODEL, reason="Wrote to the trust's DPO objecting to "
            "modelling", source=ACUTE, record_id=named_by,
        )  # fmt: skip
        assert objection.person_key == key
        objection_id = objection.id

    with db.session_scope(county_sessions) as session:
        after, record = _pull(session, county, MODEL)
        ids_before = set(map(str, before.table.column("SPELL_ID").to_pylist()))
        ids_after = set(map(str, after.table.column("SPELL_ID").to_pylist()))
        assert spells <= ids_before  # the person's spells were there before
        assert ids_after == ids_before - spells  # ... and only they are gone
        assert record.details["withheld"] == {"objection": len(spells), "rows": len(spells)}
        assert record.row_count == len(ids_after)
        stored = json.dumps(record.details) + (record.reason or "")
        assert key not in stored and not any(s in stored for s in spells)

        listed, listed_record = _pull(session, county, LIST)  # another purpose: unaffected
        assert (
            listed.table.column("SPELL_ID").to_pylist()
            == listed_before.table.column("SPELL_ID").to_pylist()
        )
        assert "withheld" not in listed_record.details

    with db.session_scope(county_sessions) as session:  # withdrawn: the rows flow again
        rights.withdraw_objection(
            session, acting(session, IG_LEAD), objection_id, reason="The person withdrew it"
        )
    with db.session_scope(county_sessions) as session:
        again, record = _pull(session, county, MODEL)
        assert again.table.num_rows == before.table.num_rows
        assert "withheld" not in record.details


def test_the_decision_names_the_withheld_person_for_the_data_plane_only(county, county_sessions):
    with db.session_scope(county_sessions) as session:
        named_by, key, _ = _an_objector(session)
        objection = rights.record_objection(
            session, acting(session, IG_LEAD), purpose=MODEL, reason="By letter",
            source=ACUTE, record_id=named_by,
        )  # fmt: skip
        request = ShareRequest(
            actor=discharge.service_actor(session), purpose=MODEL, provider="worcs-acute",
            dataset="acute-admissions", columns=("SPELL_ID",), agreement=_reference(session),
            scope="discharge:read",
        )  # fmt: skip
        decision = decide(session, request)
        assert decision.allowed
        assert [(w.reason, w.person_keys) for w in decision.grant.withheld] == [
            ("objection", (key,))
        ]
        # Not held in the over-65 register: nothing to withhold there, so nothing is asked of it.
        other = decide(session, ShareRequest(**{**request.__dict__, "purpose": LIST}))
        assert other.allowed and other.grant.withheld == ()
        rights.withdraw_objection(session, None, objection.id, reason="tidy up")


def test_an_objection_needs_an_ig_lead_a_known_purpose_and_a_record_the_index_holds(
    county, county_sessions
):
    with db.session_scope(county_sessions) as session:
        analyst = acting(session, "analyst@worcestershire-cc.example")
        with pytest.raises(rights.RightsError, match="Only an IG lead") as refused:
            rights.record_objection(
                session, analyst, purpose=MODEL, reason="x", source=ACUTE, record_id="1"
            )
        assert refused.value.status == 403
        lead = acting(session, IG_LEAD)
        with pytest.raises(rights.RightsError, match="not a purpose of any agreement") as bad:
            rights.record_objection(
                session, lead, purpose="marketing", reason="By phone", source=ACUTE,
                record_id="1",
            )  # fmt: skip
        assert bad.value.field == "purpose"
        with pytest.raises(rights.RightsError, match="holds no record 'NOPE'") as unknown:
            rights.record_objection(
                session, lead, purpose=MODEL, reason="By phone", source=ACUTE, record_id="NOPE"
            )
        assert unknown.value.field == "record_id"


def test_the_national_data_opt_out_holds_health_rows_back_from_planning_only(
    county, county_sessions
):
    with db.session_scope(county_sessions) as session:
        before, _ = _pull(session, county, MODEL)
        listed_before, _ = _pull(session, county, LIST)
        done = rights.refresh_national_opt_outs(session, county, acting(session, IG_LEAD))
        assert done.source == "hw-icb/gp-registrations" and done.opted_out > 0
        opted = set(session.scalars(select(NationalOptOut.person_key)))
        their_spells = set(
            session.scalars(
                select(IndexedRecord.record_id).where(
                    IndexedRecord.source == ACUTE, IndexedRecord.person_key.in_(opted)
                )
            )
        )
    with db.session_scope(county_sessions) as session:
        after, record = _pull(session, county, MODEL)
        ids_before = set(map(str, before.table.column("SPELL_ID").to_pylist()))
        ids_after = set(map(str, after.table.column("SPELL_ID").to_pylist()))
        assert their_spells and ids_after == ids_before - their_spells
        assert record.details["withheld"]["national data opt-out"] == len(their_spells)
        listed, _ = _pull(session, county, LIST)  # individual care: the opt-out does not apply
        assert listed.table.num_rows == listed_before.table.num_rows
        session.execute(NationalOptOut.__table__.delete())  # leave the county as it was


def test_objections_over_the_api_and_the_command_line(county, county_sessions, monkeypatch):
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from civicshare.app import create_app
    from civicshare.cli import app as cli_app
    from tests.conftest import api_token

    with db.session_scope(county_sessions) as session:
        named_by, key, _ = _an_objector(session)
    lead = api_token(county, IG_LEAD, ["objections:write"])
    reader = api_token(county, IG_LEAD, ["share:read"])
    body = {"purpose": MODEL, "reason": "By e-mail", "source": ACUTE, "record_id": named_by}
    with TestClient(create_app(county)) as client:
        refused = client.post(
            "/api/rights/objections", json=body, headers={"Authorization": f"Bearer {reader}"}
        )
        assert refused.status_code == 403
        made = client.post(
            "/api/rights/objections", json=body, headers={"Authorization": f"Bearer {lead}"}
        )
        assert made.status_code == 201, made.text
        assert made.json()["person_key"] == key and made.json()["purpose"] == MODEL
        bad = client.post(
            "/api/rights/objections",
            json={**body, "record_id": "NOPE"},
            headers={"Authorization": f"Bearer {lead}"},
        )
        assert bad.status_code == 422 and bad.json()["field"] == "record_id"

    monkeypatch.setenv("CIVICSHARE_DATA_DIR", str(county.data_dir))
    monkeypatch.setenv("CIVICSHARE_DATABASE_URL", county.effective_database_url)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    listed = runner.invoke(cli_app, ["rights", "objections", "list"])
    assert listed.exit_code == 0 and key in listed.output
    number = str(made.json()["id"])
    done = runner.invoke(
        cli_app, ["rights", "objections", "withdraw", number, "--reason", "Withdrawn by phone"]
    )
    assert done.exit_code == 0, done.output
    again = runner.invoke(
        cli_app, ["rights", "objections", "withdraw", number, "--reason", "Twice"]
    )
    assert again.exit_code != 0 and "already withdrawn" in again.output
