"""Agreement templates: Vulnerable people at an emergency or incident."""

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
        key="emergency-vulnerable-people",
        title="Vulnerable people in an emergency (time-limited)",
        summary="When a major incident is declared, partners share who at the affected "
        "addresses may need help to evacuate or stay safe (lists of lists).",
        parties=[
            ("worcestershire-cc", "county_council", "provider"),
            ("hw-health-care", "nhs_trust", "provider"),
            ("mercia-water", "other", "provider"),
            ("hw-fire", "fire_and_rescue", "recipient"),
            ("west-mercia-police", "police", "recipient"),
        ],
        fields={
            "purposes": [
                "emergency-response: Find and help people at addresses inside a declared major"
                " incident area who may be unable to leave or cope without help.",
                "incident-debrief: Review, within 30 days of stand-down, whether the people "
                "identified were reached.",
            ],
            "purpose": "Protect the lives of people at addresses affected by a declared "
            "major incident who may be unable to leave or cope without help.",
            "necessity": "Responders need to know, property by property, who may need help "
            "before they knock on doors. Only people at addresses inside the incident area "
            "are shared, and only the needs that change what responders do.",
            "data_subjects": "Residents at properties inside a declared incident area who "
            "receive care, use home oxygen or are on the priority services register.",
            "controller_arrangement": "separate",
            "article6": "d",
            "statutory_powers": [
                "Civil Contingencies Act 2004 s6",
                "Civil Contingencies Act 2004 (Contingency Planning) Regulations 2005 reg 44A",
            ],
            "article9": "c",
            "schedule1": [],
            "row_scope": {
                "recipient_district_only": False,
                "min_age": None,
                "max_age": None,
                "description": "People at properties (by UPRN) inside the incident area "
                "declared by the strategic co-ordinating group.",
            },
            "frequency": "in_emergency",
            "retention": "Until the incident is stood down, then at most 30 days for the debrief.",
            "deletion_method": "Deleted from the gateway and responders' devices within 30 "
            "days of stand-down; deletion confirmed to the IG group.",
            "security": STANDARD_SECURITY,
            "rights_handling": STANDARD_RIGHTS,
            "emergency": True,
            "emergency_trigger": "A major incident declared under the Civil Contingencies "
            "Act 2004 by the local resilience forum's strategic co-ordinating group.",
            "dpia_answers": {
                **ALL_NO,
                "matching": True,
                "vulnerable": True,
                "physical_harm": True,
            },  # fmt: skip
        },
        items=[
            *data_items(
                "worcestershire-cc",
                "asc-clients",
                ("Client Name", "identifiable"),
                ("Address", "identifiable"),
                ("Post Code", "identifiable"),
                ("Date of Birth", "generalised", "age_band"),
                ("Primary Support Reason", "identifiable", None, "health"),
                ("NHS Number", "excluded"),
            ),
            *data_items(
                "hw-health-care",
                "community-health",
                ("service", "identifiable", None, "health"),
                ("postcode", "identifiable"),
            ),
            *data_items(
                "mercia-water",
                "priority-services-register",
                ("first_name", "identifiable"),
                ("surname", "identifiable"),
                ("address_1", "identifiable"),
                ("postcode", "identifiable"),
                ("needs_codes", "identifiable", None, "health"),
                ("contact_phone", "identifiable"),
                ("date_of_birth", "excluded"),
            ),
        ],
    ),
    Template(
        key="incident-vulnerable-households",
        title="Vulnerable households at an incident (time-limited)",
        summary="At a fire, flood, gas leak or other emergency, responders see which "
        "households inside the incident area cannot get out unaided or depend on powered "
        "medical equipment, household by household; named detail only by break-glass.",
        parties=[
            ("worcestershire-cc", "county_council", "both"),
            ("hw-health-care", "nhs_trust", "provider"),
            ("hw-icb", "icb", "provider"),
            ("mercia-water", "other", "provider"),
            ("hw-fire", "fire_and_rescue", "both"),
            ("west-mercia-police", "police", "recipient"),
        ],
        fields={
            "purposes": [
                "incident-response: Find the households inside an open incident area that "
                "cannot leave unaided or depend on powered medical equipment, so that "
                "responders reach them first.",
                "incident-debrief: Review, within 30 days of stand-down, whether the "
                "households identified were reached.",
            ],
            "purpose": "Protect the lives of people in households inside an incident area "
            "who cannot leave unaided or depend on powered medical equipment, so that "
            "responders reach them first.",
            "necessity": "Within minutes of an incident, crews must know which doors to "
            "knock on first. Only households inside the area opened for the incident are "
            "shown, as needs (flags) by household; names only by a logged, time-limited "
            "break-glass with a stated reason, reviewed afterwards by each provider's IG lead.",
            "data_subjects": "Residents at properties inside an incident area who receive "
            "social care, use home oxygen or community health services, are on the priority "
            "services register or the over-65 register, or had a home fire safety visit.",
            "controller_arrangement": "separate",
            "article6": "d",
            "statutory_powers": [
                "Civil Contingencies Act 2004 s6",
                "Civil Contingencies Act 2004 (Contingency Planning) Regulations 2005 reg 44A",
            ],
            "article9": "c",
            "schedule1": [],
            "row_scope": {
                "recipient_district_only": False,
                "min_age": None,
                "max_age": None,
                "description": "Records at properties (by UPRN, address or postcode) inside "
                "the area of an open incident; nothing outside it is shown.",
            },
            "frequency": "in_emergency",
            "retention": "Nothing is copied to responders' systems except printed or "
            "exported lists for the incident, destroyed at stand-down; the gateway keeps "
            "only the audit log.",
            "deletion_method": "Printed lists shredded and exports deleted at stand-down; "
            "confirmed in the incident log.",
            "security": STANDARD_SECURITY,
            "rights_handling": STANDARD_RIGHTS,
            "emergency": True,
            "emergency_trigger": "An incident (fire, flood, gas leak, chemical release, "
            "power loss) where life may be at risk, opened on the gateway by a responder "
            "of a recipient partner, or a major incident declared under the Civil "
            "Contingencies Act 2004.",
            "dpia_answers": {
                **ALL_NO,
                "matching": True,
                "vulnerable": True,
                "physical_harm": True,
            },  # fmt: skip
        },
        items=[
            *data_items(
                "worcestershire-cc",
                "asc-clients",
                ("Client Name", "identifiable"),
                ("Address", "identifiable"),
                ("Post Code", "identifiable"),
                ("Date of Birth", "generalised", "age_band"),
                ("Primary Support Reason", "identifiable", None, "health"),
                ("Client Status", "identifiable"),
                ("NHS Number", "excluded"),
                ("person_key", "pseudonymised"),
            ),
            *data_items(
                "hw-health-care",
                "community-health",
                ("patient_forename", "identifiable"),
                ("patient_surname", "identifiable"),
                ("address_line_1", "identifiable"),
                ("postcode", "identifiable"),
                ("service", "identifiable", None, "health"),
                ("home_oxygen", "identifiable", None, "health"),
                ("referral_date", "identifiable"),
                ("person_key", "pseudonymised"),
                ("nhs_number", "excluded"),
            ),
            *data_items(
                "hw-icb",
                "over-65-register",
                ("forename", "identifiable"),
                ("surname", "identifiable"),
                ("postcode", "identifiable"),
                ("dob", "generalised", "age_band"),
                ("lives_alone", "identifiable"),
                ("home_oxygen", "identifiable", None, "health"),
                ("dementia_register", "identifiable", None, "health"),
                ("efi_category", "identifiable", None, "health"),
                ("person_key", "pseudonymised"),
                ("nhs_number", "excluded"),
            ),
            *data_items(
                "mercia-water",
                "priority-services-register",
                ("title", "identifiable"),
                ("first_name", "identifiable"),
                ("surname", "identifiable"),
                ("address_1", "identifiable"),
                ("postcode", "identifiable"),
                ("needs_codes", "identifiable", None, "health"),
                ("contact_phone", "identifiable"),
                ("registered_date", "identifiable"),
                ("person_key", "pseudonymised"),
                ("date_of_birth", "excluded"),
            ),
            *data_items(
                "hw-fire",
                "home-fire-safety-visits",
                ("uprn", "identifiable"),
                ("occupier_name", "identifiable"),
                ("address", "identifiable"),
                ("postcode", "identifiable"),
                ("occupier_dob", "generalised", "age_band"),
                ("visit_date", "identifiable"),
                ("mobility_issues", "identifiable", None, "health"),
                ("hearing_impaired", "identifiable", None, "health"),
                ("sight_impaired", "identifiable", None, "health"),
                ("cognitive_impairment", "identifiable", None, "health"),
                ("uses_oxygen", "identifiable", None, "health"),
                ("lives_alone", "identifiable"),
                ("smoker", "excluded"),
                ("person_key", "pseudonymised"),
            ),
        ],
    ),
]
