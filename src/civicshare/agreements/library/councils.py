"""Agreement templates: District and county council business: council tax, members' enquiries."""

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
        key="single-person-discount",
        title="Council tax single person discount review",
        summary="The district council matches its council tax accounts with the electoral "
        "register to find single person discounts that may no longer be due.",
        parties=[
            ("bromsgrove-dc", "district_council", "both"),
            ("worcestershire-cc", "county_council", "recipient"),
        ],
        fields={
            "purposes": [
                "discount-review: Review whether a council tax single person discount flagged "
                "by a data match is still due, before the council decides.",
            ],
            "purpose": "Prevent and detect fraud and error in council tax single person "
            "discounts, protecting the income of the district and county.",
            "necessity": "A discount is due only where one adult lives at the property; "
            "the electoral register is the most reliable independent source of other "
            "adults. Only matches flagged for review are shared with the county.",
            "data_subjects": "Council tax payers receiving a single person discount and "
            "electors registered at the same properties.",
            "controller_arrangement": "separate",
            "article6": "e",
            "statutory_powers": [
                "Local Government Finance Act 1992 s6 and Sch 2",
                "Local Audit and Accountability Act 2014 Sch 9 (data matching)",
            ],
            "row_scope": {
                "recipient_district_only": True,
                "min_age": 18,
                "max_age": None,
                "description": "Council tax accounts with a single person discount in the "
                "district, and electors at the same properties.",
            },
            "frequency": "monthly",
            "retention": "6 years after the review closes (financial records).",
            "deletion_method": "Match results deleted from the gateway after 90 days.",
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
            *data_items(
                "bromsgrove-dc",
                "council-tax-bromsgrove",
                ("property_ref", "identifiable"),
                ("lead_surname", "identifiable"),
                ("spd", "identifiable"),
                ("band", "identifiable"),
            ),
            *data_items(
                "bromsgrove-dc",
                "electoral-register-bromsgrove",
                ("uprn", "identifiable"),
                ("elector_surname", "identifiable"),
                ("date_of_attainment", "generalised", "flag"),
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
