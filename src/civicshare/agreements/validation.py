"""The legal rules an agreement must meet before it is submitted.

`validate()` returns every problem at once, each naming the field (and so the section of the task
list) it belongs to, in words an IG officer can act on. Drafts may be incomplete; submission
refuses a version with any problem."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from civicshare.agreements.conditions import ContractColumns, columns_of, item_datasets
from civicshare.agreements.models import (
    ARTICLE9_NEEDS_PART1,
    DPIA_CRITERIA,
    SCHEDULE1,
    AgreementVersion,
    Article6,
    Article9,
    ControllerArrangement,
    Treatment,
)
from civicshare.dataplane.grant import ConditionOp
from civicshare.dataplane.query import TRUE_WORDS, typed_value
from civicshare.datasets.contracts import Column
from civicshare.partners.models import PartnerType

# A permitted purpose's code: lowercase words (letters, digits) joined by hyphens.
PURPOSE_CODE_MAX = 40
PURPOSE_CODE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
EMERGENCY_MAX_DAYS = 90
REVIEW_MAX_YEARS = 3
HIGH_RISK_CRITERIA = tuple(DPIA_CRITERIA)

# Each field belongs to one section of the task list.
SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "parties": (
        "Parties and controllers",
        ("parties", "controller_arrangement", "joint_arrangement"),
    ),
    "purpose": (
        "Purpose and necessity",
        ("title", "purpose", "purposes", "necessity", "data_subjects"),
    ),
    "basis": (
        "Lawful basis",
        (
            "article6",
            "statutory_powers",
            "article9",
            "schedule1",
            "appropriate_policy_document",
            "article10_schedule1",
            "dpa_part3",
            "law_enforcement_purpose",
        ),
    ),
    "items": ("Data items", ("data_items",)),
    "scope": ("Which records (row scope)", ("row_scope",)),
    "handling": (
        "Frequency, retention, security and rights",
        ("frequency", "retention", "deletion_method", "security", "rights_handling"),
    ),
    "dpia": ("DPIA screening", ("dpia_answers", "dpia_outcome")),
    "dates": (
        "Dates, review and emergencies",
        ("start_date", "end_date", "review_date", "emergency", "emergency_trigger"),
    ),
}
SECTION_OF_FIELD = {field: key for key, (_, fields) in SECTIONS.items() for field in fields}


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    @property
    def section(self) -> str:
        return SECTION_OF_FIELD.get(self.field, "purpose")


def dpia_result(answers: dict[str, bool]) -> tuple[bool | None, list[str]]:
    """(DPIA required?, the criteria that make it so). None until every criterion is answered."""
    if any(answers.get(key) is None for key in DPIA_CRITERIA):
        return None, []
    reasons = [DPIA_CRITERIA[key] for key in HIGH_RISK_CRITERIA if answers.get(key)]
    return bool(reasons), reasons


def _named(items) -> str:
    return ", ".join(f"{i.dataset}: {i.column}" for i in items)


@dataclass(frozen=True)
class _Shared:
    """What the shared data items are, worked out once for the rules that depend on it."""

    special: list
    criminal: list
    personal: bool  # until data items are listed, assume personal data


Need = Callable[[str, str], None]


def validate(
    version: AgreementVersion, today: date | None = None, columns: ContractColumns | None = None
) -> list[Problem]:
    """Every problem with the version. Row conditions are checked against `columns` (the
    contracts of the datasets named), by default those registered in the version's store."""
    today = today or date.today()
    problems: list[Problem] = []

    def need(field: str, message: str) -> None:
        problems.append(Problem(field, message))

    v = version
    _check_parties(v, need)
    _check_purpose(v, need)
    shared = _check_data_items(v, need)
    _check_article6(v, need, shared)
    _check_special_category(v, need, shared)
    _check_criminal_and_law_enforcement(v, need, shared)
    _check_row_scope(v, need, shared)
    _check_conditions(v, need, columns_of(v) if columns is None else columns)
    _check_handling(v, need, shared)
    _check_dpia(v, need)
    _check_dates(v, need, today)
    return problems


def _check_parties(v: AgreementVersion, need: Need) -> None:
    """Parties and controllers."""
    if not v.providers or not v.recipients:
        need("parties", "Choose at least one provider and one recipient")
    if v.controller_arrangement is None:
        need("controller_arrangement", "Say whether the parties are joint or separate controllers")
    elif v.controller_arrangement == ControllerArrangement.joint and not (
        v.joint_arrangement.strip()
    ):
        need(
            "joint_arrangement",
            "Joint controllers must set out who is responsible for what (Article 26), "
            "including who answers data subjects",
        )


def _check_purpose(v: AgreementVersion, need: Need) -> None:
    """Purpose and necessity."""
    if not v.title.strip():
        need("title", "Give the agreement a title")
    if not v.purpose.strip():
        need("purpose", "Describe the purpose of the sharing")
    _check_purposes(v, need)
    if not v.necessity.strip():
        need(
            "necessity",
            "Explain why sharing is necessary: why the purpose cannot be met with less data "
            "or without sharing",
        )


def _check_purposes(v: AgreementVersion, need: Need) -> None:
    """The permitted purposes: the codes a share request names, each with its sentence."""
    purposes = v.purposes or []
    if not purposes:
        need(
            "purposes",
            "List at least one permitted purpose: a short code such as discharge-planning and "
            "a sentence saying what the data may be used for",
        )
    seen: set[str] = set()
    for purpose in purposes:
        code = purpose.get("code", "")
        if not PURPOSE_CODE.fullmatch(code) or len(code) > PURPOSE_CODE_MAX:
            need(
                "purposes",
                f"The purpose code {code!r} must be lowercase words joined by hyphens, at most "
                f"{PURPOSE_CODE_MAX} characters (for example discharge-planning)",
            )
        elif code in seen:
            need("purposes", f"The purpose code {code} is listed twice")
        seen.add(code)
        if not purpose.get("description", "").strip():
            need("purposes", f"Say in a sentence what the purpose {code or '(no code)'} allows")


def _check_data_items(v: AgreementVersion, need: Need) -> _Shared:
    """Data items; returns what the shared items are."""
    provider_ids = {p.partner_id for p in v.providers}
    if not v.data_items:
        need("data_items", "List the data items (dataset columns) to be shared")
    strays = [i for i in v.data_items if i.provider_partner_id not in provider_ids]
    if strays:
        need(
            "data_items",
            f"Each data item must come from a provider party ({_named(strays)} does not)",
        )
    seen: set[tuple[int, str, str]] = set()
    for item in v.data_items:
        key = (item.provider_partner_id, item.dataset.strip(), item.column.strip())
        if key in seen:
            need("data_items", f"The data item {item.dataset}: {item.column} is listed twice")
        seen.add(key)
        if item.treatment == Treatment.generalised and item.generalisation is None:
            need(
                "data_items",
                f"Say how {item.dataset}: {item.column} is generalised "
                "(for example date of birth to age band)",
            )
    shared = v.shared_items
    special = [i for i in shared if i.special_category is not None]
    criminal = [i for i in shared if i.criminal_offence]
    # Until data items are listed, assume personal data: the questions about it stay open.
    personal = [i for i in shared if i.personal or i.special_category or i.criminal_offence]
    found = _Shared(special, criminal, bool(personal) or not v.data_items)
    if found.personal and not v.data_subjects.strip():
        need("data_subjects", "Say whose data this is (the categories of data subjects)")
    return found


def _check_article6(v: AgreementVersion, need: Need, shared: _Shared) -> None:
    """The Article 6 lawful basis."""
    if shared.personal and v.article6 is None:
        need("article6", "Choose the Article 6 lawful basis")
    if v.article6 in (Article6.public_task, Article6.legal_obligation) and not v.statutory_powers:
        which = (
            "Public task (Article 6(1)(e))"
            if v.article6 == Article6.public_task
            else ("Legal obligation (Article 6(1)(c))")
        )
        need("statutory_powers", f"{which} needs the statutory power relied on")
    if v.article6 == Article6.vital_interests and not v.emergency:
        need(
            "article6",
            "Vital interests alone cannot support routine sharing; mark it an emergency "
            "agreement or choose another basis",
        )
    if v.article6 == Article6.legitimate_interests and any(
        p.partner.type != PartnerType.other for p in v.parties
    ):
        need(
            "article6",
            "Legitimate interests (Article 6(1)(f)) is not available to public authorities "
            "performing their tasks; choose public task (Article 6(1)(e))",
        )


def _check_special_category(v: AgreementVersion, need: Need, shared: _Shared) -> None:
    """Article 9 and DPA 2018 Schedule 1."""
    special = shared.special
    unknown = [c for c in [*v.schedule1, *v.article10_schedule1] if c not in SCHEDULE1]
    if unknown:
        need("schedule1", f"Unknown Schedule 1 condition {', '.join(unknown)}")
    if special:
        kinds = ", ".join(f"{i.special_category.label}: {i.column}" for i in special)
        if v.article9 is None:
            need(
                "article9",
                f"The data items include special category data ({kinds}), so choose an "
                "Article 9 condition.",
            )
    elif v.article9 is not None:
        need(
            "article9",
            "An Article 9 condition is chosen but no shared data item is special category "
            "data; mark the special category items or remove the condition",
        )
    if special and v.article9 is not None:
        part2 = [c for c in v.schedule1 if SCHEDULE1.get(c, (0,))[0] == 2]
        if v.article9 == Article9.substantial_public_interest and not part2:
            need(
                "schedule1",
                "Article 9(2)(g) substantial public interest needs a Schedule 1 Part 2 "
                "condition (for example para 6 statutory purposes or para 18 safeguarding)",
            )
        needed = ARTICLE9_NEEDS_PART1.get(v.article9)
        if needed and needed not in v.schedule1:
            need(
                "schedule1",
                f"{v.article9.label} needs the matching DPA 2018 Schedule 1 condition: "
                f"{SCHEDULE1[needed][1]}",
            )
        if part2 and not v.appropriate_policy_document:
            need(
                "appropriate_policy_document",
                "A Schedule 1 Part 2 condition needs an appropriate policy document; "
                "confirm each party has one",
            )


def _check_criminal_and_law_enforcement(v: AgreementVersion, need: Need, shared: _Shared) -> None:
    """Criminal offence data (Article 10) and law enforcement (DPA 2018 Part 3)."""
    criminal = shared.criminal
    police_ids = {p.partner_id for p in v.parties if p.partner.type == PartnerType.police}
    part3_covers = v.dpa_part3 and all(i.provider_partner_id in police_ids for i in criminal)
    if criminal and not v.article10_schedule1 and not part3_covers:
        need(
            "article10_schedule1",
            f"Criminal offence data ({_named(criminal)}) needs an Article 10 basis and a "
            "Schedule 1 condition",
        )
    if v.law_enforcement_purpose.strip() and police_ids and not v.dpa_part3:
        need(
            "dpa_part3",
            "A police partner processing for law enforcement must rely on DPA 2018 Part 3",
        )
    if v.dpa_part3 and not police_ids:
        need(
            "dpa_part3",
            "DPA 2018 Part 3 applies only to a competent authority such as the police; "
            "no party is one",
        )
    if v.dpa_part3 and not v.law_enforcement_purpose.strip():
        need(
            "law_enforcement_purpose",
            "Say which law enforcement purpose the police partner processes the data for "
            "(DPA 2018 s31)",
        )


def _check_row_scope(v: AgreementVersion, need: Need, shared: _Shared) -> None:
    """Which records (row scope)."""
    scope = v.row_scope or {}
    low, high = scope.get("min_age"), scope.get("max_age")
    for name, value in (("min_age", low), ("max_age", high)):
        if value is not None and not (0 <= int(value) <= 120):
            need("row_scope", f"An age limit must be between 0 and 120 ({name} is {value})")
    if low is not None and high is not None and int(low) > int(high):
        need("row_scope", "The youngest age in scope is above the oldest")
    if shared.personal and not (scope.get("description") or "").strip():
        need(
            "row_scope",
            "Describe which people's records are shared (for example patients discharged "
            "to an address in the county)",
        )


FALSE_WORDS = ("false", "no", "n", "f", "0")
TYPE_WORDS = {
    "integer": "a whole number",
    "decimal": "a number",
    "boolean": "yes or no",
    "date": "a date such as 2027-03-31",
    "datetime": "a date and time such as 2027-03-31 14:00",
}


def _check_conditions(v: AgreementVersion, need: Need, columns: ContractColumns) -> None:
    """Which records (row scope): each row condition fits a dataset the agreement shares."""
    shared_from = set(item_datasets(v))
    for condition in (v.row_scope or {}).get("conditions") or []:
        column = condition.get("column") or "(no column)"
        where = f"The row condition on {column}"
        pair = (condition.get("provider") or "", condition.get("dataset") or "")
        if pair not in shared_from:
            need(
                "row_scope",
                f"{where} is on {pair[0]}/{pair[1]}, but the agreement has no data items from "
                "that dataset; name a provider and dataset that data items come from",
            )
            continue
        contract = columns.get(pair)
        found = contract.get(column) if contract is not None else None
        if contract is not None and found is None:
            need("row_scope", f"{where}: {pair[1]} has no column {column}")
            continue
        try:
            op = ConditionOp(condition.get("op"))
        except ValueError:
            need("row_scope", f"{where} has an unknown operation {condition.get('op')!r}")
            continue
        for message in _condition_shape(condition, op, found):
            need("row_scope", f"{where} {message}")


def _condition_shape(condition: dict, op: ConditionOp, column: Column | None) -> list[str]:
    """What is wrong with a condition's values for its operation and its column's type."""
    values = list(condition.get("values") or [])
    low, high = condition.get("low"), condition.get("high")
    if op == ConditionOp.one_of and not values:
        return ["lists no values: give at least one"]
    if op == ConditionOp.equals and len(values) != 1:
        return [f"needs exactly one value to equal, not {len(values)}"]
    if op == ConditionOp.between and low is None and high is None:
        return ["needs a lowest value, a highest value or both"]
    if op in (ConditionOp.is_null, ConditionOp.is_not_null):
        return []
    if column is None:  # no contract registered: the data plane checks types when it runs
        numbers = all(isinstance(b, int | float) and not isinstance(b, bool) for b in (low, high))
        bounds = (low, high) if numbers else (None, None)
    else:
        kind = column.type.value
        bad = [v for v in [*values, low, high] if v is not None and not _fits(kind, v)]
        if bad:
            return [
                f"has the value {bad[0]!r}, which is not {TYPE_WORDS.get(kind, kind)} "
                f"(the type of {column.name} is {kind})"
            ]
        bounds = (typed_value(kind, low), typed_value(kind, high))
    if None not in bounds and bounds[0] > bounds[1]:
        return [f"runs from {low} to {high}: the lowest value is above the highest"]
    return []


def _fits(kind: str, value) -> bool:
    if kind == "boolean" and not isinstance(value, bool):
        return str(value).strip().lower() in (*TRUE_WORDS, *FALSE_WORDS)
    try:
        typed_value(kind, value)
    except (TypeError, ValueError):
        return False
    return True


def _check_handling(v: AgreementVersion, need: Need, shared: _Shared) -> None:
    """Frequency, retention, security and rights."""
    if v.frequency is None:
        need("frequency", "Say how often data is shared")
    if not v.retention.strip():
        need("retention", "Say how long the recipient keeps the data")
    if not v.deletion_method.strip():
        need("deletion_method", "Say how the data is deleted at the end of retention")
    if not v.security.strip():
        need("security", "Describe the security measures")
    if shared.personal and not v.rights_handling.strip():
        need(
            "rights_handling",
            "Say how data subjects' rights (access, objection, rectification) are handled",
        )


def _check_dpia(v: AgreementVersion, need: Need) -> None:
    """DPIA screening."""
    required, _ = dpia_result(v.dpia_answers or {})
    if required is None:
        need("dpia_answers", "Answer every DPIA screening question")
    elif required and not v.dpia_outcome.strip():
        need(
            "dpia_outcome",
            "The screening says a DPIA is required: record its outcome before submitting",
        )


def _check_dates(v: AgreementVersion, need: Need, today: date) -> None:
    """Dates, review and emergencies."""
    if v.start_date is None:
        need("start_date", "Give the date the agreement starts")
    if v.start_date and v.end_date and v.end_date < v.start_date:
        need("end_date", "The end date must be after the start date")
    from_day = v.start_date or today
    if v.review_date is None or v.review_date > _add_years(from_day, REVIEW_MAX_YEARS):
        need("review_date", "A review date is needed and must be within 3 years")
    elif v.review_date < from_day:
        need("review_date", "The review date must be after the start date")
    if v.emergency:
        if v.end_date is None or (
            v.start_date and v.end_date > v.start_date + timedelta(days=EMERGENCY_MAX_DAYS)
        ):
            need(
                "end_date",
                f"An emergency agreement must end: give an end date no more than "
                f"{EMERGENCY_MAX_DAYS} days after it starts.",
            )
        if not v.emergency_trigger.strip():
            need(
                "emergency_trigger",
                "Say what triggers sharing under this emergency agreement (for example a "
                "major incident declared under the Civil Contingencies Act 2004)",
            )


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def section_states(version: AgreementVersion, today: date | None = None) -> dict[str, list[str]]:
    """For the task list: each section's outstanding problems (empty when complete)."""
    states: dict[str, list[str]] = {key: [] for key in SECTIONS}
    for problem in validate(version, today):
        states[problem.section].append(problem.message)
    return states
