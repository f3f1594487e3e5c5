"""Records one hop past a death's direct links (confidence.match_many with beyond=True): told
only through a reviewer's acceptance; a model link there, however strong, is put to a reviewer
once and the event waits; a partner outside the agreement is not asked about; subject access
(beyond=False) keeps the direct rule. Many registrations are answered at once."""

from __future__ import annotations

from sqlalchemy import select

from civicshare import db
from civicshare.linkage.models import (
    IndexedLink,
    IndexedRecord,
    LinkageRun,
    LinkOrigin,
    ReviewItem,
    ReviewStatus,
)
from civicshare.linkage.person_index import confidence

DEATH = ("worcestershire-cc/death-registrations", "D1")
GP = ("hw-icb/gp-registrations", "G1")
OVER_65 = ("hw-icb/over-65-register", "O1")
FIRE = ("hw-fire/home-fire-safety-visits", "F1")  # linked to the GP record, not to the death
WATER = ("mercia-water/priority-services-register", "W1")  # no agreement
CARE = ("worcestershire-cc/asc-clients", "C1")
OTHER_DEATH = ("worcestershire-cc/death-registrations", "D2")  # another person, alone
STRICT = 0.99
PARTIES = {"hw-icb", "hw-fire", "worcestershire-cc"}


def _index(session, links) -> None:
    run = LinkageRun()
    session.add(run)
    session.flush()
    for source, record_id in (DEATH, GP, OVER_65, FIRE, WATER, CARE, OTHER_DEATH):
        session.add(
            IndexedRecord(
                source=source, snapshot_version=1, record_id=record_id, person_key="P-1",
                evidence="x", run_id=run.id,
            )
        )  # fmt: skip
    for a, b, probability, origin in links:
        session.add(
            IndexedLink(
                source_l=a[0], record_id_l=a[1], source_r=b[0], record_id_r=b[1],
                match_probability=probability, origin=origin, run_id=run.id,
            )
        )  # fmt: skip
    session.flush()


def _questions(session) -> dict[frozenset, str]:
    return {
        frozenset({(i.source_l, i.record_id_l), (i.source_r, i.record_id_r)}): i.waterfall[
            "asked_by"
        ]
        for i in session.scalars(select(ReviewItem))
    }


LINKS = [
    (DEATH, GP, 1.0, LinkOrigin.model),
    (DEATH, OVER_65, 1.0, LinkOrigin.model),
    (GP, OVER_65, 1.0, LinkOrigin.model),
    (GP, FIRE, 0.99999, LinkOrigin.model),  # strong, but a chain through a third record
    (OVER_65, FIRE, 0.999, LinkOrigin.model),
    (GP, WATER, 0.9999, LinkOrigin.model),
    (OVER_65, CARE, 1.0, LinkOrigin.reviewer),  # a reviewer compared them
]


def test_one_hop_further_only_through_a_reviewer_and_the_rest_is_asked_once(sessions):
    with db.session_scope(sessions) as session:
        _index(session, LINKS)
        found = confidence.match_many(
            session, [DEATH, OTHER_DEATH], STRICT, beyond=True, ask_partners=PARTIES
        )
        death = found[DEATH]
        # the direct records and the one a reviewer accepted; never the fire visit or water
        assert set(death.same_person) == {GP, OVER_65, CARE}
        # the fire visit is asked about once, on its strongest link; water is not asked at all
        assert _questions(session) == {frozenset({GP, FIRE}): confidence.ASKED_BEYOND}
        assert death.open_reviews == 1 and not death.certain
        # another registration in the same batch is answered on its own
        assert found[OTHER_DEATH].same_person == [] and found[OTHER_DEATH].certain
        # asked again (the next delivery pass): no second question, still waiting
        again = confidence.match_many(session, [DEATH], STRICT, beyond=True, ask_partners=PARTIES)
        assert len(_questions(session)) == 1 and again[DEATH].open_reviews == 1

        # the reviewer accepts: the link becomes a reviewer's, and the fire visit is reached
        item = session.scalars(select(ReviewItem)).one()
        item.status = ReviewStatus.accepted
        link = (
            session.scalars(
                select(IndexedLink).where(
                    IndexedLink.record_id_l == "G1", IndexedLink.record_id_r == "F1"
                )
            ).first()
            or session.scalars(
                select(IndexedLink).where(
                    IndexedLink.record_id_l == "F1", IndexedLink.record_id_r == "G1"
                )
            ).one()
        )
        link.origin = LinkOrigin.reviewer
        session.flush()
        after = confidence.match_many(session, [DEATH], STRICT, beyond=True, ask_partners=PARTIES)
        assert set(after[DEATH].same_person) == {GP, OVER_65, CARE, FIRE}
        assert after[DEATH].certain


def test_subject_access_keeps_the_direct_rule(sessions):
    with db.session_scope(sessions) as session:
        _index(session, LINKS)
        found = confidence.record_match(session, *DEATH, STRICT)
        assert set(found.same_person) == {GP, OVER_65}
        assert _questions(session) == {}  # nothing one hop out is asked about
        assert found.certain


def test_a_weak_direct_link_is_asked_about_and_never_told(sessions):
    with db.session_scope(sessions) as session:
        _index(session, [(DEATH, GP, 1.0, LinkOrigin.model), (DEATH, FIRE, 0.6, LinkOrigin.model)])
        found = confidence.match_many(session, [DEATH], STRICT, beyond=True)[DEATH]
        assert found.same_person == [GP]
        assert _questions(session) == {frozenset({DEATH, FIRE}): confidence.ASKED_DIRECT}
        assert found.open_reviews == 1
