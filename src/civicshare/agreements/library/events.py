"""Agreement templates: Life events: registrations told to the partners that need to know."""

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
        key="death-notifications",
        title="Death notifications (tell us once)",
        summary="The registration service tells partners of a registered death so that "
        "they stop letters, visits and services.",
        # Who needs to know (Tell Us Once, locally): the county (registration service; also
        # adult social care and blue badges, told through its own other datasets), the
        # districts (council tax, housing, the electoral register), the ICB (GP lists), the
        # trusts and fire. Each is told only of people it already holds (the person index).
        parties=[
            ("worcestershire-cc", "county_council", "both"),
            ("hw-icb", "icb", "recipient"),
            ("worcs-acute", "nhs_trust", "recipient"),
            ("hw-health-care", "nhs_trust", "recipient"),
            ("hw-fire", "fire_and_rescue", "recipient"),
            ("bromsgrove-dc", "district_council", "recipient"),
            ("malvern-hills-dc", "district_council", "recipient"),
            ("redditch-bc", "district_council", "recipient"),
            ("worcester-city", "district_council", "recipient"),
            ("wychavon-dc", "district_council", "recipient"),
            ("wyre-forest-dc", "district_council", "recipient"),
        ],
        fields={
            "purposes": [
                "death-notification: Stop services, appointments and correspondence for a "
                "person who has died, and close their records.",
            ],
            "purpose": "Stop services, appointments and correspondence for people who have "
            "died, sparing bereaved families distress.",
            "necessity": "Partners otherwise learn of a death only when a relative tells "
            "each of them. A partner is told only of a person it already holds (matched by the "
            "person index at high precision), and only the registration's entry number, the "
            "date of death and its own record reference: no name, address or NHS number.",
            "data_subjects": "People whose death is registered in the county (and, where "
            "recorded, the informant).",
            "controller_arrangement": "separate",
            "article6": "e",
            "statutory_powers": [
                "Digital Economy Act 2017 s35 (public service delivery)",
            ],
            "row_scope": {
                "recipient_district_only": False,
                "min_age": None,
                "max_age": None,
                "description": "Deaths registered in the county; each partner is told only "
                "of the deaths of people it holds a record of.",
            },
            "frequency": "on_event",
            "retention": "12 months.",
            "deletion_method": "Deleted from the gateway after 12 months.",
            "security": STANDARD_SECURITY,
            "rights_handling": STANDARD_RIGHTS,
            "dpia_answers": {**ALL_NO, "invisible": True},
        },
        items=data_items(
            "worcestershire-cc",
            "death-registrations",
            ("entry_number", "identifiable"),
            ("date_of_death", "identifiable"),
        ),
    ),
]
