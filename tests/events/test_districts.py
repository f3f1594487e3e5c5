"""A death reaches the district's council tax and electoral register, whose records hold no date
of birth: through the person index's household attachment (linkage.person_index.attach)."""

from __future__ import annotations

import pyarrow.parquet as pq
from sqlalchemy import select

from civicshare import db
from civicshare.events import inbox, service
from civicshare.events.models import MatchStatus
from civicshare.linkage.models import IndexedLink, LinkOrigin
from civicshare.synthetic import registrations
from tests.events.conftest import REGISTRAR, acting


def attached_council_tax_payer(county, session):
    """A living resident whose council tax account the index attached, with the account's
    source and reference, and the person's electoral register records (attached or not)."""
    truth = county.data_dir / "synthetic" / "truth"
    attached = {}
    for link in session.scalars(
        select(IndexedLink).where(IndexedLink.origin == LinkOrigin.attachment)
    ):
        for source, record_id in (
            (link.source_l, link.record_id_l),
            (link.source_r, link.record_id_r),
        ):
            if "/council-tax-" in source:
                attached[(source, record_id)] = link.evidence
    assert attached, "the demo index attached no council tax account"
    living = {
        p["person_id"]: p
        for p in registrations.living_residents(truth.parent, 150, seed=9, min_age=18)
    }
    for source, record_id in sorted(attached):
        name = source.partition("/")[2]
        table = pq.read_table(truth / f"{name}.parquet", columns=["record_id", "person_id"])
        owner = dict(zip(*(c.to_pylist() for c in table.columns), strict=True))[record_id]
        if owner in living:
            return living[owner], source, record_id, attached[(source, record_id)]
    raise AssertionError("no living council tax payer with an attached account")


def test_a_council_tax_payers_death_reaches_the_districts_inbox_with_its_action(
    county, county_sessions
):
    with db.session_scope(county_sessions) as session:
        person, source, account_ref, evidence = attached_council_tax_payer(county, session)
        assert evidence["method"] == "household attachment"
        assert evidence["name"] in ("exact", "nickname", "one letter apart", "names swapped")
        body, entries = registrations.death_registrations(
            county.data_dir / "synthetic", [person], first_entry=920_001
        )
        published = service.publish(
            session, county, acting(session, REGISTRAR), body, file_name="death.csv", via="cli"
        )
        [event] = published.events
        assert event.status == MatchStatus.matched
        district, _, dataset = source.partition("/")
        told = inbox.inbox(session, service.service_actor(session, district))
        [notification] = [n for n in told if n.event_id == event.id]
        records = {(r["dataset"], r["record_id"]) for r in notification.payload["records"]}
        assert (dataset, account_ref) in records
        # Only this district's own records, and only datasets that hold the person (truth).
        holders = registrations.holders(county.data_dir / "synthetic", {person["person_id"]})
        assert {d for d, _ in records} <= holders[person["person_id"]][district]
        # The account names no joint liable person, or does: close it, or remove the deceased.
        assert (service.SOLE_ACCOUNT in notification.action) != (
            service.JOINT_ACCOUNT in notification.action
        )
        if any(d.startswith("electoral-register-") for d, _ in records):
            assert "Remove from the electoral register" in notification.action
        assert notification.payload["event"] == {
            "reference": next(iter(entries)),
            "date_of_death": "2026-04-01",
        }
