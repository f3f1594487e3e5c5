"""Agreement templates: Safeguarding children."""

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
        key="safeguarding-children",
        title="Safeguarding children: police and children's services",
        summary="Police and the children's trust share what each knows about children at "
        "risk, for child protection enquiries and strategy meetings.",
        parties=[
            ("west-mercia-police", "police", "both"),
            ("worcs-children-first", "childrens_trust", "both"),
        ],
        fields={
            "purposes": [
                "child-protection-enquiry: Make or inform enquiries under the Children Act "
                "1989 s47 about a child who may be suffering significant harm.",
                "strategy-discussion: Prepare for and hold a multi-agency strategy discussion "
                "about a child at risk of harm.",
            ],
            "purpose": "Safeguard and promote the welfare of children, including child "
            "protection enquiries under the Children Act 1989 s47.",
            "necessity": "Neither agency alone sees the whole picture of risk to a child; "
            "strategy discussions need both agencies' information about the same child.",
            "data_subjects": "Children subject to child protection enquiries or plans, and "
            "adults in their households with relevant police records.",
            "controller_arrangement": "separate",
            "article6": "e",
            "statutory_powers": [
                "Children Act 2004 s10 (co-operation to improve well-being)",
                "Children Act 2004 s11 (arrangements to safeguard children)",
                "Children Act 1989 s47",
            ],
            "article9": "g",
            "schedule1": ["18"],
            "appropriate_policy_document": True,
            "article10_schedule1": ["18"],
            "dpa_part3": True,
            "law_enforcement_purpose": "Prevention, investigation and detection of "
            "offences against children (DPA 2018 s31).",
            "row_scope": {
                "recipient_district_only": False,
                "min_age": None,
                "max_age": 17,
                "description": "Children open to child protection and their households.",
            },
            "frequency": "on_request",
            "retention": "Until the child's 25th birthday, or 6 years after the case closes "
            "if later.",
            "deletion_method": "Reviewed and deleted under each agency's retention schedule.",
            "security": STANDARD_SECURITY,
            "rights_handling": STANDARD_RIGHTS + " Exemptions for crime and for "
            "social work (DPA 2018 Sch 2 and 3) are considered case by case.",
            "dpia_answers": {
                **ALL_NO,
                "matching": True,
                "vulnerable": True,
                "special_at_scale": True,
                "physical_harm": True,
            },  # fmt: skip
        },
        items=[
            *data_items(
                "worcs-children-first",
                "child-protection",
                ("forename", "identifiable"),
                ("surname", "identifiable"),
                ("dob", "identifiable"),
                ("address", "identifiable"),
                ("status", "identifiable"),
                ("cp_category", "identifiable", None, "health"),
            ),
            *data_items(
                "west-mercia-police",
                "vulnerability-markers",
                ("SURNAME", "identifiable"),
                ("FORENAMES", "identifiable"),
                ("DOB", "identifiable"),
                ("ADDRESS", "identifiable"),
                ("MARKER_TYPE", "identifiable", None, None, True),
            ),
        ],
    ),
]
