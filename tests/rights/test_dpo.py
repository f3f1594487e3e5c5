"""A partner's data protection officer contact: required before an agreement naming the partner
goes into force, set by its admin (API, page, command line), refused when the e-mail is not one."""

from __future__ import annotations

import pytest

from civicshare import db
from civicshare.agreements import service
from civicshare.agreements.service.errors import Conflict
from civicshare.partners import service as partners
from tests.agreements.conftest import TODAY, draft, world  # noqa: F401  (a fixture)


def _endorsed(session, w):
    version = draft(session, w.acute)
    service.submit(session, w.acute, version, today=TODAY)
    service.approve(session, w.acute, version)
    service.approve(session, w.county, version)
    service.endorse(session, w.police, version, meeting_date=TODAY,
                    minute_reference="IGG/2026/12/1", today=TODAY)  # fmt: skip
    return version


def test_activation_needs_every_partys_dpo_contact(sessions, world):  # noqa: F811
    with db.session_scope(sessions) as session:
        county = partners.get_by_key(session, "worcestershire-cc")
        county.dpo_email = None
        version = _endorsed(session, world)
        with pytest.raises(Conflict) as refused:
            service.activate(session, world.acute, version, today=TODAY)
        assert refused.value.field == "dpo_email"
        assert "Worcestershire County Council has no data protection officer's e-mail" in str(
            refused.value
        )
        partners.update_details(session, None, county, {"dpo_email": "dpo@county.example"})
        service.activate(session, world.acute, version, today=TODAY)
        assert version.status.value == "active"


def test_a_dpo_email_that_is_not_one_is_refused_naming_the_field(sessions, world):  # noqa: F811
    with db.session_scope(sessions) as session:
        fire = partners.get_by_key(session, "hw-fire")
        with pytest.raises(partners.PartnerError) as refused:
            partners.update_details(session, None, fire, {"dpo_email": "not an address"})
        assert refused.value.field == "dpo_email"
        changed = partners.update_details(
            session, None, fire,
            {"dpo_name": "Head of Information Governance", "dpo_email": "ig@fire.example",
             "dpo_address": "Fire Headquarters, Hindlip Park, Worcester"},
        )  # fmt: skip
        assert set(changed) == {"dpo_name", "dpo_email", "dpo_address"}
