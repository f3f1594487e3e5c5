"""Subject access on the demo county: a request finds the person's records in several partners'
datasets and their sharing history; an uncertain candidate is exported only once confirmed;
a rectification or erasure reaches exactly the partners that received the record; the
provider's next snapshot is checked to carry it."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, timedelta

import pytest

from civicshare import db
from civicshare.linkage.person_index import attach
from civicshare.linkage.person_index.sources import person_sources
from civicshare.notifications.models import Notification
from civicshare.partners import service as partners
from civicshare.rights.access import corrections, matching, service
from civicshare.rights.access.models import Match, SnapshotCheck
from civicshare.sharing import delivery
from civicshare.sharing.service import SUBJECT_ACCESS, ShareRequest, decide
from tests.rights.access.conftest import IG_LEAD, acting, true_person, true_records

ACUTE = "worcs-acute/acute-admissions"


@pytest.fixture(scope="module")
def truth(county, county_sessions):
    with db.session_scope(county_sessions) as session:
        sources = [p.source for p in person_sources(session, county)]
        sources += [p.source for p in attach.attachment_sources(session, county)]
    return true_records(county, sources)


def _most_spread(truth, rank: int = 0) -> int:
    ordered = sorted(truth, key=lambda p: (-len({s for s, _ in truth[p]}), p))
    return ordered[rank]


def _details(county, person_id: int, **changes) -> matching.Details:
    p = true_person(county, person_id)
    given = {
        "given_name": p["forename"],
        "surname": p["surname"],
        "date_of_birth": str(p["date_of_birth"]),
        "nhs_number": p["nhs_number"] or "",
    }
    return matching.details(**{**given, **changes})


def _service_actor(session, partner_key: str):
    partner = partners.get_by_key(session, partner_key)
    return partners.service_actor(
        session, partner, email=f"pull@{partner_key}.example", name="Test pull", via="cli"
    )


def _pull(session, settings, partner_key: str, purpose: str, dataset: str = "acute-admissions"):
    request = ShareRequest(
        actor=_service_actor(session, partner_key),
        purpose=purpose,
        provider="worcs-acute",
        dataset=dataset,
    )
    return delivery.share(session, settings, request, via="cli")


def test_a_request_finds_the_persons_records_across_partners_and_their_sharing(
    county, county_sessions, truth
):
    person_id = _most_spread(truth)
    theirs = truth[person_id]
    with db.session_scope(county_sessions) as session:
        _pull(session, county, "worcestershire-cc", "discharge-planning")
        ig_lead = acting(session, IG_LEAD, "worcestershire-cc")
        request = service.open_request(session, county, ig_lead, _details(county, person_id))
        exported = {
            (r.source, r.record_id) for r in request.records if r.match in (Match.confident,)
        }
        assert exported, "nothing found"
        assert exported <= theirs, f"foreign records exported: {exported - theirs}"
        assert len({s for s, _ in exported}) >= 3  # several partners' datasets
        assert request.due_on == service.add_months(date.today(), 1)
        made = service.export(session, county, ig_lead, request)
        acute = sorted(rid for s, rid in exported if s == ACUTE)
        rows = service.read_records(session, county, ig_lead, ACUTE, acute, note="t").to_pylist()
        # The discharge planning agreement shares pathways 1 to 3 only.
        on_pathway = [r["SPELL_ID"] for r in rows if str(r["DISCH_PATHWAY"]) in ("1", "2", "3")]
    archive = zipfile.ZipFile(io.BytesIO(made.data))
    assert "summary.html" in archive.namelist()
    assert made.records == len(exported)
    history = list(csv.DictReader(io.StringIO(archive.read("sharing-history.csv").decode())))
    for h in history:  # each delivery listed names which of the person's records it carried
        mine = {rid for s, rid in exported if s == f"{h['provider']}/{h['dataset']}"}
        assert h["your_records"] and set(h["your_records"].split(", ")) <= mine
    told = {h["your_records"] for h in history if h["recipient"] == "worcestershire-cc"}
    assert told == ({", ".join(on_pathway)} if on_pathway else set())
    assert all(h["agreement"] != "subject-access" for h in history)  # the export's own reads
    summary = archive.read("summary.html").decode()
    assert "What each organisation holds" in summary


def test_subject_access_reads_only_the_named_records_and_only_for_an_ig_lead(
    county, county_sessions
):
    with db.session_scope(county_sessions) as session:
        ig_lead = acting(session, IG_LEAD, "worcestershire-cc")
        rows = service.read_records(session, county, ig_lead, ACUTE, ["SP000000001"], note="t")
        assert rows.column("SPELL_ID").to_pylist() == ["SP000000001"]
        analyst = _service_actor(session, "worcestershire-cc")
        refused = decide(
            session,
            ShareRequest(
                actor=analyst,
                purpose=SUBJECT_ACCESS,
                provider="worcs-acute",
                dataset="acute-admissions",
                records=("SP000000001",),
            ),
        )
        assert not refused.allowed and refused.clause == "role"
        unnamed = decide(
            session,
            ShareRequest(
                actor=ig_lead, purpose=SUBJECT_ACCESS, provider="worcs-acute",
                dataset="acute-admissions",
            ),
        )  # fmt: skip
        assert not unnamed.allowed and unnamed.clause == "records"


def test_an_uncertain_candidate_is_exported_only_once_confirmed(county, county_sessions, truth):
    person_id = _most_spread(truth, 1)
    # A date of birth one day out: the NHS number and names agree, the date of birth differs,
    # so nothing is sure.
    p = true_person(county, person_id)
    born = p["date_of_birth"] + timedelta(days=1)
    with db.session_scope(county_sessions) as session:
        ig_lead = acting(session, IG_LEAD, "worcestershire-cc")
        person = _details(county, person_id, date_of_birth=str(born))
        request = service.open_request(session, county, ig_lead, person)
        assert request.records
        assert all(r.match == Match.uncertain for r in request.records)
        assert service.export(session, county, ig_lead, request).records == 0
        with pytest.raises(service.AccessError):
            service.complete(session, ig_lead, request)
        candidate = next(r for r in request.records if (r.source, r.record_id) in truth[person_id])
        service.decide_record(session, ig_lead, request, candidate.id, confirm=True)
        for other in request.records:
            if other.match == Match.uncertain:
                service.decide_record(session, ig_lead, request, other.id, confirm=False)
        made = service.export(session, county, ig_lead, request)
        assert made.records == 1
        service.complete(session, ig_lead, request)


def test_the_deadline_extends_once_by_two_months_with_a_reason(county, county_sessions, truth):
    with db.session_scope(county_sessions) as session:
        ig_lead = acting(session, IG_LEAD, "worcestershire-cc")
        request = service.open_request(
            session, county, ig_lead, _details(county, _most_spread(truth, 2)),
            received_on=date(2026, 1, 31),
        )  # fmt: skip
        assert request.due_on == date(2026, 2, 28)
        assert service.overdue(request, today=date(2026, 3, 1))
        with pytest.raises(service.AccessError) as refused:
            service.extend(session, ig_lead, request, "  ")
        assert refused.value.field == "reason"
        service.extend(session, ig_lead, request, "Records held by nine partners")
        assert request.due_on == date(2026, 4, 30)
        assert not service.overdue(request, today=date(2026, 3, 1))


def test_details_are_checked_naming_the_field():
    with pytest.raises(matching.DetailsError) as bad:
        matching.details(given_name="Ann", surname="Lee", nhs_number="123 456 7890")
    assert bad.value.field == "nhs_number"
    with pytest.raises(matching.DetailsError) as bad:
        matching.details(given_name="Ann", surname="Lee", date_of_birth="31/01/1950")
    assert bad.value.field == "date_of_birth"
    with pytest.raises(matching.DetailsError) as bad:
        matching.details(given_name="Ann", surname="Lee")
    assert bad.value.field == "date_of_birth"


def _spell(session, settings, pathway_in: bool) -> str:
    """An admission meeting (or not) the discharge planning agreement's pathway condition."""
    ig_lead = acting(session, IG_LEAD, "worcestershire-cc")
    ids = [f"SP{n:09d}" for n in range(1, 60)]
    rows = service.read_records(session, settings, ig_lead, ACUTE, ids, note="t").to_pylist()
    return next(
        r["SPELL_ID"] for r in rows if (str(r["DISCH_PATHWAY"]) in ("1", "2", "3")) == pathway_in
    )


def test_an_erasure_reaches_exactly_the_partners_that_received_the_record(county, county_sessions):
    with db.session_scope(county_sessions) as session:
        _pull(session, county, "worcestershire-cc", "discharge-planning")  # pathways 1-3 only
        _pull(session, county, "hw-icb", "discharge-risk-model")  # every spell
        ig_lead = acting(session, IG_LEAD, "worcestershire-cc")
        inside = corrections.decide_correction(
            session, county, ig_lead, source=ACUTE, kind="erase",
            record_id=_spell(session, county, True), reason="Recorded for the wrong patient",
        )  # fmt: skip
        outside = corrections.decide_correction(
            session, county, ig_lead, source=ACUTE, kind="erase",
            record_id=_spell(session, county, False), reason="Recorded for the wrong patient",
        )  # fmt: skip
        assert {t.recipient for t in inside.tasks} == {"worcestershire-cc", "hw-icb"}
        assert {t.recipient for t in outside.tasks} == {"hw-icb"}  # the condition left it out
        told = session.query(Notification).filter(
            Notification.link == f"/rights/access/tasks/{inside.tasks[0].id}"
        )
        assert told.count() >= 1
        # A recipient confirms; the others are still open, then reminded.
        icb_task = next(t for t in inside.tasks if t.recipient == "hw-icb")
        icb_lead = acting(session, "ig.lead@hw-icb.example", "hw-icb")
        cc_task = next(t for t in inside.tasks if t.recipient == "worcestershire-cc")
        with pytest.raises(service.AccessError):  # another partner's task
            corrections.confirm_task(session, icb_lead, cc_task, "applied")
        corrections.confirm_task(session, icb_lead, icb_task, "applied")
        assert inside.status.value == "open"
        later = icb_task.created_at + timedelta(days=8)
        assert corrections.remind(session, county, now=later) >= 1
        assert cc_task.reminders == 1 and icb_task.reminders == 0
        corrections.confirm_task(session, ig_lead, cc_task, "applied")
        assert inside.status.value == "open"  # the provider's snapshot has not carried it yet
        assert corrections.check_snapshot(session, county, ig_lead, inside) == (
            SnapshotCheck.waiting
        )


def _push_without(county, session, drop: str, change: tuple[str, str, str] | None = None):
    """The trust's next snapshot of its admissions: without the spell `drop`, and with one
    value changed (spell, column, value)."""
    import csv as csvmod

    from civicshare.datasets import service as datasets

    path = county.data_dir / "synthetic" / "datasets" / "acute-admissions.csv"
    with open(path, newline="") as handle:
        rows = list(csvmod.DictReader(handle))
    out = io.StringIO()
    writer = csvmod.DictWriter(out, fieldnames=list(rows[0]), quoting=csvmod.QUOTE_ALL)
    writer.writeheader()
    for row in rows:
        if row["SPELL_ID"] == drop:
            continue
        if change and row["SPELL_ID"] == change[0]:
            row[change[1]] = change[2]
        writer.writerow(row)
    provider = acting(session, "provider@worcs-acute.example", "worcs-acute")
    pushed = datasets.push(
        session, county, "worcs-acute", "acute-admissions", io.BytesIO(out.getvalue().encode()),
        file_name="acute-admissions.csv", actor=provider,
    )  # fmt: skip
    assert pushed.outcome == "accepted", pushed.report


def test_the_providers_next_snapshot_is_checked_to_carry_the_correction(county, county_sessions):
    with db.session_scope(county_sessions) as session:
        ig_lead = acting(session, IG_LEAD, "worcestershire-cc")
        erased_id, fixed_id, unfixed_id = "SP000000041", "SP000000042", "SP000000043"
        erase = corrections.decide_correction(
            session, county, ig_lead, source=ACUTE, kind="erase", record_id=erased_id,
            reason="Recorded for the wrong patient",
        )  # fmt: skip
        fix = corrections.decide_correction(
            session, county, ig_lead, source=ACUTE, kind="rectify", record_id=fixed_id,
            column="ADDR1", value="7 Corrected Road", reason="The resident moved",
        )  # fmt: skip
        unfixed = corrections.decide_correction(
            session, county, ig_lead, source=ACUTE, kind="rectify", record_id=unfixed_id,
            column="ADDR1", value="9 Never Applied Lane", reason="The resident moved",
        )  # fmt: skip
        assert corrections.check_snapshot(session, county, ig_lead, erase) == SnapshotCheck.waiting
        _push_without(county, session, erased_id, (fixed_id, "ADDR1", "7 CORRECTED ROAD"))
        assert corrections.check_snapshot(session, county, ig_lead, erase) == SnapshotCheck.carried
        assert corrections.check_snapshot(session, county, ig_lead, fix) == SnapshotCheck.carried
        assert corrections.check_snapshot(session, county, ig_lead, unfixed) == (
            SnapshotCheck.not_carried
        )
        # Erased with no recipient to confirm and the snapshot carrying it: complete.
        if not erase.tasks:
            assert erase.status.value == "complete"
        for task in fix.tasks:
            email = IG_LEAD if task.recipient == "worcestershire-cc" else None
            lead = acting(session, email or f"ig.lead@{task.recipient}.example", task.recipient)
            corrections.confirm_task(session, lead, task, "applied")
        assert fix.status.value == "complete"
        assert unfixed.status.value == "open"
