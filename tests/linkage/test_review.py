"""Clerical review on both backends: accepted pairs merge (the older key stays), rejected pairs
are never linked again, even after retraining, and split a key they shared; only IG leads and
admins of the partner that runs the gateway review; the API and pages do the same."""

from __future__ import annotations

import re

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from civicshare import db
from civicshare.audit.models import AuditRecord
from civicshare.linkage import service as index
from civicshare.linkage.models import (
    IndexedLink,
    Label,
    LinkageDecision,
    PersonKey,
    ReviewItem,
    ReviewStatus,
)
from tests.conftest import sign_in
from tests.linkage import test_index as base

# The small county, the store seeded with its partners, and the first run over GP
# registrations and hospital admissions.
linked = base.linked  # county and seeded: tests/linkage/conftest.py


def key_of(sessions, source, record_id) -> str:
    return base.keys(sessions, source.split("/"))[record_id]


def open_pair(sessions) -> ReviewItem:
    """An open review item whose records have different keys."""
    with db.session_scope(sessions) as session:
        items = index.queue(session)
        assert items, "the county should leave some pairs for review"
        return items[0]


def test_accepting_a_pair_merges_the_two_keys_into_the_older(linked, settings):
    reviewer = base.host_reviewer(linked, settings)
    item = open_pair(linked)
    left = key_of(linked, item.source_l, item.record_id_l)
    right = key_of(linked, item.source_r, item.record_id_r)
    assert left != right
    with db.session_scope(linked) as session:
        older = min(
            session.scalars(select(PersonKey).where(PersonKey.key.in_([left, right]))),
            key=lambda k: (k.created_at, k.key),
        ).key
        index.decide(session, settings, reviewer, item.id, accept=True, reason="Same person")
    assert key_of(linked, item.source_l, item.record_id_l) == older
    assert key_of(linked, item.source_r, item.record_id_r) == older
    absorbed = right if older == left else left
    with db.session_scope(linked) as session:
        assert session.get(PersonKey, absorbed).merged_into == older
        assert session.get(ReviewItem, item.id).status == ReviewStatus.accepted
        decision = session.scalars(select(LinkageDecision)).one()
        assert decision.label == Label.match and decision.decided_by == reviewer.label
        assert session.scalars(
            select(IndexedLink).where(IndexedLink.origin == "reviewer")
        ).one().record_id_r in (item.record_id_l, item.record_id_r)
        audited = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "person_index_review_accepted")
        ).one()
        assert audited.details["person_key"] == older and audited.entity_id == str(item.id)
    # Every record under the absorbed key moved, in the store and in the mapping file.
    mapping = pq.read_table(settings.data_dir / index.MAPPING_FILE).to_pydict()
    assert absorbed not in mapping["person_key"]
    with (
        pytest.raises(index.LinkageError, match="already accepted"),
        db.session_scope(linked) as session,
    ):
        index.decide(session, settings, reviewer, item.id, accept=False)


def test_a_rejected_pair_is_never_linked_again_even_after_retraining(linked, settings):
    reviewer = base.host_reviewer(linked, settings)
    item = open_pair(linked)
    pair = (item.source_l, item.record_id_l, item.source_r, item.record_id_r)
    with db.session_scope(linked) as session:
        index.decide(session, settings, reviewer, item.id, accept=False, reason="Twins")
        labels = index.labels(session)
    assert labels.to_dict("records") == [
        dict(zip(["source_l", "record_id_l", "source_r", "record_id_r"], pair, strict=True))
        | {"is_match": False}
    ]
    message, run_id = base.run(linked, settings, retrain=True, review_lower=base.REVIEW_LOWER)
    assert run_id is not None, message
    assert key_of(linked, pair[0], pair[1]) != key_of(linked, pair[2], pair[3])
    with db.session_scope(linked) as session:
        again = session.scalars(
            select(ReviewItem).where(
                ReviewItem.record_id_l == pair[1],
                ReviewItem.record_id_r == pair[3],
                ReviewItem.status == ReviewStatus.open,
            )
        ).all()
        assert again == []  # not asked twice


def test_rejecting_a_pair_that_shares_a_key_splits_it(linked, settings):
    reviewer = base.host_reviewer(linked, settings)
    with db.session_scope(linked) as session:
        link = session.scalars(select(IndexedLink).order_by(IndexedLink.id)).first()
        shared = key_of(linked, link.source_l, link.record_id_l)
        assert shared == key_of(linked, link.source_r, link.record_id_r)
        item = ReviewItem(
            run_id=link.run_id,
            source_l=link.source_l,
            snapshot_version_l=1,
            record_id_l=link.record_id_l,
            source_r=link.source_r,
            snapshot_version_r=1,
            record_id_r=link.record_id_r,
            match_weight=2.0,
            match_probability=0.8,
        )
        session.add(item)
        session.flush()
        index.decide(session, settings, reviewer, item.id, accept=False)
    left = key_of(linked, link.source_l, link.record_id_l)
    right = key_of(linked, link.source_r, link.record_id_r)
    assert left != right and shared in (left, right)
    with db.session_scope(linked) as session:
        split = session.get(PersonKey, right if left == shared else left)
        assert split.split_from == shared


def test_only_ig_leads_and_admins_of_the_host_review(linked, settings):
    item = open_pair(linked)
    analyst = base.host_reviewer(linked, settings, "analyst@host.example", ("analyst",))
    from civicshare.accounts.service import actor_for
    from civicshare.partners import service as partners

    with db.session_scope(linked) as session:
        person = partners.create_person(session, email="ig@acute.example", display_name="Ig")
        acute = partners.get_by_key(session, "worcs-acute")
        elsewhere = actor_for(partners.add_membership(session, person, acute, ["ig_lead"]), "cli")
    for actor in (analyst, elsewhere):
        with pytest.raises(index.NotAllowed), db.session_scope(linked) as session:
            index.review_pair(session, settings, actor, item.id)
        with pytest.raises(index.NotAllowed), db.session_scope(linked) as session:
            index.decide(session, settings, actor, item.id, accept=True)
    with db.session_scope(linked) as session:
        assert session.get(ReviewItem, item.id).status == ReviewStatus.open
        viewed = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "person_index_pair_viewed")
        ).all()
        assert viewed == []


def test_the_queue_api_and_the_pair_page(linked, settings, client, member):
    member("ig@host.example", {settings.host_partner: ["ig_lead"]})
    member("analyst@host.example", {settings.host_partner: ["analyst"]})
    sign_in(client, "analyst@host.example")
    assert client.get("/api/index/status").status_code == 403
    assert client.get("/index/review").status_code == 403

    client.cookies.clear()
    csrf = sign_in(client, "ig@host.example")
    status = client.get("/api/index/status").json()
    assert status["records"] > 0 and status["open_reviews"] > 0 and status["pending"] == []
    queue = client.get("/api/index/review").json()
    assert len(queue) == status["open_reviews"]
    first = queue[0]
    assert first["waterfall"][0]["comparison"] == "prior"
    total = sum(step["weight"] for step in first["waterfall"])
    assert total == pytest.approx(first["match_weight"])
    assert client.get("/api/index/review", params={"status": "maybe"}).status_code == 422

    page = client.get(f"/index/review/{first['id']}")
    assert page.status_code == 200
    assert "Match weight waterfall" in page.text and first["left"]["record_id"] in page.text
    with db.session_scope(linked) as session:
        viewed = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "person_index_pair_viewed")
        ).all()
        assert len(viewed) == 2 and {v.entity_id for v in viewed} == {
            first["left"]["source"],
            first["right"]["source"],
        }
    refused = client.post(f"/index/review/{first['id']}", data={"csrf_token": csrf})
    assert refused.status_code == 422 and "Select whether" in refused.text
    forged = client.post(f"/index/review/{first['id']}", data={"decision": "accept"})
    assert forged.status_code in (400, 403)
    done = client.post(
        f"/index/review/{first['id']}",
        data={"decision": "accept", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    banner = client.get(done.headers["location"]).text
    assert re.search(rf"Pair {first['id']}\s+accepted", banner)
    assert client.get(f"/api/index/review/{first['id']}").json()["status"] == "accepted"
    runs = client.get("/api/index/runs").json()
    assert runs and client.get(f"/index/runs/{runs[0]['id']}").status_code == 200
    report = client.get(f"/index/runs/{runs[0]['id']}/report")
    assert (
        report.status_code == 200 and "script-src" not in report.headers["content-security-policy"]
    )


def test_a_decision_whose_audit_record_fails_changes_nothing(linked, settings, monkeypatch):
    from civicshare.audit import service as audit

    reviewer = base.host_reviewer(linked, settings)
    item = open_pair(linked)
    before = {**base.keys(linked, base.GP), **base.keys(linked, base.ACUTE)}
    mapping = (settings.data_dir / index.MAPPING_FILE).read_bytes()
    real = audit.record

    def refusing(session, actor, action, *args, **kwargs):
        if action.startswith("person_index_review_"):
            raise audit.AuditWriteError("the audit store refused the record")
        return real(session, actor, action, *args, **kwargs)

    monkeypatch.setattr(audit, "record", refusing)
    with pytest.raises(audit.AuditWriteError), db.session_scope(linked) as session:
        index.decide(session, settings, reviewer, item.id, accept=True)
    assert {**base.keys(linked, base.GP), **base.keys(linked, base.ACUTE)} == before
    assert (settings.data_dir / index.MAPPING_FILE).read_bytes() == mapping
    with db.session_scope(linked) as session:
        assert session.get(ReviewItem, item.id).status == ReviewStatus.open
        assert session.scalars(select(LinkageDecision)).all() == []


def test_accepted_pairs_train_the_next_model(linked, settings, monkeypatch):
    """Reviewers' accepts reach training: the retrained model counts them as labelled matches.

    The small county leaves only a few pairs for review, so the minimum is lowered here; the
    engine's own tests show what the labels do to the model."""
    from civicshare.linkage import engine
    from civicshare.linkage.models import LinkageRun

    monkeypatch.setattr(engine.training, "MIN_LABELLED_MATCHES", 1)
    reviewer = base.host_reviewer(linked, settings)
    with db.session_scope(linked) as session:
        item = index.queue(session)[0]
        index.decide(session, settings, reviewer, item.id, accept=True, reason="Same person")
    message, run_id = base.run(linked, settings, retrain=True, review_lower=base.REVIEW_LOWER)
    assert run_id is not None, message
    with db.session_scope(linked) as session:
        model = engine.LinkageModel.from_json(session.get(LinkageRun, run_id).model_json)
    assert model.labelled_matches == 1
    monkeypatch.setattr(engine.training, "MIN_LABELLED_MATCHES", 2)
    message, run_id = base.run(linked, settings, retrain=True, review_lower=base.REVIEW_LOWER)
    with db.session_scope(linked) as session:
        model = engine.LinkageModel.from_json(session.get(LinkageRun, run_id).model_json)
    assert model.labelled_matches == 0  # one accept is below this minimum


def test_a_pair_a_rule_asked_about_says_why_and_shows_no_waterfall(
    linked, settings, client, member
):
    member("ig@host.example", {settings.host_partner: ["ig_lead"]})
    sign_in(client, "ig@host.example")
    with db.session_scope(linked) as session:
        item = index.queue(session)[0]
        scored = item.id
        asked = ReviewItem(
            run_id=item.run_id,
            source_l=item.source_l, snapshot_version_l=item.snapshot_version_l,
            record_id_l=item.record_id_l,
            source_r=item.source_r, snapshot_version_r=item.snapshot_version_r,
            record_id_r=item.record_id_r,
            match_weight=0.0, match_probability=0.5,
            waterfall={"flipped": False, "comparisons": {},
                       "asked_by": "life events: a record linked to nobody",
                       "name": "initial", "candidates": 1},
        )  # fmt: skip
        session.add(asked)
        session.flush()
        asked_id = asked.id
    page = client.get(f"/index/review/{asked_id}")
    assert page.status_code == 200
    assert "Asked by life events: a record linked to nobody. The names agree (initial)" in (
        page.text
    )
    assert 'id="waterfall"' not in page.text and "Match probability 0.500" not in page.text
    scored_page = client.get(f"/index/review/{scored}").text
    assert 'id="waterfall"' in scored_page and 'id="asked"' not in scored_page
