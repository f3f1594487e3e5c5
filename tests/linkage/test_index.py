"""The person index on both backends: linked through the governed read path, keyed with stable
pseudonymous person keys, extended incrementally, and never holding a value in clear."""

from __future__ import annotations

import json
import logging
import re

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import inspect, select, text

from civicshare import db
from civicshare.audit.models import AuditRecord
from civicshare.datasets import service as datasets
from civicshare.datasets.contracts import example_contracts
from civicshare.linkage import engine as linkage_engine
from civicshare.linkage import service as index
from civicshare.linkage.models import (
    IndexedLink,
    IndexedRecord,
    LinkageRun,
    LinkOrigin,
    PersonKey,
)

GP = ("hw-icb", "gp-registrations")
ACUTE = ("worcs-acute", "acute-admissions")
COMMUNITY = ("hw-health-care", "community-health")
REVIEW_LOWER = 0.02
FILES = {GP: "gp-registrations.parquet", ACUTE: "acute-admissions.csv",
         COMMUNITY: "community-health.parquet"}  # fmt: skip


def push(sessions, settings, county, dataset, path=None):
    contract = next(c for c in example_contracts() if (c.partner, c.name) == dataset)
    with db.session_scope(sessions) as session:
        datasets.register_contract(session, contract)
        result = datasets.push(
            session, settings, *dataset, path or county / "datasets" / FILES[dataset]
        )
    assert result.outcome == "accepted", result.report["reasons"]
    return result.snapshot


def run(sessions, settings, **kw):
    with db.session_scope(sessions) as session:
        outcome = index.run(session, settings, **kw)
        return outcome.message, (outcome.run.id if outcome.run else None)


def keys(sessions, dataset) -> dict[str, str]:
    with db.session_scope(sessions) as session:
        return index.person_keys_of(session, "/".join(dataset))


def truth(county, dataset) -> dict[str, int]:
    table = pq.read_table(county / "truth" / f"{dataset[1]}.parquet")
    return dict(zip(table["record_id"].to_pylist(), table["person_id"].to_pylist(), strict=True))


def host_reviewer(sessions, settings, email="reviewer@host.example", roles=("ig_lead",)):
    """An IG lead of the partner that runs the gateway (or other roles), as an Actor."""
    from civicshare.accounts.service import actor_for
    from civicshare.partners import service as partners

    with db.session_scope(sessions) as session:
        person = partners.get_person_by_email(session, email) or partners.create_person(
            session, email=email, display_name="Rhian Reviewer"
        )
        host = partners.get_by_key(session, settings.host_partner)
        return actor_for(partners.add_membership(session, person, host, list(roles)), "cli")


@pytest.fixture
def linked(seeded, settings, county):
    """GP registrations and hospital admissions pushed and linked in a first run."""
    push(seeded, settings, county, GP)
    push(seeded, settings, county, ACUTE)
    # A wide grey zone, so that this small county leaves pairs to review.
    message, run_id = run(seeded, settings, review_lower=REVIEW_LOWER)
    assert run_id is not None, message
    return seeded


def test_a_first_run_keys_every_record_and_links_the_same_person(linked, settings, county):
    gp, acute = keys(linked, GP), keys(linked, ACUTE)
    gp_truth, acute_truth = truth(county, GP), truth(county, ACUTE)
    with db.session_scope(linked) as session:
        held = {d: datasets.current_snapshot(session, *d, settings).row_count for d in (GP, ACUTE)}
    # Every accepted record (rows quarantined at ingest are not in the snapshot) has a key.
    assert len(gp) == held[GP] and len(acute) == held[ACUTE]
    assert set(gp) <= set(gp_truth) and set(acute) <= set(acute_truth)
    assert all(re.fullmatch(r"P-[A-Z2-7]{16}", k) for k in [*gp.values(), *acute.values()])
    # Pairwise against the synthetic county's truth: the index links people, not households.
    by_key, by_person = {}, {}
    for records, people in ((gp, gp_truth), (acute, acute_truth)):
        for record_id, key in records.items():
            by_key.setdefault(key, set()).add(people[record_id])
            by_person.setdefault(people[record_id], set()).add(key)
    pure = sum(1 for people in by_key.values() if len(people) == 1) / len(by_key)
    whole = sum(1 for ks in by_person.values() if len(ks) == 1) / len(by_person)
    # Records of one person share a key; a key mostly holds one person (how often it holds
    # more is the model's precision, which the engine's own tests measure).
    assert whole > 0.9 and pure > 0.5, (pure, whole)
    assert len(by_key) > len(by_person) / 2

    # The keys are exactly the connected components of the links the run stored.
    with db.session_scope(linked) as session:
        links = session.scalars(select(IndexedLink)).all()
        assert links and all(k.origin == LinkOrigin.model for k in links)
        record_key = {(r.source, r.record_id): r.person_key
                      for r in session.scalars(select(IndexedRecord))}  # fmt: skip
    parent = {r: r for r in record_key}

    def find(r):
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    for link in links:
        parent[find((link.source_l, link.record_id_l))] = find((link.source_r, link.record_id_r))
    components = {}
    for record, key in record_key.items():
        components.setdefault(find(record), set()).add(key)
    assert all(len(ks) == 1 for ks in components.values())
    assert len(components) == len(set(record_key.values()))

    with db.session_scope(linked) as session:
        the_run = session.scalars(select(LinkageRun)).one()
        assert the_run.trained and the_run.model_run_id == the_run.id
        assert the_run.new_records == len(gp) + len(acute) and the_run.existing_records == 0
        assert 0.5 <= the_run.threshold <= 0.999 and the_run.review_lower <= the_run.threshold
        model = linkage_engine.LinkageModel.from_json(the_run.model_json)
        assert model.recommended_threshold == the_run.threshold
        assert the_run.persons == len(set(gp.values()) | set(acute.values()))
        reads = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "person_index_read")
        ).all()
        assert {r.dataset for r in reads} == {"/".join(GP), "/".join(ACUTE)}
        assert all(r.purpose == index.PURPOSE and r.row_count for r in reads)
        acute_read = next(r for r in reads if r.dataset == "/".join(ACUTE))
        assert "NHS_NO" in acute_read.columns and "LOS_DAYS" not in acute_read.columns
        assert session.scalars(
            select(AuditRecord).where(AuditRecord.action == "person_index_run")
        ).one().entity_id == str(the_run.id)

    mapping = pq.read_table(settings.data_dir / index.MAPPING_FILE)
    assert mapping.num_rows == len(gp) + len(acute)
    assert set(mapping["snapshot"].to_pylist()) == {"hw-icb/gp-registrations/v1",
                                                    "worcs-acute/acute-admissions/v1"}  # fmt: skip
    as_read = dict(zip(mapping["record_id"].to_pylist(), mapping["person_key"].to_pylist(),
                       strict=True))  # fmt: skip
    assert all(as_read[r] == k for r, k in acute.items())


def test_a_new_snapshot_is_linked_incrementally_and_keys_stay(
    linked, settings, county, monkeypatch
):
    before = {**keys(linked, GP), **keys(linked, ACUTE)}
    seen = {}
    real = linkage_engine.predict

    def spy(model, records, *, existing=None, threshold=None, **kw):
        seen.update(new=len(records), existing=0 if existing is None else len(existing))
        return real(model, records, existing=existing, threshold=threshold, **kw)

    monkeypatch.setattr(linkage_engine, "predict", spy)
    community = push(linked, settings, county, COMMUNITY)
    message, run_id = run(linked, settings)
    assert "from 1 snapshot:" in message
    assert seen == {"new": community.row_count, "existing": len(before)}

    with db.session_scope(linked) as session:
        second = session.get(LinkageRun, run_id)
        assert not second.trained and second.model_run_id == run_id - 1  # no retraining
        assert second.snapshots == ["hw-health-care/community-health/v1"]
        merged = {k.key: k.merged_into for k in session.scalars(select(PersonKey))}
    after = {**keys(linked, GP), **keys(linked, ACUTE)}
    for record_id, key in before.items():
        # The key stays, unless two people's records were found to be one: then the older
        # key stays and the other records say which key took them.
        assert after[record_id] == key or merged[key] == after[record_id]
    assert sum(after[r] == k for r, k in before.items()) / len(before) > 0.97
    # New records that are people already known take their keys.
    community_keys = keys(linked, COMMUNITY)
    assert len(set(community_keys.values()) & set(after.values())) > len(community_keys) / 3

    assert run(linked, settings) == ("The person index is up to date: no new snapshot to link.",
                                     None)  # fmt: skip


def test_a_resent_file_relinks_only_records_whose_evidence_changed(
    linked, settings, county, tmp_path
):
    before = keys(linked, ACUTE)
    table = pacsv.read_csv(
        county / "datasets" / FILES[ACUTE],
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in ("NHS_NO", "SPELL_ID", "DOB", "ADMIT_DT",
                                                   "DISCH_DT")}
        ),
    )  # fmt: skip
    dropped, changed = table["SPELL_ID"][0].as_py(), table["SPELL_ID"][1].as_py()
    surnames = table["PAT_SURNAME"].to_pylist()
    surnames[1] = (surnames[1] or "X") + "ington"
    table = table.set_column(
        table.schema.get_field_index("PAT_SURNAME"), "PAT_SURNAME", pa.array(surnames)
    ).slice(1)
    pacsv.write_csv(table, tmp_path / "acute-admissions.csv")
    push(linked, settings, county, ACUTE, tmp_path / "acute-admissions.csv")
    _message, run_id = run(linked, settings)

    with db.session_scope(linked) as session:
        again = session.get(LinkageRun, run_id)
        assert again.new_records == 1  # only the changed record is compared again
        rows = session.scalars(
            select(IndexedRecord).where(IndexedRecord.source == "/".join(ACUTE))
        ).all()
        assert {r.snapshot_version for r in rows} == {2}
    after = keys(linked, ACUTE)
    assert dropped not in after and changed in after
    unchanged = [r for r in after if r != changed]
    assert all(after[r] == before[r] for r in unchanged)
    mapping = pq.read_table(settings.data_dir / index.MAPPING_FILE)
    assert "worcs-acute/acute-admissions/v1" not in mapping["snapshot"].to_pylist()


def test_no_value_reaches_the_store_the_index_files_or_the_logs(seeded, settings, county, caplog):
    caplog.set_level(logging.DEBUG)

    def haystacks() -> dict[str, str]:
        found = {}
        for path in settings.data_dir.rglob("*"):
            if path.is_dir() or path.name.endswith(("-wal", "-shm")):
                continue
            found[str(path)] = path.read_bytes().decode("latin-1").lower()
            if path.suffix == ".parquet":
                decoded = pq.read_table(path).to_pydict()
                found[f"{path} (decoded)"] = json.dumps(decoded, default=str).lower()
        engine = db.make_engine(settings.effective_database_url)
        with engine.connect() as connection:
            for name in inspect(engine).get_table_names():
                rows = connection.execute(text(f'SELECT * FROM "{name}"')).all()
                found[f"table {name}"] = repr(rows).lower()
        engine.dispose()
        found["logs"] = caplog.text.lower()
        return found

    push(seeded, settings, county, GP)
    push(seeded, settings, county, ACUTE)
    gp = pq.read_table(county / "datasets" / FILES[GP])
    nhs = {n for n in gp["nhs_number"].to_pylist() if n}
    nhs |= {f"{n[:3]} {n[3:6]} {n[6:]}" for n in list(nhs)}
    names = {s for s in gp["family_name"].to_pylist() + gp["given_name"].to_pylist() if s}
    streets = {a for a in gp["address_line_1"].to_pylist() if a and len(a) > 12}
    present = " ".join(haystacks().values())
    # Only values that ingest kept out (a name may also be a street or a partner's name).
    needles = {v.lower() for v in nhs | names | streets if len(v) >= 6}
    needles = {n for n in needles if n not in present}
    assert len(needles) > 100

    run(seeded, settings, review_lower=REVIEW_LOWER)
    with db.session_scope(seeded) as session:
        items = index.queue(session)
    assert items, "the county should leave some pairs for review"
    reviewer = host_reviewer(seeded, settings)
    with db.session_scope(seeded) as session:
        shown = index.review_pair(session, settings, reviewer, items[0].id)
        assert any(row["left"] or row["right"] for row in shown["rows"])
        index.decide(session, settings, reviewer, items[0].id, accept=True, reason="Same person")
    leaks = [(n, where) for where, hay in haystacks().items() for n in needles if n in hay]
    assert leaks == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_command_line_runs_reports_status_and_lists_the_queue(seeded, settings, county):
    from typer.testing import CliRunner

    from civicshare.cli import app

    env = {
        "CIVICSHARE_DATA_DIR": str(settings.data_dir),
        "CIVICSHARE_DATABASE_URL": settings.effective_database_url,
        "COLUMNS": "200",
    }
    runner = CliRunner()
    push(seeded, settings, county, GP)
    waiting = runner.invoke(app, ["index", "status"], env=env)
    assert waiting.exit_code == 0, waiting.output
    assert "0 people from 0 records" in waiting.output
    assert "Not yet linked (civicshare index run): hw-icb/gp-registrations/v1" in waiting.output

    first = runner.invoke(app, ["index", "run"], env=env)
    assert first.exit_code == 0, first.output
    assert "linked hw-icb/gp-registrations/v1" in first.output
    assert "Run 1: trained a new model" in first.output
    again = runner.invoke(app, ["index", "run"], env=env)
    assert "up to date" in again.output

    status = runner.invoke(app, ["index", "status"], env=env)
    with db.session_scope(seeded) as session:
        state = index.status(session, settings)
    assert f"{state.persons:,} people from {state.records:,} records" in status.output
    assert "Model trained in run 1." in status.output and "Not yet linked" not in status.output

    queue = runner.invoke(app, ["index", "review", "--limit", "2"], env=env)
    assert queue.exit_code == 0, queue.output
    shown = (
        f"{min(2, state.open_reviews)} open items shown"
        if state.open_reviews
        else "No open review items."
    )
    assert shown in queue.output
    wrong = runner.invoke(app, ["index", "review", "--status", "maybe"], env=env)
    assert wrong.exit_code == 2 and "'maybe' is not a review status" in wrong.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_read_of_the_index_goes_through_the_compiler_and_is_audited(
    seeded, settings, county, monkeypatch
):
    from civicshare.dataplane import query as compiler

    calls = []
    real = compiler.run

    def counting(compiled, view, **kwargs):
        calls.append(view.ref)
        return real(compiled, view, **kwargs)

    monkeypatch.setattr(compiler, "run", counting)
    push(seeded, settings, county, GP)
    push(seeded, settings, county, ACUTE)
    run(seeded, settings, review_lower=REVIEW_LOWER)
    assert sorted(calls) == ["hw-icb/gp-registrations/v1", "worcs-acute/acute-admissions/v1"]

    reviewer = host_reviewer(seeded, settings)
    with db.session_scope(seeded) as session:
        item = index.queue(session)[0]
        index.review_pair(session, settings, reviewer, item.id)
    assert len(calls) == 4  # one narrowed read of each record's snapshot
    with db.session_scope(seeded) as session:
        actions = session.scalars(
            select(AuditRecord.action).where(AuditRecord.action.like("person_index_%"))
        ).all()
    assert sorted(actions) == sorted(
        ["person_index_read"] * 2 + ["person_index_run"] + ["person_index_pair_viewed"] * 2
    )
