"""Agreement templates: District and county council business: council tax, members' enquiries."""

from __future__ import annotations

from civicshare.agreements.library.base import (
    ALL_NO,
    STANDARD_RIGHTS,
    STANDARD_SECURITY,
    Template,
    data_items,
)

# The single person discount review: the code of its purpose, and each district's council.
DISCOUNT_PURPOSE = "discount-review"
DISCOUNT_DISTRICTS = {
    "bromsgrove": "bromsgrove-dc",
    "malvern-hills": "malvern-hills-dc",
    "redditch": "redditch-bc",
    "worcester": "worcester-city",
    "wychavon": "wychavon-dc",
    "wyre-forest": "wyre-forest-dc",
}


def discount_items(district: str, partner: str) -> list[dict]:
    """What the review reads of one district's own datasets."""
    return [
        *data_items(
            partner,
            f"council-tax-{district}",
            ("account_ref", "identifiable"),
            ("lead_forename", "identifiable"),
            ("lead_surname", "identifiable"),
            ("property_ref", "identifiable"),
            ("property_address", "identifiable"),
            ("postcode", "identifiable"),
            ("spd", "identifiable"),
            ("liability_start", "identifiable"),
        ),
        *data_items(
            partner,
            f"electoral-register-{district}",
            ("elector_forenames", "identifiable"),
            ("elector_surname", "identifiable"),
            ("uprn", "identifiable"),
            ("date_of_attainment", "generalised", "month"),
            ("registered_on", "identifiable"),
        ),
        *data_items(
            partner,
            f"housing-tenancies-{district}",
            ("uprn", "identifiable"),
            ("tenancy_start_date", "identifiable"),
            ("household_adults", "identifiable"),
        ),
    ]


TEMPLATES = [
    Template(
        key="single-person-discount",
        title="Council tax single person discount review",
        summary="Each district council reviews its own single person discounts against its "
        "electoral register and housing tenancies and the ICB's GP registrations, for the "
        "prevention and detection of fraud; it sees an evidence summary per account, not "
        "the other records.",
        parties=[
            *((key, "district_council", "both") for key in DISCOUNT_DISTRICTS.values()),
            ("hw-icb", "icb", "provider"),
        ],
        fields={
            "purposes": [
                f"{DISCOUNT_PURPOSE}: Prevent and detect fraud and error in council tax single "
                "person discounts: find accounts where another adult appears at the property "
                "and review each before the council decides.",
            ],
            "purpose": "Prevent and detect fraud and error in council tax single person "
            "discounts (25% off when only one adult lives at a dwelling), protecting the "
            "income of the district, the county, police and fire.",
            "necessity": "A discount is due only where one adult lives at the property. The "
            "district's electoral register and tenancies and the GP register are independent "
            "sources of other adults; the gateway matches them by property and gives the "
            "district an evidence summary per account (how many other adults, since when, "
            "from which source), never the other partners' records. Names are read only to "
            "recognise the account holder's own records; dates of birth only as a month, "
            "enough to tell an adult from a 17-year-old attainer.",
            "data_subjects": "Council tax payers receiving a single person discount and other "
            "adults recorded at the same properties.",
            "controller_arrangement": "separate",
            "article6": "e",
            "statutory_powers": [
                "Local Government Finance Act 1992 s6, s11 and Sch 2",
                "Local Audit and Accountability Act 2014 Sch 9 (data matching)",
                "Data Protection Act 2018 Sch 2 para 2 (crime and taxation)",
            ],
            "row_scope": {
                "recipient_district_only": True,
                "min_age": None,
                "max_age": None,
                "description": "Only records at addresses in the recipient council's own "
                "district: each council reviews its own accounts.",
            },
            "frequency": "monthly",
            "retention": "Cases and outcomes 6 years after the review closes (financial "
            "records); the evidence summary only, never the matched records.",
            "deletion_method": "The matched records are never stored by the gateway; closed "
            "cases are deleted by the council's records schedule.",
            "security": STANDARD_SECURITY,
            "rights_handling": STANDARD_RIGHTS,
            "dpia_answers": {
                **ALL_NO,
                "matching": True,
                "invisible": True,
                "denial_of_service": True,
            },  # fmt: skip
        },
        items=[
            *(
                item
                for district, partner in DISCOUNT_DISTRICTS.items()
                for item in discount_items(district, partner)
            ),
            *data_items(
                "hw-icb",
                "gp-registrations",
                ("given_name", "identifiable"),
                ("family_name", "identifiable"),
                ("date_of_birth", "generalised", "month"),
                ("address_line_1", "identifiable"),
                ("address_line_2", "identifiable"),
                ("address_line_3", "identifiable"),
                ("postcode", "identifiable"),
                ("registration_date", "identifiable"),
            ),
        ],
    ),
    Template(
        key="members-enquiries",
        title="Members' enquiries (councillors' casework)",
        summary="A councillor passes a resident's enquiry to the partner responsible; the "
        "resident's details go with it only with their consent.",
        parties=[
            ("worcestershire-cc", "county_council", "both"),
            ("bromsgrove-dc", "district_council", "both"),
            ("malvern-hills-dc", "district_council", "both"),
            ("redditch-bc", "district_council", "both"),
            ("worcester-city", "district_council", "both"),
            ("wychavon-dc", "district_council", "both"),
            ("wyre-forest-dc", "district_council", "both"),
        ],
        fields={
            "purposes": [
                "members-enquiries: Answer an enquiry a councillor raises on a resident's "
                "behalf, by the partner responsible for its topic and place.",
            ],
            "purpose": "Route a resident's enquiry, raised by their councillor, to the "
            "partner and team responsible, and return the answer to the councillor.",
            "necessity": "Without the issue and its location the responsible partner cannot "
            "answer; the resident's name, contact and address pass on only when the "
            "resident consents (recorded with the enquiry), otherwise only the issue and "
            "its location do.",
            "data_subjects": "Residents who ask a councillor for help.",
            "controller_arrangement": "separate",
            "article6": "e",
            "article9": "g",
            "schedule1": ["24"],
            "statutory_powers": ["Local Government Act 1972 s111"],
            "row_scope": {
                "recipient_district_only": False,
                "min_age": None,
                "max_age": None,
                "description": "Each enquiry goes only to the partner its topic and district "
                "route it to.",
            },
            "frequency": "on_event",
            "retention": "The resident's details: 12 months after the enquiry is answered "
            "(or raised, if never answered); the enquiry without them: 6 years.",
            "deletion_method": "The retention run deletes the sealed details and their key, "
            "with evidence in the audit log (enquiry_resident_details_purged).",
            "security": STANDARD_SECURITY,
            "rights_handling": STANDARD_RIGHTS,
            "dpia_answers": dict(ALL_NO),
        },
    ),
]
