"""Agreement templates: Life events: registrations told to the partners that need to know
(deaths, births, changes of address: one template each, and the address held back from the
partners that need only know of the move)."""

from __future__ import annotations

from civicshare.agreements.library.base import (
    ALL_NO,
    STANDARD_RIGHTS,
    STANDARD_SECURITY,
    Template,
    data_items,
)

DISTRICTS = (
    "bromsgrove-dc",
    "malvern-hills-dc",
    "redditch-bc",
    "worcester-city",
    "wychavon-dc",
    "wyre-forest-dc",
)
# The part of every life event agreement that is the same: separate controllers, public task.
COMMON_FIELDS = {
    "controller_arrangement": "separate",
    "article6": "e",
    "frequency": "on_event",
    "retention": "12 months.",
    "deletion_method": "Deleted from the gateway after 12 months.",
    "security": STANDARD_SECURITY,
    "rights_handling": STANDARD_RIGHTS,
    "dpia_answers": {**ALL_NO, "invisible": True},
}


def _row_scope(description: str) -> dict:
    return {
        "recipient_district_only": False,
        "min_age": None,
        "max_age": None,
        "description": description,
    }


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
    Template(
        key="birth-notifications",
        title="Birth notifications",
        summary="The registration service tells the partners that hold a mother's records of "
        "a registered birth, so that the baby is registered with a GP, visited by a health "
        "visitor and the household's services are reviewed.",
        # Who needs to know: the ICB (GP registration), the community trust (health visiting),
        # children's services, the districts (housing, council tax: a household change) and the
        # county. Each only of mothers it already holds (the person index); not fire or police.
        parties=[
            ("worcestershire-cc", "county_council", "both"),
            ("hw-icb", "icb", "recipient"),
            ("hw-health-care", "nhs_trust", "recipient"),
            ("worcs-children-first", "childrens_trust", "recipient"),
            *((key, "district_council", "recipient") for key in DISTRICTS),
        ],
        fields={
            **COMMON_FIELDS,
            "purposes": [
                "birth-notification: Register a newborn with its mother's GP practice, arrange "
                "the health visitor's new birth visit and review the household's services.",
            ],
            "purpose": "Make sure every newborn is registered, visited and known to the "
            "services that support its household, without asking the parents again.",
            "necessity": "Partners otherwise learn of a birth only when a parent tells each of "
            "them. A partner is told only of a mother it already holds (matched by the person "
            "index at high precision), and only the registration's entry number, the child's "
            "date of birth and its own record reference for the mother: no name, address or "
            "NHS number.",
            "data_subjects": "Mothers of children whose birth is registered in the county, "
            "and the children (by date of birth only).",
            "statutory_powers": [
                "Digital Economy Act 2017 s35 (public service delivery)",
                "Children Act 2004 s10 (co-operation to improve well-being)",
            ],
            "row_scope": _row_scope(
                "Births registered in the county; each partner is told only of the births to "
                "mothers it holds a record of."
            ),
        },
        items=data_items(
            "worcestershire-cc",
            "birth-registrations",
            ("entry_number", "identifiable"),
            ("child_date_of_birth", "identifiable"),
        ),
    ),
    Template(
        key="change-of-address-notifications",
        title="Change of address notifications",
        summary="A resident tells the county once that they have moved; the partners that "
        "keep their address (council tax, the electoral register, housing, the GP, community "
        "health) are told the new address.",
        # The partners that write to or bill the resident at home get the new address. Others
        # are told of the move without it (change-of-address-alerts); a partner is a party to
        # one of the two, so its notifications are decided under one agreement.
        parties=[
            ("worcestershire-cc", "county_council", "both"),
            ("hw-icb", "icb", "recipient"),
            ("hw-health-care", "nhs_trust", "recipient"),
            *((key, "district_council", "recipient") for key in DISTRICTS),
        ],
        fields={
            **COMMON_FIELDS,
            "purposes": [
                "change-of-address-notification: Update a resident's address, bill and "
                "electoral registration when they tell us they have moved.",
            ],
            "purpose": "Keep residents' addresses right across the partnership when they tell "
            "one service they have moved, so letters, bills and visits reach them.",
            "necessity": "A partner is told only of a resident it already holds (matched by "
            "the person index at high precision, at the previous address): the change's "
            "reference, the date of the move and the new address and postcode, which it needs "
            "to write to, bill or register the resident; no NHS number or date of birth.",
            "data_subjects": "Residents who tell the county they have moved.",
            "statutory_powers": [
                "Digital Economy Act 2017 s35 (public service delivery)",
                "Representation of the People Act 1983 s9A (registration officers' duty)",
            ],
            "row_scope": _row_scope(
                "Changes of address told to the county; each partner is told only of "
                "residents it holds a record of."
            ),
        },
        items=data_items(
            "worcestershire-cc",
            "address-changes",
            ("change_reference", "identifiable"),
            ("moved_on", "identifiable"),
            ("new_address", "identifiable"),
            ("new_postcode", "identifiable"),
        ),
    ),
    Template(
        key="change-of-address-alerts",
        title="Change of address alerts (without the address)",
        summary="Partners that visit or treat a resident are told that the resident has moved "
        "and when, not where: they ask the resident for the new address at the next contact.",
        parties=[
            ("worcestershire-cc", "county_council", "provider"),
            ("worcs-acute", "nhs_trust", "recipient"),
            ("hw-fire", "fire_and_rescue", "recipient"),
        ],
        fields={
            **COMMON_FIELDS,
            "purposes": [
                "change-of-address-notification: Stop visits and letters to a resident's "
                "previous address when they tell us they have moved.",
            ],
            "purpose": "Stop home visits and letters going to an address a resident has left.",
            "necessity": "The trust and fire and rescue need to know that a resident has left "
            "an address, not where they went: they are told the change's reference and the "
            "date of the move only, for residents they already hold.",
            "data_subjects": "Residents who tell the county they have moved.",
            "statutory_powers": [
                "Digital Economy Act 2017 s35 (public service delivery)",
            ],
            "row_scope": _row_scope(
                "Changes of address told to the county; each partner is told only of "
                "residents it holds a record of."
            ),
        },
        items=data_items(
            "worcestershire-cc",
            "address-changes",
            ("change_reference", "identifiable"),
            ("moved_on", "identifiable"),
        ),
    ),
]
