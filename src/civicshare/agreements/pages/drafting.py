"""Drafting: a task list section's form and saving it, and removing a data item."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse

from civicshare.accounts.api import ActorDep
from civicshare.agreements import service
from civicshare.agreements.models import (
    SCHEDULE1,
    Status,
)
from civicshare.agreements.pages.common import url_of
from civicshare.agreements.pages.forms import (
    anchor,
    changes_for,
    parse,
    read_conditions,
    section_fields,
)
from civicshare.agreements.validation import SECTIONS, section_states
from civicshare.db import RowId, SessionDep
from civicshare.web.forms import FormDep
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)


@router.post("/agreements/{reference}/versions/{number}/items/{item_id}/remove")
def remove_item(
    reference: str,
    number: RowId,
    item_id: RowId,
    actor: ActorDep,
    session: SessionDep,
):
    version = service.version_for(session, actor, reference, number)
    service.remove_data_item(session, actor, version, item_id)
    return RedirectResponse(url_of(version) + "/items", status_code=303)


@router.get("/agreements/{reference}/versions/{number}/{section}")
def section_form(
    reference: str,
    number: RowId,
    section: str,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    version = service.version_for(session, actor, reference, number)
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
    actor: ActorDep,
    session: SessionDep,
):
    version = service.version_for(session, actor, reference, number)
    _editable(actor, version)
    if section not in SECTIONS:
        raise HTTPException(404, f"There is no section called {section}.")
    specs = section_fields(session, version, section)
    values, errors = parse(form, specs)
    if section == "scope" and (unreadable := read_conditions(values, version)):
        errors["conditions"] = unreadable
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
            version = service.version_for(session, actor, reference, number)
            errors = {anchor(specs[0]): " ".join(p.message for p in error.problems)}
    if errors:
        return _section_page(
            request, session, version, section, specs=specs, errors=errors, status_code=400
        )
    target = url_of(version) + ("/items#items" if section == "items" else "")
    return RedirectResponse(target, status_code=303)
