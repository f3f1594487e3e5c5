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
        key="discharge-care-planning",
        title="Post-hospital care planning: who will need care after discharge",
        summary="Pseudonymised, linked hospital, GP and social care records let the ICB "
        "estimate who is likely to need a new care package after discharge, give the trust's "
        "discharge team a list for its current inpatients and forecast weekly demand.",
        parties=[
            ("worcs-acute", "nhs_trust", "both"),
            ("hw-icb", "icb", "both"),
            ("worcestershire-cc", "county_council", "provider"),
        ],
        fields={
            "purposes": [
                "discharge-risk-model: Train and check models estimating, from pseudonymised "
                "linked records, which adults leaving hospital will need a new care package, "
                "and forecast weekly demand by district (planning: the national data opt-out "
                "applies).",
                "discharge-list: Show the discharge team, for the trust's current adult "
                "inpatients, who is likely to need care after discharge and which services "
                "to alert.",
            ],
            "purpose": "Have reablement, home care and community beds ready for the adults "
            "who will need them when they leave hospital, so that they go home on time.",
            "necessity": "No single partner holds both the hospital stay and the care a "
            "person already has or receives after discharge; a model needs both. Records "
            "are joined on a pseudonymous person key; names, NHS numbers, addresses and "
            "dates of birth are not shared (year of birth and postcode sector only).",
            "benefits": "Fewer delayed discharges; reablement and home care planned a week "
            "ahead by district instead of on the day.",
            "data_subjects": "Adult inpatients of the trust resident in the county, and their "
            "GP and social care records, except people who registered the national data "
            "opt-out.",
            "controller_arrangement": "joint",
            "joint_arrangement": "The ICB runs the models on the gateway (population health "
            "analytics), applies the national data opt-out and answers data subjects about "
            "them; the trust answers for the discharge list it acts on; the county council "
            "answers for the social care records it provides.",
            "article6": "e",
            "statutory_powers": [
                "Care Act 2014 s6 (co-operation) and s3 (integration)",
                "Health and Social Care Act 2012 s251B (duty to share for individual care)",
            ],
            "article9": "h",
            "schedule1": ["2"],
            "row_scope": {
                "recipient_district_only": False,
                "min_age": None,
                "max_age": None,
                "description": "Spells of the trust's inpatients and the same people's GP and "
                "social care records; adults only are modelled, and people with a national "
                "data opt-out are left out by the service.",
            },
            "frequency": "daily",
            "retention": "Models and their training snapshot ids for 8 years (clinical "
            "safety case); features are recomputed from the snapshots, never kept.",
            "deletion_method": "Saved models deleted from the gateway's data directory when "
            "replaced and past retention.",
            "security": STANDARD_SECURITY,
            "rights_handling": STANDARD_RIGHTS,
            "dpia_answers": {
                **ALL_NO,
                "matching": True,
                "vulnerable": True,
                "special_at_scale": True,
                "innovative": True,
            },  # fmt: skip
        },
        items=[
            *data_items(
                "worcs-acute",
                "acute-admissions",
                ("SPELL_ID", "identifiable"),
                ("person_key", "pseudonymised"),
                ("DOB", "generalised", "birth_year"),
                ("SEX", "identifiable"),
                ("POSTCODE", "generalised", "postcode_sector"),
                ("SITE_CODE", "identifiable"),
                ("ADMIT_DT", "identifiable"),
                ("DISCH_DT", "identifiable"),
                ("LOS_DAYS", "identifiable"),
                ("ADMIT_METHOD", "identifiable"),
                ("CFS_SCORE", "identifiable", None, "health"),
                ("DISCH_METHOD", "identifiable"),
                ("DISCH_PATHWAY", "identifiable", None, "health"),
                ("NHS_NO", "excluded"),
                ("PAT_SURNAME", "excluded"),
                ("PAT_FORENAME", "excluded"),
                ("ADDR1", "excluded"),
            ),
            *data_items(
                "hw-icb",
                "over-65-register",
                ("person_key", "pseudonymised"),
                ("efi_category", "identifiable", None, "health"),
                ("lives_alone", "identifiable"),
                ("dementia_register", "identifiable", None, "health"),
                ("home_oxygen", "identifiable", None, "health"),
                ("nhs_number", "excluded"),
                ("forename", "excluded"),
                ("surname", "excluded"),
                ("dob", "excluded"),
            ),
            *data_items(
                "hw-icb",
                "gp-registrations",
                ("person_key", "pseudonymised"),
                ("ethnic_category", "identifiable", None, "racial_ethnic"),
                ("national_data_opt_out", "identifiable"),
                ("nhs_number", "excluded"),
                ("given_name", "excluded"),
                ("family_name", "excluded"),
                ("date_of_birth", "excluded"),
            ),
            *data_items(
                "worcestershire-cc",
                "asc-clients",
                ("person_key", "pseudonymised"),
                ("Client ID", "pseudonymised"),
                ("Client Name", "excluded"),
                ("NHS Number", "excluded"),
                ("Date of Birth", "excluded"),
            ),
            *data_items(
                "worcestershire-cc",
                "asc-care-packages",
                ("Client ID", "pseudonymised"),
                ("Service Type", "identifiable", None, "health"),
                ("Start Date", "identifiable"),
                ("End Date", "identifiable"),
            ),
        ],
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
