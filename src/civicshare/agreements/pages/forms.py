"""The task list's form fields: each section's fields as plain specs (one template renders them
with GOV.UK macros), reading a posted form back, and the changes a section makes."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import HTTPException
from sqlalchemy.orm import Session

from civicshare.agreements.conditions import conditions_text, item_datasets, parse_text
from civicshare.agreements.models import (
    DPIA_CRITERIA,
    SCHEDULE1,
    Article6,
    Article9,
    ControllerArrangement,
    Frequency,
    Generalisation,
    PartyRole,
    SpecialCategory,
    Treatment,
)
from civicshare.partners import service as partners
from civicshare.partners.models import PartnerStatus


def _choices(enum_cls, blank: str | None = None) -> list[tuple[str, str]]:
    out = [("", blank)] if blank else []
    return out + [(member.value, member.label) for member in enum_cls]


def field_spec(name, label, kind="textarea", hint=None, items=None, **extra) -> dict[str, Any]:
    return {"name": name, "label": label, "kind": kind, "hint": hint, "items": items, **extra}


def _parties_fields(session: Session, version) -> list[dict[str, Any]]:
    fields = []
    for partner in partners.list_partners(session):
        party = version.party(partner.id)
        if partner.status in (PartnerStatus.left, PartnerStatus.suspended) and not party:
            continue
        fields.append(
            field_spec(
                f"party-{partner.key}",
                partner.name,
                "select",
                items=_choices(PartyRole, "Not a party"),
                value=party.role.value if party else "",
                classes="govuk-!-width-one-half",
            )
        )
    arrangement = version.controller_arrangement
    return [
        *fields,
        field_spec(
            "controller_arrangement",
            "Are the parties joint or separate controllers?",
            "radios",
            items=_choices(ControllerArrangement),
            value=arrangement.value if arrangement else "",
            hint="Joint controllers decide the purposes and means together (Article 26).",
        ),
        field_spec(
            "joint_arrangement",
            "For joint controllers: who is responsible for what",
            hint="Including who answers data subjects and who reports breaches.",
            value=version.joint_arrangement,
        ),
    ]


def _purpose_fields(version) -> list[dict[str, Any]]:
    return [
        field_spec("title", "Title", "input", value=version.title),
        field_spec(
            "purposes",
            "Permitted purposes",
            hint="One a line: a short code, a colon, and a sentence saying what the data may be "
            "used for, for example “discharge-planning: Plan care and support for an adult due "
            "to leave hospital”. Every request for data names one of these codes; the gateway "
            "refuses any other.",
            value="\n".join(f"{p['code']}: {p['description']}" for p in version.purposes or []),
            rows=4,
        ),
        field_spec(
            "purpose",
            "Purpose of the sharing (explanation)",
            hint="Explains the sharing to readers of the agreement. It does not restrict "
            "requests: the permitted purposes do.",
            value=version.purpose,
        ),
        field_spec(
            "necessity",
            "Why sharing is necessary (explanation)",
            hint="Why the purpose cannot be met with less data or without sharing.",
            value=version.necessity,
        ),
        field_spec("benefits", "Benefits expected (optional)", value=version.benefits),
        field_spec(
            "data_subjects",
            "Whose data is shared",
            hint="The categories of data subjects, for example adult inpatients.",
            value=version.data_subjects,
        ),
    ]


def _basis_fields(version) -> list[dict[str, Any]]:
    return [
        field_spec(
            "article6",
            "Article 6 lawful basis",
            "radios",
            items=_choices(Article6),
            value=version.article6.value if version.article6 else "",
        ),
        field_spec(
            "statutory_powers",
            "Statutory powers relied on",
            hint="One per line, for example Care Act 2014 s6.",
            value="\n".join(version.statutory_powers),
        ),
        field_spec(
            "article9",
            "Article 9 condition (for special category data)",
            "select",
            items=_choices(Article9, "None: no special category data"),
            value=version.article9.value if version.article9 else "",
        ),
        field_spec(
            "schedule1",
            "DPA 2018 Schedule 1 conditions for special category data",
            "checkboxes",
            items=[(k, label) for k, (part, label) in SCHEDULE1.items() if part < 3],
            value=version.schedule1,
        ),
        field_spec(
            "appropriate_policy_document",
            "Appropriate policy document",
            "checkbox",
            items=[("yes", "Each party has an appropriate policy document in place")],
            value=["yes"] if version.appropriate_policy_document else [],
        ),
        field_spec(
            "article10_schedule1",
            "Schedule 1 conditions for criminal offence data (Article 10)",
            "checkboxes",
            items=[(k, label) for k, (_, label) in SCHEDULE1.items()],
            value=version.article10_schedule1,
        ),
        field_spec(
            "dpa_part3",
            "Does a police partner process the data under DPA 2018 Part 3?",
            "radios",
            items=[("yes", "Yes, for law enforcement purposes"), ("no", "No")],
            value="yes" if version.dpa_part3 else "no",
        ),
        field_spec(
            "law_enforcement_purpose",
            "Law enforcement purpose (if Part 3 applies)",
            value=version.law_enforcement_purpose,
        ),
    ]


def _scope_fields(version) -> list[dict[str, Any]]:
    scope = version.row_scope or {}
    return [
        field_spec(
            "description",
            "Which people's records are shared",
            hint="For example, adults discharged to an address in the county.",
            value=scope.get("description", ""),
        ),
        field_spec(
            "recipient_district_only",
            "District limit",
            "checkbox",
            items=[("yes", "Only records of people living in the recipient's district")],
            value=["yes"] if scope.get("recipient_district_only") else [],
        ),
        field_spec(
            "min_age", "Youngest age in scope (optional)", "number", value=scope.get("min_age")
        ),  # fmt: skip
        field_spec(
            "max_age", "Oldest age in scope (optional)", "number", value=scope.get("max_age")
        ),  # fmt: skip
        field_spec(
            "conditions",
            "Row conditions (optional)",
            hint="Only rows that meet every condition on their dataset are shared; the gateway "
            "enforces them. One a line: the provider and dataset, a colon, then the column and "
            "a test, for example “worcs-acute/acute-admissions: DISCH_PATHWAY in 1, 2, 3”. Tests: "
            "“= value”, “in a, b, c”, “between 1 and 5”, “at least 1”, “at most 5”, “is "
            "empty”, “is recorded”. When every data item comes from one dataset, the provider "
            "and dataset may be left out.",
            value=conditions_text(scope),
            rows=4,
        ),
    ]


def read_conditions(values: dict[str, Any], version) -> str | None:
    """The posted row conditions parsed in place; a message naming each line that cannot be
    read, or None."""
    pairs = item_datasets(version)
    parsed, problems = parse_text(values["conditions"], pairs[0] if len(pairs) == 1 else None)
    values["conditions"] = parsed
    return "; ".join(problems) or None


def _handling_fields(version) -> list[dict[str, Any]]:
    return [
        field_spec(
            "frequency",
            "How often is data shared?",
            "radios",
            items=_choices(Frequency),
            value=version.frequency.value if version.frequency else "",
        ),
        field_spec("retention", "How long the recipient keeps it", value=version.retention),
        field_spec("deletion_method", "How it is deleted", value=version.deletion_method),
        field_spec("security", "Security measures", value=version.security),
        field_spec(
            "rights_handling",
            "How data subjects' rights are handled",
            value=version.rights_handling,
        ),
    ]


def _dpia_fields(version) -> list[dict[str, Any]]:
    answers = version.dpia_answers or {}
    fields = [
        field_spec(
            f"dpia-{key}",
            text,
            "radios",
            items=[("yes", "Yes"), ("no", "No")],
            value="" if answers.get(key) is None else ("yes" if answers[key] else "no"),
            inline=True,
            legend_size="s",
        )
        for key, text in DPIA_CRITERIA.items()
    ]
    return [
        *fields,
        field_spec(
            "dpia_outcome",
            "DPIA outcome (if a DPIA is required)",
            hint="The DPIA's conclusion and residual risk, or the DPO's view.",
            value=version.dpia_outcome,
        ),
        field_spec(
            "dpia_completed_on",
            "Date the DPIA was completed",
            "date",
            value=version.dpia_completed_on,
        ),  # fmt: skip
    ]


def _dates_fields(version) -> list[dict[str, Any]]:
    return [
        field_spec("start_date", "Start date", "date", value=version.start_date),
        field_spec(
            "end_date",
            "End date (optional unless an emergency agreement)",
            "date",
            value=version.end_date,
        ),  # fmt: skip
        field_spec(
            "review_date",
            "Review date",
            "date",
            hint="Within 3 years of the start.",
            value=version.review_date,
        ),  # fmt: skip
        field_spec(
            "emergency",
            "Is this an emergency agreement?",
            "radios",
            items=[
                ("yes", "Yes: time-limited sharing in an emergency (at most 90 days)"),
                ("no", "No"),
            ],
            value="yes" if version.emergency else "no",
        ),
        field_spec(
            "emergency_trigger",
            "What triggers sharing (emergency agreements)",
            value=version.emergency_trigger,
        ),
    ]


def _items_fields(version) -> list[dict[str, Any]]:
    providers = [(p.partner.key, p.partner.name) for p in version.providers]
    return [
        field_spec(
            "provider",
            "Provided by",
            "select",
            items=[("", "Choose a provider"), *providers],
            value="",
        ),  # fmt: skip
        field_spec("dataset", "Dataset", "input", hint="For example acute-admissions.", value=""),
        field_spec("column", "Column", "input", hint="For example DISCH_PATHWAY.", value=""),
        field_spec(
            "treatment",
            "How is it treated before sharing?",
            "radios",
            items=_choices(Treatment),
            value="identifiable",
        ),  # fmt: skip
        field_spec(
            "generalisation",
            "Generalisation (for generalised items)",
            "select",
            items=_choices(Generalisation, "None"),
            value="",
        ),  # fmt: skip
        field_spec(
            "special_category",
            "Special category data",
            "select",
            items=_choices(SpecialCategory, "Not special category data"),
            value="",
        ),  # fmt: skip
        field_spec(
            "flags",
            "Other flags",
            "checkboxes",
            items=[
                ("criminal_offence", "Criminal offence data"),
                ("not_personal", "Not personal data (for example street works)"),
            ],
            value=[],
        ),  # fmt: skip
    ]


_SECTION_FIELDS = {
    "purpose": _purpose_fields,
    "basis": _basis_fields,
    "scope": _scope_fields,
    "handling": _handling_fields,
    "dpia": _dpia_fields,
    "dates": _dates_fields,
    "items": _items_fields,
}


def section_fields(session: Session, version, section: str) -> list[dict[str, Any]]:
    """The form fields of one section of the task list, filled from the version."""
    if section == "parties":
        return _parties_fields(session, version)
    build = _SECTION_FIELDS.get(section)
    if build is None:
        raise HTTPException(404, f"There is no section called {section}.")
    return build(version)


def anchor(spec) -> str:
    return spec["name"] + ("-day" if spec["kind"] == "date" else "")


def parse(form, specs) -> tuple[dict[str, Any], dict[str, str]]:
    """Values from a posted form, and an error message for each field that cannot be read."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in specs:
        name, kind = spec["name"], spec["kind"]
        if kind in ("checkboxes", "checkbox"):
            values[name] = [str(v) for v in form.getlist(name)]
        elif kind == "date":
            parts = [str(form.get(f"{name}-{p}", "")).strip() for p in ("day", "month", "year")]
            spec["parts"] = parts
            if not any(parts):
                values[name] = None
            else:
                try:
                    values[name] = date(int(parts[2]), int(parts[1]), int(parts[0]))
                except ValueError:
                    errors[anchor(spec)] = f"{spec['label']} must be a real date, like 31 3 2027"
                    values[name] = None
        elif kind == "number":
            raw = str(form.get(name, "")).strip()
            spec["raw"] = raw
            if not raw:
                values[name] = None
            elif raw.isdigit():
                values[name] = int(raw)
            else:
                errors[name] = f"{spec['label'].split(' (')[0]} must be a whole number, like 18"
                values[name] = None
        else:
            values[name] = str(form.get(name, "")).strip()
        if kind != "date":
            spec["value"] = values[name] if kind != "number" else spec.get("raw")
        else:
            spec["value"] = values[name]
    return values, errors


def changes_for(section: str, values: dict[str, Any]) -> dict[str, Any]:
    if section == "parties":
        parties = [
            {"partner": name.removeprefix("party-"), "role": role}
            for name, role in values.items()
            if name.startswith("party-") and role
        ]
        return {
            "parties": parties,
            "controller_arrangement": values["controller_arrangement"] or None,
            "joint_arrangement": values["joint_arrangement"],
        }
    if section == "basis":
        return {
            "article6": values["article6"] or None,
            "statutory_powers": [
                line.strip() for line in values["statutory_powers"].splitlines() if line.strip()
            ],
            "article9": values["article9"] or None,
            "schedule1": values["schedule1"],
            "appropriate_policy_document": "yes" in values["appropriate_policy_document"],
            "article10_schedule1": values["article10_schedule1"],
            "dpa_part3": values["dpa_part3"] == "yes",
            "law_enforcement_purpose": values["law_enforcement_purpose"],
        }
    if section == "scope":
        return {
            "row_scope": {
                "description": values["description"],
                "recipient_district_only": "yes" in values["recipient_district_only"],
                "min_age": values["min_age"],
                "max_age": values["max_age"],
                "conditions": values["conditions"],
            }
        }
    if section == "dpia":
        answers = {
            key: (None if not values[f"dpia-{key}"] else values[f"dpia-{key}"] == "yes")
            for key in DPIA_CRITERIA
        }
        return {
            "dpia_answers": answers,
            "dpia_outcome": values["dpia_outcome"],
            "dpia_completed_on": values["dpia_completed_on"],
        }
    if section == "dates":
        return {
            "start_date": values["start_date"],
            "end_date": values["end_date"],
            "review_date": values["review_date"],
            "emergency": values["emergency"] == "yes",
            "emergency_trigger": values["emergency_trigger"],
        }
    if section == "handling":
        return {**values, "frequency": values["frequency"] or None}
    return values
