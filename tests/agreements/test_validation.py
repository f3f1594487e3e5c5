"""Each rule refuses what the law does not allow, with a message an IG officer understands."""
# ruff: noqa: E501  (tables of cases read best one per line)

from __future__ import annotations

from datetime import date, timedelta

import pytest

from civicshare.agreements.models import (
    AgreementDataItem,
    AgreementParty,
    AgreementVersion,
    Article6,
    Article9,
    ControllerArrangement,
    Frequency,
    PartyRole,
    SpecialCategory,
    Status,
    Treatment,
)
from civicshare.agreements.validation import dpia_result, section_states, validate
from civicshare.partners.models import Partner, PartnerType

START = date(2026, 12, 1)
ACUTE = Partner(id=1, key="worcs-acute", name="Acute Trust", type=PartnerType.nhs_trust)
COUNTY = Partner(
    id=2, key="worcestershire-cc", name="County Council", type=PartnerType.county_council
)
POLICE = Partner(id=3, key="west-mercia-police", name="Police", type=PartnerType.police)
ALL_NO = dict.fromkeys(
    ["matching", "vulnerable", "special_at_scale", "invisible", "physical_harm", "innovative",
     "denial_of_service"], False)  # fmt: skip


def party(partner, role):
    return AgreementParty(partner_id=partner.id, partner=partner, role=PartyRole(role))


def item(column, provider=ACUTE, treatment="identifiable", special=None, criminal=False, **kw):
    return AgreementDataItem(
        provider_partner_id=provider.id,
        provider=provider,
        dataset="acute-admissions" if provider is ACUTE else "records",
        column=column,
        treatment=Treatment(treatment),
        generalisation=kw.get("generalisation"),
        special_category=SpecialCategory(special) if special else None,
        criminal_offence=criminal,
        personal=kw.get("personal", True),
    )


def valid() -> AgreementVersion:
    """A valid discharge agreement; each test breaks one thing."""
    return AgreementVersion(
        number=1,
        status=Status.draft,
        title="Hospital discharge to adult social care",
        purpose="Plan care for adults leaving hospital",
        purposes=[{"code": "discharge-planning", "description": "Plan care before discharge."}],
        necessity="Social care cannot plan without knowing who leaves hospital",
        benefits="",
        data_subjects="Adult inpatients",
        controller_arrangement=ControllerArrangement.separate,
        joint_arrangement="",
        article6=Article6.public_task,
        article9=Article9.health_social_care,
        schedule1=["2"],
        appropriate_policy_document=False,
        article10_schedule1=[],
        dpa_part3=False,
        law_enforcement_purpose="",
        statutory_powers=["Care Act 2014 s6"],
        row_scope={"description": "Adults discharged to a county address", "min_age": 18},
        frequency=Frequency.daily,
        retention="8 years",
        deletion_method="Deleted by the gateway after 30 days",
        security="Encrypted, role-based access",
        rights_handling="Each controller answers requests",
        dpia_answers={**ALL_NO, "matching": True},
        dpia_outcome="Completed; residual risk low",
        start_date=START,
        end_date=None,
        review_date=START + timedelta(days=365),
        emergency=False,
        emergency_trigger="",
        parties=[party(ACUTE, "provider"), party(COUNTY, "recipient")],
        data_items=[item("NHS_NO"), item("CFS_SCORE", special="health")],
    )


def messages(version) -> list[str]:
    return [p.message for p in validate(version, today=START)]


def test_a_valid_agreement_passes():
    assert validate(valid(), today=START) == []


def _no_recipient(v):
    v.parties = [party(ACUTE, "provider")]


def _item_from_recipient(v):
    v.data_items.append(item("Client ID", provider=COUNTY))


def _special_without_article9(v):
    v.data_items = [item("home_oxygen", special="health")]
    v.article9, v.schedule1 = None, []


def _emergency_without_end(v):
    v.emergency, v.emergency_trigger = True, "Major incident declared"


def _emergency_too_long(v):
    v.emergency, v.emergency_trigger = True, "Major incident declared"
    v.end_date = START + timedelta(days=91)


def _emergency_without_trigger(v):
    v.emergency, v.end_date = True, START + timedelta(days=30)


def _criminal_without_article10(v):
    v.parties.append(party(POLICE, "provider"))
    v.data_items.append(item("OFFENCE", provider=POLICE, criminal=True))


def _police_law_enforcement_without_part3(v):
    v.parties.append(party(POLICE, "recipient"))
    v.law_enforcement_purpose = "Investigating offences"


def _part3_without_police(v):
    v.dpa_part3, v.law_enforcement_purpose = True, "Investigating offences"


def _part3_without_purpose(v):
    v.parties.append(party(POLICE, "recipient"))
    v.dpa_part3 = True


def _public_task_without_power(v):
    v.statutory_powers = []


def _legal_obligation_without_power(v):
    v.article6, v.statutory_powers = Article6.legal_obligation, []


def _vital_interests_routine(v):
    v.article6 = Article6.vital_interests


def _legitimate_interests(v):
    v.article6 = Article6.legitimate_interests


def _no_review_date(v):
    v.review_date = None


def _review_too_far(v):
    v.review_date = START + timedelta(days=3 * 366)


def _substantial_public_interest_without_part2(v):
    v.article9, v.schedule1 = Article9.substantial_public_interest, []


def _health_care_without_para2(v):
    v.schedule1 = []


def _part2_without_policy_document(v):
    v.article9, v.schedule1 = Article9.substantial_public_interest, ["18"]


def _joint_without_arrangement(v):
    v.controller_arrangement = ControllerArrangement.joint


def _dpia_required_without_outcome(v):
    v.dpia_outcome = ""


def _dpia_unanswered(v):
    v.dpia_answers = {"matching": True}


def _generalised_without_rule(v):
    v.data_items.append(item("DOB", treatment="generalised"))


def _end_before_start(v):
    v.end_date = START - timedelta(days=1)


def _article9_without_special_items(v):
    v.data_items = [item("NHS_NO")]


def _no_items(v):
    v.data_items = []


def _no_purpose(v):
    v.purpose = " "


def _no_purposes(v):
    v.purposes = []


def _purpose_code_not_lowercase_hyphen(v):
    v.purposes.append({"code": "Discharge planning", "description": "Plan care."})


def _purpose_code_too_long(v):
    v.purposes.append({"code": "-".join(["plan"] * 10), "description": "Plan care."})


def _purpose_code_twice(v):
    v.purposes.append({"code": "discharge-planning", "description": "Plan care again."})


def _purpose_without_sentence(v):
    v.purposes.append({"code": "follow-up", "description": " "})


def _no_necessity(v):
    v.necessity = ""


def _duplicate_item(v):
    v.data_items.append(item("NHS_NO"))


def _bad_age(v):
    v.row_scope = {"description": "x", "min_age": 70, "max_age": 65}


def _no_retention(v):
    v.retention = ""


RULES = [
    (_no_recipient, "parties", "Choose at least one provider and one recipient"),
    (_item_from_recipient, "data_items", "Each data item must come from a provider party (records: Client ID does not)"),
    (_special_without_article9, "article9", "The data items include special category data (health: home_oxygen), so choose an Article 9 condition."),
    (_emergency_without_end, "end_date", "An emergency agreement must end: give an end date no more than 90 days after it starts."),
    (_emergency_too_long, "end_date", "An emergency agreement must end: give an end date no more than 90 days after it starts."),
    (_emergency_without_trigger, "emergency_trigger", "Say what triggers sharing under this emergency agreement"),
    (_criminal_without_article10, "article10_schedule1", "Criminal offence data (records: OFFENCE) needs an Article 10 basis and a Schedule 1 condition"),
    (_police_law_enforcement_without_part3, "dpa_part3", "A police partner processing for law enforcement must rely on DPA 2018 Part 3"),
    (_part3_without_police, "dpa_part3", "DPA 2018 Part 3 applies only to a competent authority"),
    (_part3_without_purpose, "law_enforcement_purpose", "Say which law enforcement purpose"),
    (_public_task_without_power, "statutory_powers", "Public task (Article 6(1)(e)) needs the statutory power relied on"),
    (_legal_obligation_without_power, "statutory_powers", "Legal obligation (Article 6(1)(c)) needs the statutory power relied on"),
    (_vital_interests_routine, "article6", "Vital interests alone cannot support routine sharing; mark it an emergency agreement or choose another basis"),
    (_legitimate_interests, "article6", "Legitimate interests (Article 6(1)(f)) is not available to public authorities"),
    (_no_review_date, "review_date", "A review date is needed and must be within 3 years"),
    (_review_too_far, "review_date", "A review date is needed and must be within 3 years"),
    (_substantial_public_interest_without_part2, "schedule1", "Article 9(2)(g) substantial public interest needs a Schedule 1 Part 2 condition"),
    (_health_care_without_para2, "schedule1", "Health or social care – Article 9(2)(h) needs the matching DPA 2018 Schedule 1 condition: Para 2 – health or social care purposes"),
    (_part2_without_policy_document, "appropriate_policy_document", "A Schedule 1 Part 2 condition needs an appropriate policy document"),
    (_joint_without_arrangement, "joint_arrangement", "Joint controllers must set out who is responsible for what (Article 26)"),
    (_dpia_required_without_outcome, "dpia_outcome", "The screening says a DPIA is required: record its outcome before submitting"),
    (_dpia_unanswered, "dpia_answers", "Answer every DPIA screening question"),
    (_generalised_without_rule, "data_items", "Say how acute-admissions: DOB is generalised"),
    (_end_before_start, "end_date", "The end date must be after the start date"),
    (_article9_without_special_items, "article9", "An Article 9 condition is chosen but no shared data item is special category data"),
    (_no_items, "data_items", "List the data items (dataset columns) to be shared"),
    (_no_purpose, "purpose", "Describe the purpose of the sharing"),
    (_no_purposes, "purposes", "List at least one permitted purpose: a short code such as discharge-planning and a sentence"),
    (_purpose_code_not_lowercase_hyphen, "purposes", "The purpose code 'Discharge planning' must be lowercase words joined by hyphens"),
    (_purpose_code_too_long, "purposes", "The purpose code 'plan-plan-plan-plan-plan-plan-plan-plan-plan-plan' must be lowercase words joined by hyphens, at most 40 characters"),
    (_purpose_code_twice, "purposes", "The purpose code discharge-planning is listed twice"),
    (_purpose_without_sentence, "purposes", "Say in a sentence what the purpose follow-up allows"),
    (_no_necessity, "necessity", "Explain why sharing is necessary"),
    (_duplicate_item, "data_items", "The data item acute-admissions: NHS_NO is listed twice"),
    (_bad_age, "row_scope", "The youngest age in scope is above the oldest"),
    (_no_retention, "retention", "Say how long the recipient keeps the data"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("breaks", "field", "message"), RULES, ids=[r[0].__name__[1:] for r in RULES]
)
def test_each_rule_refuses_with_its_message(breaks, field, message):
    version = valid()
    breaks(version)
    problems = validate(version, today=START)
    assert any(p.field == field and p.message.startswith(message) for p in problems), problems


def test_an_excluded_special_category_item_needs_no_article9():
    version = valid()
    version.article9, version.schedule1 = None, []
    version.data_items = [item("NHS_NO"), item("CFS_SCORE", treatment="excluded", special="health")]
    assert validate(version, today=START) == []


def test_a_valid_emergency_agreement_passes():
    version = valid()
    version.article6, version.article9, version.schedule1 = (
        Article6.vital_interests,
        Article9.vital_interests,
        [],
    )
    version.emergency, version.emergency_trigger = (
        True,
        "Major incident declared under the CCA 2004",
    )
    version.end_date = START + timedelta(days=90)
    assert validate(version, today=START) == []


def test_police_sharing_under_part3_and_article10_passes():
    version = valid()
    version.parties.append(party(POLICE, "both"))
    version.data_items.append(item("OFFENCE", provider=POLICE, criminal=True))
    version.dpa_part3, version.law_enforcement_purpose = True, "Safeguarding investigations"
    assert validate(version, today=START) == []


def test_no_personal_data_needs_no_lawful_basis():
    version = valid()
    version.article6, version.article9, version.schedule1, version.statutory_powers = (
        None,
        None,
        [],
        [],
    )
    version.data_subjects, version.rights_handling = "", ""
    version.row_scope = {}
    version.data_items = [item("usrn", personal=False), item("works_category", personal=False)]
    assert validate(version, today=START) == []


def test_every_problem_is_reported_at_once_and_mapped_to_a_section():
    blank = AgreementVersion(
        title="", purpose="", necessity="", data_subjects="", joint_arrangement="", schedule1=[],
        article10_schedule1=[], statutory_powers=[], row_scope={}, retention="",
        deletion_method="", security="", rights_handling="", dpia_answers={}, dpia_outcome="",
        emergency=False, emergency_trigger="", law_enforcement_purpose="", dpa_part3=False,
        appropriate_policy_document=False, parties=[], data_items=[],
    )  # fmt: skip
    found = messages(blank)
    assert len(found) >= 10
    states = section_states(blank, today=START)
    assert all(states[key] for key in ("parties", "purpose", "items", "handling", "dpia", "dates"))


def test_dpia_screening_needs_a_dpia_when_any_high_risk_criterion_holds():
    assert dpia_result({"matching": True}) == (None, [])
    assert dpia_result(ALL_NO) == (False, [])
    required, reasons = dpia_result({**ALL_NO, "vulnerable": True, "physical_harm": True})
    assert required is True
    assert reasons == [
        "Processing about vulnerable people (children, adults at risk, patients)",
        "A data breach could put someone's physical health or safety at risk",
    ]
