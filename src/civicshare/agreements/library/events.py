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
        parties=[
            ("worcestershire-cc", "county_council", "provider"),
            ("hw-icb", "icb", "recipient"),
            ("hw-fire", "fire_and_rescue", "recipient"),
            ("bromsgrove-dc", "district_council", "recipient"),
        ],
        fields={
            "purposes": [
                "death-notification: Stop services, appointments and correspondence for a "
                "person who has died, and close their records.",
            ],
            "purpose": "Stop services, appointments and correspondence for people who have "
            "died, sparing bereaved families distress.",
            "necessity": "Partners otherwise learn of a death only when a relative tells "
            "each of them; only identifying details and the date of death are shared.",
            "data_subjects": "People whose death is registered in the county (and, where "
            "recorded, the informant).",
            "controller_arrangement": "separate",
            "article6": "e",
            "statutory_powers": [
                "Digital Economy Act 2017 s35 (public service delivery)",
            ],
            "row_scope": {
                "recipient_district_only": True,
                "min_age": None,
                "max_age": None,
                "description": "Deaths registered in the county; each district receives "
                "deaths of its own residents.",
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
            ("deceased_forenames", "identifiable"),
            ("deceased_surname", "identifiable"),
            ("date_of_birth", "identifiable"),
            ("sex", "excluded"),
        ),
    ),
]
