"""Agreements in the browser: GOV.UK task list to draft, check answers to submit, a page per
agreement with the steps each person may take, documents, exports and the public register."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from civicshare.accounts.api import current_actor, optional_actor
from civicshare.accounts.service import Actor
from civicshare.agreements import documents, library, service
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
    Status,
    Treatment,
)
from civicshare.agreements.validation import SECTIONS, section_states, validate
from civicshare.db import RowId, request_session
from civicshare.partners import service as partners
from civicshare.partners.models import PartnerStatus, Role
from civicshare.web.forms import FormDep
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)


def _or_http(error: service.AgreementError):
    raise HTTPException(error.status, error.message)


def _version(session, actor, reference, number):
    try:
        return service.version_for(session, actor, reference, number)
    except service.AgreementError as error:
        _or_http(error)


def _url(version) -> str:
    return f"/agreements/{version.reference}/versions/{version.number}"


# -- form fields ----------------------------------------------------------------------------
# Each section's fields as plain specs; one template renders them with GOV.UK macros.


def _choices(enum_cls, blank: str | None = None) -> list[tuple[str, str]]:
    out = [("", blank)] if blank else []
    return out + [(member.value, member.label) for member in enum_cls]


def _f(name, label, kind="textarea", hint=None, items=None, **extra) -> dict[str, Any]:
    return {"name": name, "label": label, "kind": kind, "hint": hint, "items": items, **extra}


def section_fields(session: Session, version, section: str) -> list[dict[str, Any]]:
    if section == "parties":
        fields = []
        for partner in partners.list_partners(session):
            party = version.party(partner.id)
            if partner.status in (PartnerStatus.left, PartnerStatus.suspended) and not party:
                continue
            fields.append(
                _f(
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
            _f(
                "controller_arrangement",
                "Are the parties joint or separate controllers?",
                "radios",
                items=_choices(ControllerArrangement),
                value=arrangement.value if arrangement else "",
                hint="Joint controllers decide the purposes and means together (Article 26).",
            ),
            _f(
                "joint_arrangement",
                "For joint controllers: who is responsible for what",
                hint="Including who answers data subjects and who reports breaches.",
                value=version.joint_arrangement,
            ),
        ]
    if section == "purpose":
        return [
            _f("title", "Title", "input", value=version.title),
            _f("purpose", "Purpose of the sharing", value=version.purpose),
            _f(
                "necessity",
                "Why sharing is necessary",
                hint="Why the purpose cannot be met with less data or without sharing.",
                value=version.necessity,
            ),
            _f("benefits", "Benefits expected (optional)", value=version.benefits),
            _f(
                "data_subjects",
                "Whose data is shared",
                hint="The categories of data subjects, for example adult inpatients.",
                value=version.data_subjects,
            ),
        ]
    if section == "basis":
        return [
            _f(
                "article6",
                "Article 6 lawful basis",
                "radios",
                items=_choices(Article6),
                value=version.article6.value if version.article6 else "",
            ),
            _f(
                "statutory_powers",
                "Statutory powers relied on",
                hint="One per line, for example Care Act 2014 s6.",
                value="\n".join(version.statutory_powers),
            ),
            _f(
                "article9",
                "Article 9 condition (for special category data)",
                "select",
                items=_choices(Article9, "None: no special category data"),
                value=version.article9.value if version.article9 else "",
            ),
            _f(
                "schedule1",
                "DPA 2018 Schedule 1 conditions for special category data",
                "checkboxes",
                items=[(k, label) for k, (part, label) in SCHEDULE1.items() if part < 3],
                value=version.schedule1,
            ),
            _f(
                "appropriate_policy_document",
                "Appropriate policy document",
                "checkbox",
                items=[("yes", "Each party has an appropriate policy document in place")],
                value=["yes"] if version.appropriate_policy_document else [],
            ),
            _f(
                "article10_schedule1",
                "Schedule 1 conditions for criminal offence data (Article 10)",
                "checkboxes",
                items=[(k, label) for k, (_, label) in SCHEDULE1.items()],
                value=version.article10_schedule1,
            ),
            _f(
                "dpa_part3",
                "Does a police partner process the data under DPA 2018 Part 3?",
                "radios",
                items=[("yes", "Yes, for law enforcement purposes"), ("no", "No")],
                value="yes" if version.dpa_part3 else "no",
            ),
            _f(
                "law_enforcement_purpose",
                "Law enforcement purpose (if Part 3 applies)",
                value=version.law_enforcement_purpose,
            ),
        ]
    if section == "scope":
        scope = version.row_scope or {}
        return [
            _f(
                "description",
                "Which people's records are shared",
                hint="For example, adults discharged to an address in the county.",
                value=scope.get("description", ""),
            ),
            _f(
                "recipient_district_only",
                "District limit",
                "checkbox",
                items=[("yes", "Only records of people living in the recipient's district")],
                value=["yes"] if scope.get("recipient_district_only") else [],
            ),
            _f(
                "min_age", "Youngest age in scope (optional)", "number", value=scope.get("min_age")
            ),  # fmt: skip
            _f(
                "max_age", "Oldest age in scope (optional)", "number", value=scope.get("max_age")
            ),  # fmt: skip
        ]
    if section == "handling":
        return [
            _f(
                "frequency",
                "How often is data shared?",
                "radios",
                items=_choices(Frequency),
                value=version.frequency.value if version.frequency else "",
            ),
            _f("retention", "How long the recipient keeps it", value=version.retention),
            _f("deletion_method", "How it is deleted", value=version.deletion_method),
            _f("security", "Security measures", value=version.security),
            _f(
                "rights_handling",
                "How data subjects' rights are handled",
                value=version.rights_handling,
            ),
        ]
    if section == "dpia":
        answers = version.dpia_answers or {}
        fields = [
            _f(
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
            _f(
                "dpia_outcome",
                "DPIA outcome (if a DPIA is required)",
                hint="The DPIA's conclusion and residual risk, or the DPO's view.",
                value=version.dpia_outcome,
            ),
            _f(
                "dpia_completed_on",
                "Date the DPIA was completed",
                "date",
                value=version.dpia_completed_on,
            ),  # fmt: skip
        ]
    if section == "dates":
        return [
            _f("start_date", "Start date", "date", value=version.start_date),
            _f(
                "end_date",
                "End date (optional unless an emergency agreement)",
                "date",
                value=version.end_date,
            ),  # fmt: skip
            _f(
                "review_date",
                "Review date",
                "date",
                hint="Within 3 years of the start.",
                value=version.review_date,
            ),  # fmt: skip
            _f(
                "emergency",
                "Is this an emergency agreement?",
                "radios",
                items=[
                    ("yes", "Yes: time-limited sharing in an emergency (at most 90 days)"),
                    ("no", "No"),
                ],
                value="yes" if version.emergency else "no",
            ),
            _f(
                "emergency_trigger",
                "What triggers sharing (emergency agreements)",
                value=version.emergency_trigger,
            ),
        ]
    if section == "items":
        providers = [(p.partner.key, p.partner.name) for p in version.providers]
        return [
            _f(
                "provider",
                "Provided by",
                "select",
                items=[("", "Choose a provider"), *providers],
                value="",
            ),  # fmt: skip
            _f("dataset", "Dataset", "input", hint="For example acute-admissions.", value=""),
            _f("column", "Column", "input", hint="For example DISCH_PATHWAY.", value=""),
            _f(
                "treatment",
                "How is it treated before sharing?",
                "radios",
                items=_choices(Treatment),
                value="identifiable",
            ),  # fmt: skip
            _f(
                "generalisation",
                "Generalisation (for generalised items)",
                "select",
                items=_choices(Generalisation, "None"),
                value="",
            ),  # fmt: skip
            _f(
                "special_category",
                "Special category data",
                "select",
                items=_choices(SpecialCategory, "Not special category data"),
                value="",
            ),  # fmt: skip
            _f(
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
    raise HTTPException(404, f"There is no section called {section}.")


def _anchor(spec) -> str:
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
                    errors[_anchor(spec)] = f"{spec['label']} must be a real date, like 31 3 2027"
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


# -- list, new, review due, exports ---------------------------------------------------------


@router.get("/agreements")
def list_page(
    request: Request,
    status: str = "",
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    chosen = status if status in Status.__members__ else ""
    rows = service.list_for(session, actor, chosen or None)
    return render(
        request,
        "agreements/list.html",
        active_nav="agreements",
        rows=rows,
        status=chosen,
        statuses=list(Status),
        can_draft=actor.has_role(Role.ig_lead),
    )


@router.get("/agreements/new")
def new_form(request: Request, actor: Actor = Depends(current_actor)):
    return _new_page(request, actor)


def _new_page(request, actor, *, errors=None, title="", template="", status_code=200):
    if not actor.has_role(Role.ig_lead):
        raise HTTPException(
            403,
            f"Acting for {actor.partner_name}, you are not an IG lead; IG leads draft agreements.",
        )
    return render(
        request,
        "agreements/new.html",
        status_code=status_code,
        active_nav="agreements",
        templates=list(library.TEMPLATES.values()),
        errors=errors or {},
        title=title,
        chosen=template,
    )


@router.post("/agreements/new")
def new_submit(
    request: Request,
    form: FormDep,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    title = str(form.get("title", "")).strip()
    template = str(form.get("template", "")).strip()
    errors = {}
    if not title:
        errors["title"] = "Enter a title for the agreement"
    if not template:
        errors["template"] = "Choose a template, or start from a blank agreement"
    elif template != "blank" and template not in library.TEMPLATES:
        errors["template"] = "Choose one of the templates listed"
    if errors:
        return _new_page(
            request, actor, errors=errors, title=title, template=template, status_code=400
        )
    try:
        version = service.create_draft(
            session,
            actor,
            title=title,
            template_key=None if template == "blank" else template,
        )
    except service.AgreementError as error:
        _or_http(error)
    return RedirectResponse(_url(version), status_code=303)


@router.get("/agreements/review-due")
def review_due_page(
    request: Request,
    within: int = 90,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    within = max(0, min(within, 3650))
    versions = [
        v
        for v in service.review_due(session, date.today(), within)
        if service.may_view(actor, v.agreement)
    ]
    return render(
        request,
        "agreements/review_due.html",
        active_nav="agreements",
        versions=versions,
        within=within,
        today=date.today(),
    )


ROPA_FORMATS = {
    "csv": (documents.ropa_csv, "text/csv; charset=utf-8"),
    "xlsx": (
        documents.ropa_xlsx,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
}


@router.get("/agreements/ropa.{extension}")
def ropa(
    extension: str,
    mine: bool = False,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    """The Article 30 record of processing, as CSV or as a spreadsheet."""
    if extension not in ROPA_FORMATS:
        raise HTTPException(404, "The record of processing comes as .csv or .xlsx.")
    write, media_type = ROPA_FORMATS[extension]
    rows = service.ropa_rows(session, actor.partner_id if mine else None, viewer=actor)
    return Response(
        write(rows),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="record-of-processing.{extension}"'},
    )


# -- an agreement ---------------------------------------------------------------------------


@router.get("/agreements/{reference}")
def agreement_page(
    reference: str,
    request: Request,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    try:
        agreement = service.get_for(session, actor, reference)
    except service.AgreementError as error:
        _or_http(error)
    return _show(request, session, actor, service.headline(agreement))


def _show(request, session, actor, version):
    agreement = version.agreement
    approvals = version.current_approvals()
    return render(
        request,
        "agreements/show.html",
        active_nav="agreements",
        version=version,
        agreement=agreement,
        approvals=approvals,
        actions=service.allowed_actions(actor, version),
        may_amend=service.may_amend(actor, version),
        pending=service.pending_amendment(agreement),
        versions=[v for v in agreement.versions if service.may_view_version(actor, v)],
        history=service.history(session, agreement),
        may_edit=service.may_edit(actor, version),
        problems=validate(version) if version.status == Status.draft else [],
        sections=documents.document_sections(version),
        done=request.query_params.get("done", ""),
    )


@router.get("/agreements/{reference}/versions/{number}")
def version_page(
    reference: str,
    number: RowId,
    request: Request,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    version = _version(session, actor, reference, number)
    if version.status != Status.draft:
        return _show(request, session, actor, version)
    states = section_states(version)
    return render(
        request,
        "agreements/task_list.html",
        active_nav="agreements",
        version=version,
        sections=[(key, title, states[key]) for key, (title, _) in SECTIONS.items()],
        may_edit=service.may_edit(actor, version),
        complete=not any(states.values()),
        done=sum(1 for outstanding in states.values() if not outstanding),
    )


@router.get("/agreements/{reference}/versions/{number}/check")
def check_page(
    reference: str,
    number: RowId,
    request: Request,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    version = _version(session, actor, reference, number)
    return _check(request, actor, version)


def _check(request, actor, version, status_code=200):
    return render(
        request,
        "agreements/check.html",
        status_code=status_code,
        active_nav="agreements",
        version=version,
        problems=validate(version),
        may_submit=any(t.action == "submit" for t in service.allowed_actions(actor, version)),
        may_edit=service.may_edit(actor, version),
        sections=documents.document_sections(version),
        section_keys=list(SECTIONS),
    )


STEP_FIELDS = {"endorse", "suspend", "resume", "revoke", "reject", "withdraw"}


@router.get("/agreements/{reference}/versions/{number}/do/{action}")
def step_form(
    reference: str,
    number: RowId,
    action: str,
    request: Request,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    version = _version(session, actor, reference, number)
    transition = _transition(actor, version, action)
    return _step_page(request, version, transition)


def _transition(actor, version, action):
    transition = service.TRANSITIONS.get(action)
    if transition is None or transition.who == "system":
        raise HTTPException(404, f"There is no step called {action}.")
    if transition not in service.allowed_actions(actor, version):
        try:
            service.check_step(None, actor, version, action, "reason")  # the precise refusal
        except service.AgreementError as error:
            _or_http(error)
        raise HTTPException(409, f"You cannot {action} {version.reference} now.")
    return transition


def _step_page(request, version, transition, *, errors=None, form=None, status_code=200):
    return render(
        request,
        "agreements/step.html",
        status_code=status_code,
        active_nav="agreements",
        version=version,
        transition=transition,
        errors=errors or {},
        form=form or {},
    )


@router.post("/agreements/{reference}/versions/{number}/do/{action}")
def step_submit(
    reference: str,
    number: RowId,
    action: str,
    request: Request,
    form: FormDep,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    version = _version(session, actor, reference, number)
    transition = _transition(actor, version, action)
    reason = str(form.get("reason", "")).strip()
    errors: dict[str, str] = {}
    meeting_date = None
    spec = _f("meeting_date", "Date of the IG group meeting", "date")
    if action == "endorse":
        values, errors = parse(form, [spec])
        meeting_date = values["meeting_date"]
        if meeting_date is None and not errors:
            errors["meeting_date-day"] = "Enter the date of the IG group meeting"
        if not str(form.get("minute_reference", "")).strip():
            errors["minute_reference"] = "Enter the minute reference of the decision"
    if transition.needs_reason and not reason:
        errors["reason"] = f"Enter the reason to {transition.button.lower()}"
    shown = {
        "reason": reason,
        "minute_reference": str(form.get("minute_reference", "")),
        "meeting_date": spec.get("parts", ["", "", ""]),
    }
    if not errors:
        try:
            service.perform(
                session,
                actor,
                version,
                action,
                reason=reason,
                meeting_date=meeting_date,
                minute_reference=shown["minute_reference"],
            )
        except service.Invalid as error:
            if action == "submit":
                session.rollback()
                return _check(request, actor, version, status_code=400)
            errors = {
                ("meeting_date-day" if p.field == "meeting_date" else p.field): p.message
                for p in error.problems
            }
        except service.AgreementError as error:
            _or_http(error)
    if errors:
        return _step_page(request, version, transition, errors=errors, form=shown, status_code=400)
    done = "" if version.status == Status.draft else f"?done={quote(action)}"
    return RedirectResponse(_url(version) + done, status_code=303)


@router.get("/agreements/{reference}/amend")
def amend_form(
    reference: str,
    request: Request,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    agreement = _agreement(session, actor, reference)
    return _amend_page(request, agreement)


def _agreement(session, actor, reference):
    try:
        agreement = service.get_for(session, actor, reference)
    except service.AgreementError as error:
        _or_http(error)
    if not service.may_amend(actor, agreement.versions[-1]):
        raise HTTPException(
            403, f"Acting for {actor.partner_name}, you cannot amend {agreement.reference} now."
        )
    return agreement


def _amend_page(request, agreement, errors=None, reason="", status_code=200):
    return render(
        request,
        "agreements/amend.html",
        status_code=status_code,
        active_nav="agreements",
        agreement=agreement,
        version=agreement.versions[-1],
        errors=errors or {},
        reason=reason,
    )


@router.post("/agreements/{reference}/amend")
def amend_submit(
    reference: str,
    request: Request,
    form: FormDep,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    agreement = _agreement(session, actor, reference)
    reason = str(form.get("reason", "")).strip()
    if not reason:
        return _amend_page(
            request,
            agreement,
            {"reason": "Enter what the amendment changes and why"},
            status_code=400,
        )
    try:
        version = service.amend(session, actor, agreement, reason=reason)
    except service.AgreementError as error:
        _or_http(error)
    return RedirectResponse(_url(version), status_code=303)


@router.post("/agreements/{reference}/versions/{number}/items/{item_id}/remove")
def remove_item(
    reference: str,
    number: RowId,
    item_id: RowId,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    version = _version(session, actor, reference, number)
    try:
        service.remove_data_item(session, actor, version, item_id)
    except service.AgreementError as error:
        _or_http(error)
    return RedirectResponse(_url(version) + "/items", status_code=303)


@router.get("/agreements/{reference}/versions/{number}/{section}")
def section_form(
    reference: str,
    number: RowId,
    section: str,
    request: Request,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    version = _version(session, actor, reference, number)
    _editable(actor, version)
    return _section_page(request, session, version, section)


def _editable(actor, version):
    if not service.may_edit(actor, version):
        if version.status != Status.draft:
            raise HTTPException(
                409,
                f"{version.reference} version {version.number} is "
                f"{version.status.label.lower()}; only a draft can be changed.",
            )
        raise HTTPException(
            403,
            f"Acting for {actor.partner_name}, you cannot change {version.reference}: only IG "
            "leads of the drafting partner or of a party can.",
        )


def _section_page(request, session, version, section, *, specs=None, errors=None, status_code=200):
    if section not in SECTIONS:
        raise HTTPException(404, f"There is no section called {section}.")
    specs = specs or section_fields(session, version, section)
    return render(
        request,
        "agreements/section.html",
        status_code=status_code,
        active_nav="agreements",
        version=version,
        section=section,
        section_title=SECTIONS[section][0],
        fields=specs,
        errors=errors or {},
        outstanding=section_states(version)[section],
        schedule1=SCHEDULE1,
    )


@router.post("/agreements/{reference}/versions/{number}/{section}")
def section_submit(
    reference: str,
    number: RowId,
    section: str,
    request: Request,
    form: FormDep,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    version = _version(session, actor, reference, number)
    _editable(actor, version)
    if section not in SECTIONS:
        raise HTTPException(404, f"There is no section called {section}.")
    specs = section_fields(session, version, section)
    values, errors = parse(form, specs)
    if section == "items":
        if not values["provider"]:
            errors["provider"] = "Choose the provider the item comes from"
        if not values["dataset"]:
            errors["dataset"] = "Enter the dataset's name"
        if not values["column"]:
            errors["column"] = "Enter the column's name"
        if values["treatment"] == "generalised" and not values["generalisation"]:
            errors["generalisation"] = "Choose how the item is generalised"
    if not errors:
        try:
            if section == "items":
                service.add_data_item(
                    session,
                    actor,
                    version,
                    {
                        "provider": values["provider"],
                        "dataset": values["dataset"],
                        "column": values["column"],
                        "treatment": values["treatment"] or "identifiable",
                        "generalisation": values["generalisation"] or None,
                        "special_category": values["special_category"] or None,
                        "criminal_offence": "criminal_offence" in values["flags"],
                        "personal": "not_personal" not in values["flags"],
                    },
                )
            else:
                service.update_draft(
                    session,
                    actor,
                    version,
                    changes_for(section, values),
                    reason=f"{SECTIONS[section][0]} section saved",
                )
        except service.Invalid as error:
            session.rollback()
            version = _version(session, actor, reference, number)
            errors = {_anchor(specs[0]): " ".join(p.message for p in error.problems)}
        except service.AgreementError as error:
            _or_http(error)
    if errors:
        return _section_page(
            request, session, version, section, specs=specs, errors=errors, status_code=400
        )
    target = _url(version) + ("/items#items" if section == "items" else "")
    return RedirectResponse(target, status_code=303)


# -- documents ------------------------------------------------------------------------------


def _document_version(session, actor, reference, version):
    try:
        agreement = service.get_for(session, actor, reference)
        return (
            service.version_for(session, actor, reference, version)
            if version
            else service.headline(agreement)
        )
    except service.AgreementError as error:
        _or_http(error)


@router.get("/agreements/{reference}/document")
def document_page(
    reference: str,
    request: Request,
    version: int | None = None,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    shown = _document_version(session, actor, reference, version)
    return render(
        request,
        "agreements/document.html",
        active_nav="agreements",
        version=shown,
        sections=documents.document_sections(shown),
        today=date.today(),
    )


@router.get("/agreements/{reference}/document.pdf")
def document_pdf(
    reference: str,
    version: int | None = None,
    actor: Actor = Depends(current_actor),
    session: Session = Depends(request_session),
):
    shown = _document_version(session, actor, reference, version)
    name = f"{shown.reference}-v{shown.number}.pdf"
    return Response(
        documents.agreement_pdf(shown),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


# -- the public register --------------------------------------------------------------------


@router.get("/register")
def register_page(
    request: Request,
    actor: Actor | None = Depends(optional_actor),
    session: Session = Depends(request_session),
):
    return render(
        request,
        "register/index.html",
        active_nav="register",
        entries=service.register_entries(session, date.today()),
        today=date.today(),
    )


@router.get("/register.csv")
def register_csv(session: Session = Depends(request_session)):
    return Response(
        documents.register_csv(service.register_entries(session, date.today())),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="transparency-register.csv"'},
    )
