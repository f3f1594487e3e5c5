"""A library of agreement templates for the partnership's common patterns.

A template fills a new draft: parties (by partner key in the demo partnership, else the first
partner of the same type), the permitted purposes ("code: sentence"), the purpose explained,
lawful basis, data items with their treatments, handling and DPIA screening answers. The IG
officer then checks every section: a template is a start, not an approval. Dates are left
for the drafter to set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.partners.models import Partner, PartnerStatus, PartnerType
from civicshare.works.models import TRAFFIC_COUNT_FIELDS, WORKS_FIELDS


@dataclass(frozen=True)
class Template:
    key: str
    title: str
    summary: str
    parties: list[tuple[str, str, str]]  # (partner key, partner type, role)
    fields: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)  # "provider" is a partner key


def _items(provider: str, dataset: str, *rows: tuple) -> list[dict[str, Any]]:
    """rows: (column, treatment, generalisation, special_category, criminal_offence)."""
    out = []
    for row in rows:
        column, treatment, *rest = row
        rest += [None] * (3 - len(rest))
        out.append(
            {
                "provider": provider,
                "dataset": dataset,
                "column": column,
                "treatment": treatment,
                "generalisation": rest[0],
                "special_category": rest[1],
                "criminal_offence": bool(rest[2]),
            }
        )
    return out


ALL_NO = {
    "matching": False,
    "vulnerable": False,
    "special_at_scale": False,
    "invisible": False,
    "physical_harm": False,
    "innovative": False,
    "denial_of_service": False,
}

STANDARD_SECURITY = (
    "Transferred only through the gateway over TLS 1.2 or later; held encrypted at rest; access "
    "limited to named roles by membership; every access recorded in the audit log; staff "
    "trained in data protection annually."
)
STANDARD_RIGHTS = (
    "Each controller answers requests about the data it holds and tells the other parties "
    "within 5 working days when a request concerns shared data; privacy notices of every "
    "party describe this sharing."
)

# The shared works format (docs/synthetic-county.md) and who publishes which works dataset.
WORKS_COLUMNS = WORKS_FIELDS
TRAFFIC_COUNT_COLUMNS = TRAFFIC_COUNT_FIELDS
# (partner key, partner type, datasets it provides) for the street-works agreement
WORKS_PROMOTERS: list[tuple[str, str, tuple[str, ...]]] = [
    ("worcestershire-cc", "county_council",
     ("highway-works", "rights-of-way-works", "traffic-counts")),
    ("bromsgrove-dc", "district_council", ("district-works-bromsgrove",)),
    ("malvern-hills-dc", "district_council", ("district-works-malvern-hills",)),
    ("redditch-bc", "district_council", ("district-works-redditch",)),
    ("worcester-city", "district_council", ("district-works-worcester",)),
    ("wychavon-dc", "district_council", ("district-works-wychavon",)),
    ("wyre-forest-dc", "district_council", ("district-works-wyre-forest",)),
    ("mercia-water", "other", ("utility-works",)),
    ("mercian-gas", "other", ("gas-works",)),
    ("severn-vale-power", "other", ("electricity-works",)),
    ("wyvern-fibre", "other", ("telecoms-works",)),
]  # fmt: skip

TEMPLATES: dict[str, Template] = {
    t.key: t
    for t in [
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
            items=_items(
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
                "retention": "Until the incident is stood down, then at most 30 days for "
                "the debrief.",
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
                *_items(
                    "worcestershire-cc",
                    "asc-clients",
                    ("Client Name", "identifiable"),
                    ("Address", "identifiable"),
                    ("Post Code", "identifiable"),
                    ("Date of Birth", "generalised", "age_band"),
                    ("Primary Support Reason", "identifiable", None, "health"),
                    ("NHS Number", "excluded"),
                ),
                *_items(
                    "hw-health-care",
                    "community-health",
                    ("service", "identifiable", None, "health"),
                    ("postcode", "identifiable"),
                ),
                *_items(
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
                *_items(
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
                *_items(
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
                *_items(
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
                *_items(
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
                *_items(
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
            items=_items(
                "hw-health-care",
                "community-health",
                ("forename", "identifiable"),
                ("surname", "identifiable"),
                ("postcode", "identifiable"),
                ("service", "identifiable", None, "health"),
            ),
        ),
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
                *_items(
                    "worcs-children-first",
                    "child-protection",
                    ("forename", "identifiable"),
                    ("surname", "identifiable"),
                    ("dob", "identifiable"),
                    ("address", "identifiable"),
                    ("status", "identifiable"),
                    ("cp_category", "identifiable", None, "health"),
                ),
                *_items(
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
                *_items(
                    "bromsgrove-dc",
                    "council-tax-bromsgrove",
                    ("property_ref", "identifiable"),
                    ("lead_surname", "identifiable"),
                    ("spd", "identifiable"),
                    ("band", "identifiable"),
                ),
                *_items(
                    "bromsgrove-dc",
                    "electoral-register-bromsgrove",
                    ("uprn", "identifiable"),
                    ("elector_surname", "identifiable"),
                    ("date_of_attainment", "generalised", "flag"),
                ),
            ],
        ),
        Template(
            key="street-works",
            title="Street works co-ordination",
            summary="The highway authority, the district councils and the utilities share their "
            "planned works, rights of way closures and the street traffic counts, to co-ordinate "
            "works on the same streets and paths. No personal data.",
            parties=[(key, kind, "both") for key, kind, _ in WORKS_PROMOTERS],
            fields={
                "purposes": [
                    "works-coordination: Co-ordinate street works on the same street so that they "
                    "disrupt it less (New Roads and Street Works Act 1991 s59 and s60).",
                ],
                "purpose": "Co-ordinate street works and rights of way closures to reduce "
                "disruption (New Roads and Street Works Act 1991 s59 and s60).",
                "necessity": "The street authority must co-ordinate works and undertakers must "
                "co-operate; every promoter's planned works by street, and the traffic on those "
                "streets, make that possible.",
                "data_subjects": "",
                "controller_arrangement": "separate",
                "statutory_powers": [
                    "New Roads and Street Works Act 1991 s59",
                    "New Roads and Street Works Act 1991 s60",
                ],
                "row_scope": {
                    "recipient_district_only": False,
                    "min_age": None,
                    "max_age": None,
                    "description": "",
                },
                "frequency": "daily",
                "retention": "2 years after the works end.",
                "deletion_method": "Deleted from the gateway 2 years after the works end.",
                "security": "Transferred through the gateway over TLS; no personal data.",
                "rights_handling": "",
                "dpia_answers": dict(ALL_NO),
            },
            items=[
                {**item, "personal": False}
                for key, _, datasets in WORKS_PROMOTERS
                for dataset in datasets
                for item in _items(
                    key,
                    dataset,
                    *[
                        (column, "identifiable")
                        for column in (
                            TRAFFIC_COUNT_COLUMNS if dataset == "traffic-counts" else WORKS_COLUMNS
                        )
                    ],
                )
            ],
        ),
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
            items=_items(
                "worcestershire-cc",
                "death-registrations",
                ("deceased_forenames", "identifiable"),
                ("deceased_surname", "identifiable"),
                ("date_of_birth", "identifiable"),
                ("sex", "excluded"),
            ),
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
}


def get(key: str) -> Template:
    from civicshare.agreements.service import NotFound

    try:
        return TEMPLATES[key]
    except KeyError:
        raise NotFound(
            f"There is no agreement template {key!r}; templates are {', '.join(TEMPLATES)}."
        ) from None


def _resolve(session: Session, key: str, partner_type: str) -> Partner | None:
    partners = session.scalars(
        select(Partner)
        .where(Partner.status.not_in([PartnerStatus.left, PartnerStatus.suspended]))
        .order_by(Partner.name)
    ).all()
    by_key = {p.key: p for p in partners}
    if key in by_key:
        return by_key[key]
    return next((p for p in partners if p.type == PartnerType(partner_type)), None)


def apply(session: Session, version, template: Template, actor=None) -> None:
    """Fill a draft from a template. Partners missing from this partnership are left out (the
    task list then shows what is missing)."""
    from civicshare.agreements import service

    mapping: dict[str, str] = {}
    parties = []
    for key, partner_type, role in template.parties:
        partner = _resolve(session, key, partner_type)
        if partner is None or partner.key in mapping.values():
            continue
        mapping[key] = partner.key
        parties.append({"partner": partner.key, "role": role})
    items = [
        {**item, "provider": mapping[item["provider"]]}
        for item in template.items
        if item["provider"] in mapping
    ]
    for name, value in template.fields.items():
        setattr(version, name, service.coerce_field(name, value))
    service.set_parties(session, version, parties)
    service.set_data_items(session, version, items)
