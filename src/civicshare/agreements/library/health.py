"""Agreement templates: Health and care: hospital discharge, fire home safety referrals."""

from __future__ import annotations

from civicshare.agreements.library.base import (
    ALL_NO,
    STANDARD_RIGHTS,
    STANDARD_SECURITY,
    Template,
    data_items,
)

TEMPLATES = [
    Template(
        key="hospital-discharge",
        title="Hospital discharge to adult social care",
        summary="The acute trust tells adult social care who is ready to leave hospital and "
        "may need care and support, so assessments start before discharge.",
        parties=[
            ("worcs-acute", "nhs_trust", "provider"),
            ("worcestershire-cc", "county_council", "recipient"),
        ],
        fields={
            "purposes": [
                "discharge-planning: Plan care and support for an adult due to leave hospital,"
                " before the day they go home.",
                "discharge-follow-up: Check that an adult discharged on pathway 1 to 3 "
                "received the support planned, within 30 days of discharge.",
            ],
            "purpose": "Plan care and support for adults leaving hospital so that they are "
            "discharged safely and without delay (discharge to assess).",
            "necessity": "Social care cannot assess or arrange support in time without knowing "
            "who is due to leave hospital, when, and on which discharge pathway. Only "
            "patients on pathways 1 to 3 are shared; clinical detail is limited to frailty.",
            "benefits": "Fewer delayed discharges and readmissions; support in place on the "
            "day a person goes home.",
            "data_subjects": "Adult inpatients of the trust resident in the county who are "
            "expected to need care and support after discharge.",
            "controller_arrangement": "separate",
            "article6": "e",
            "statutory_powers": [
                "Care Act 2014 s6 (co-operation)",
                "Health and Social Care Act 2012 s251B (duty to share for individual care)",
            ],
            "article9": "h",
            "schedule1": ["2"],
            "row_scope": {
                "recipient_district_only": False,
                "min_age": 18,
                "max_age": None,
                "description": "Adults discharged or due for discharge on pathways 1 to 3 "
                "whose usual address is in the county.",
                "conditions": [
                    {
                        "provider": "worcs-acute",
                        "dataset": "acute-admissions",
                        "column": "DISCH_PATHWAY",
                        "op": "in",
                        "values": ["1", "2", "3"],
                    }
                ],
            },
            "frequency": "daily",
            "retention": "For the duration of the care episode, then 8 years in the social "
            "care record (adult social care retention schedule).",
            "deletion_method": "Automated deletion from the gateway after 30 days; the social "
            "care record follows the council's retention schedule.",
            "security": STANDARD_SECURITY,
            "rights_handling": STANDARD_RIGHTS,
            "dpia_answers": {
                **ALL_NO,
                "matching": True,
                "vulnerable": True,
                "special_at_scale": True,
            },  # fmt: skip
        },
        items=data_items(
            "worcs-acute",
            "acute-admissions",
            ("NHS_NO", "identifiable"),
            ("PAT_SURNAME", "identifiable"),
            ("PAT_FORENAME", "identifiable"),
            ("DOB", "identifiable"),
            ("POSTCODE", "identifiable"),
            ("ADMIT_DT", "identifiable"),
            ("DISCH_DT", "identifiable"),
            ("DISCH_PATHWAY", "identifiable", None, "health"),
            ("CFS_SCORE", "identifiable", None, "health"),
            ("SPECIALTY", "excluded", None, "health"),
        ),
    ),
    Template(
        key="fire-home-safety",
        title="Home fire safety visit referrals",
        summary="Community health services refer people who use home oxygen or have "
        "reduced mobility to fire and rescue for a home fire safety visit.",
        parties=[
            ("hw-health-care", "nhs_trust", "provider"),
            ("hw-fire", "fire_and_rescue", "recipient"),
        ],
        fields={
            "purposes": [
                "home-safety-referral: Offer a home fire safety visit to a person at higher "
                "risk of fire, such as a home oxygen user.",
            ],
            "purpose": "Reduce the risk of fire deaths and injuries among people at higher "
            "risk by offering them a home fire safety visit.",
            "necessity": "People using home oxygen are at much higher risk of fire; the fire "
            "service cannot find them without a referral. Only contact details and the "
            "risk factor are shared.",
            "data_subjects": "Patients of the community trust who use home oxygen or are "
            "known to have reduced mobility.",
            "controller_arrangement": "separate",
            "article6": "e",
            "statutory_powers": ["Fire and Rescue Services Act 2004 s6 (fire safety)"],
            "article9": "g",
            "schedule1": ["6", "18"],
            "appropriate_policy_document": True,
            "row_scope": {
                "recipient_district_only": False,
                "min_age": 18,
                "max_age": None,
                "description": "Adult patients of the home oxygen service or falls "
                "prevention service living in the county.",
            },
            "frequency": "weekly",
            "retention": "2 years after the visit.",
            "deletion_method": "Deleted from the fire service's visit system 2 years after "
            "the visit.",
            "security": STANDARD_SECURITY,
            "rights_handling": STANDARD_RIGHTS,
            "dpia_answers": {
                **ALL_NO,
                "matching": False,
                "vulnerable": True,
                "physical_harm": True,
            },  # fmt: skip
        },
        items=data_items(
            "hw-health-care",
            "community-health",
            ("forename", "identifiable"),
            ("surname", "identifiable"),
            ("postcode", "identifiable"),
            ("service", "identifiable", None, "health"),
        ),
    ),
]
