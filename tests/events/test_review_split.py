"""A reviewer's rejection of a weak pair must not cost a death registration its strong links:
the weakest links between the two are cut, not the death's (person index review, for events)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from civicshare import db
from civicshare.linkage.models import IndexedLink, IndexedRecord, LinkageRun, LinkOrigin
from civicshare.linkage.person_index import review

DEATH = ("worcestershire-cc/death-registrations", "D1")
GP = ("hw-icb/gp-registrations", "G1")
OVER_65 = ("hw-icb/over-65-register", "O1")
FIRE = ("hw-fire/home-fire-safety-visits", "F1")  # a namesake's household visit


def _cluster(session) -> None:
    run = LinkageRun()
    session.add(run)
    session.flush()
    for source, record_id in (DEATH, GP, OVER_65, FIRE):
        session.add(
            IndexedRecord(
                source=source, snapshot_version=1, record_id=record_id, person_key="P-SHARED",
                evidence="x", run_id=run.id,
            )
        )  # fmt: skip
    for (a, b), probability in (
        ((GP, DEATH), 1.0),
        ((OVER_65, DEATH), 1.0),
        ((GP, OVER_65), 1.0),
        ((FIRE, OVER_65), 0.52),
        ((GP, FIRE), 0.6),
    ):
        session.add(
            IndexedLink(
                source_l=a[0], record_id_l=a[1], source_r=b[0], record_id_r=b[1],
                match_probability=probability, origin=LinkOrigin.model,
            )
        )  # fmt: skip
    session.flush()


def _keys(session) -> dict[tuple[str, str], str]:
    return {(r.source, r.record_id): r.person_key for r in session.scalars(select(IndexedRecord))}


def test_the_weakly_held_end_leaves_and_the_death_keeps_its_strong_links(sessions):
    with db.session_scope(sessions) as session:
        _cluster(session)
        # (fire, death) rejected: the death registration is the right-hand end and has as
        # many links as the fire visit, but the fire visit's links are the weak ones
        review._split(session, "P-SHARED", (FIRE, DEATH), datetime.now(UTC))
        keys = _keys(session)
        assert keys[DEATH] == keys[GP] == keys[OVER_65] == "P-SHARED"
        assert keys[FIRE] != "P-SHARED"
        linked = {
            frozenset({(k.source_l, k.record_id_l), (k.source_r, k.record_id_r)})
            for k in session.scalars(select(IndexedLink))
        }
        assert frozenset({GP, DEATH}) in linked and frozenset({OVER_65, DEATH}) in linked
        assert not any(FIRE in pair for pair in linked)


def test_on_a_tie_the_link_nearest_the_right_hand_record_is_cut(sessions):
    with db.session_scope(sessions) as session:
        _cluster(session)
        # (GP, death) rejected: decide() deletes their link first; each end keeps one link
        link = session.scalars(
            select(IndexedLink).where(
                IndexedLink.record_id_l == "G1", IndexedLink.record_id_r == "D1"
            )
        ).one()
        session.delete(link)
        session.flush()
        review._split(session, "P-SHARED", (GP, DEATH), datetime.now(UTC))
        keys = _keys(session)
        assert keys[DEATH] != keys[GP] and keys[GP] == keys[OVER_65]
        assert not session.scalars(select(IndexedLink).where(IndexedLink.record_id_r == "D1")).all()


def test_a_reviewers_acceptance_is_cut_last(sessions):
    with db.session_scope(sessions) as session:
        _cluster(session)
        accepted = session.scalars(
            select(IndexedLink).where(
                IndexedLink.record_id_l == "F1", IndexedLink.record_id_r == "O1"
            )
        ).one()
        accepted.origin = LinkOrigin.reviewer  # a reviewer said the fire visit is this person
        session.flush()
        review._split(session, "P-SHARED", (GP, FIRE), datetime.now(UTC))
        keys = _keys(session)
        # the GP record's weak link to the fire visit and then its links on are cut instead
        assert keys[FIRE] == keys[OVER_65]
        assert keys[GP] != keys[FIRE]
