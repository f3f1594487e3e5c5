"""The public register and the Article 30 record of processing (ROPA)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.agreements.models import SCHEDULE1, Agreement, AgreementVersion
from civicshare.agreements.policy import COUNTS_RULE, dataset_policies
from civicshare.agreements.service.queries import active_versions, may_view
from civicshare.agreements.service.transitions import LIVE


def _categories(version: AgreementVersion) -> list[str]:
    """Data categories without personal data: datasets and what kind of items they share."""
    by_dataset: dict[tuple[str, str], list] = {}
    for item in version.shared_items:
        by_dataset.setdefault((item.provider.name, item.dataset), []).append(item)
    out = []
    for (provider, dataset), items in by_dataset.items():
        kinds = sorted({i.treatment.label.lower() for i in items})
        special = sorted({i.special_category.label for i in items if i.special_category})
        extra = f"; special category: {', '.join(special)}" if special else ""
        criminal = "; criminal offence data" if any(i.criminal_offence for i in items) else ""
        shown = ", ".join(kinds)
        out.append(f"{provider} – {dataset}: {len(items)} items ({shown}){extra}{criminal}")
    return out


def register_entries(session: Session, today: date | None = None) -> list[dict[str, Any]]:
    """The public transparency register: active agreements, organisations only, no people."""
    entries = []
    for version in active_versions(session, today):
        policies = dataset_policies(version, details=False)
        entries.append(
            {
                "reference": version.reference,
                "version": version.number,
                "title": version.title,
                "purpose": version.purpose,
                "purposes": [f"{p['code']}: {p['description']}" for p in version.purposes or []],
                "benefits": version.benefits,
                "providers": [p.partner.name for p in version.providers],
                "recipients": [p.partner.name for p in version.recipients],
                "controllers": version.controller_arrangement.label
                if version.controller_arrangement
                else "",
                "article6": version.article6.label if version.article6 else "No personal data",
                "article9": version.article9.label if version.article9 else "",
                "schedule1": [SCHEDULE1[c][1] for c in version.schedule1],
                "article10": [SCHEDULE1[c][1] for c in version.article10_schedule1],
                "dpa_part3": version.dpa_part3,
                "statutory_powers": list(version.statutory_powers),
                "data_categories": _categories(version),
                # What the gateway enforces, from the policy itself.
                "data_items": [f"{p.title} – {'; '.join(p.items)}" for p in policies],
                "records": [f"{p.title} – {p.rows_text}" for p in policies],
                "counts": COUNTS_RULE,
                "records_explanation": (version.row_scope or {}).get("description") or "",
                "data_subjects": version.data_subjects,
                "frequency": version.frequency.label if version.frequency else "",
                "retention": version.retention,
                "emergency": version.emergency,
                "start_date": version.start_date,
                "end_date": version.end_date,
                "review_date": version.review_date,
                "dpia_required": version.dpia_required,
            }
        )
    return entries


ROPA_COLUMNS = [
    "Controller",
    "ODS code",
    "ICO registration",
    "Data protection officer",
    "Agreement",
    "Version",
    "Status",
    "Title",
    "Purposes of processing",
    "Role in the sharing",
    "Controller arrangement",
    "Categories of data subjects",
    "Categories of personal data",
    "Special category data",
    "Criminal offence data",
    "Recipients",
    "Sources",
    "Article 6 basis",
    "Article 9 condition",
    "Schedule 1 conditions",
    "Article 10 conditions",
    "DPA 2018 Part 3",
    "Statutory powers",
    "Transfers outside the UK",
    "Retention",
    "Deletion",
    "Security measures",
    "Data subjects' rights",
    "DPIA",
    "Start date",
    "End date",
    "Review date",
]


def ropa_rows(
    session: Session, partner_id: int | None = None, viewer: Actor | None = None
) -> list[dict[str, Any]]:
    """Article 30 record of processing: one row per controller per agreement in force or
    suspended; `partner_id` limits it to one controller's own record, `viewer` to the
    agreements that actor may see."""
    versions = session.scalars(
        select(AgreementVersion)
        .join(Agreement)
        .where(AgreementVersion.status.in_(list(LIVE)))
        .order_by(Agreement.reference)
    ).all()
    rows = []
    for version in versions:
        if viewer is not None and not may_view(viewer, version.agreement):
            continue
        for party in version.parties:
            if partner_id is not None and party.partner_id != partner_id:
                continue
            partner = party.partner
            rows.append(
                {
                    "Controller": partner.name,
                    "ODS code": partner.ods_code or "",
                    "ICO registration": partner.ico_registration or "",
                    "Data protection officer": partner.dpo_name or "",
                    "Agreement": version.reference,
                    "Version": version.number,
                    "Status": version.status.label,
                    "Title": version.title,
                    "Purposes of processing": version.purpose,
                    "Role in the sharing": party.role.label,
                    "Controller arrangement": version.controller_arrangement.label
                    if version.controller_arrangement
                    else "",
                    "Categories of data subjects": version.data_subjects,
                    "Categories of personal data": "; ".join(_categories(version)),
                    "Special category data": ", ".join(
                        sorted(
                            {
                                i.special_category.label
                                for i in version.shared_items
                                if i.special_category
                            }
                        )  # fmt: skip
                    ),
                    "Criminal offence data": "Yes"
                    if any(i.criminal_offence for i in version.shared_items)
                    else "No",
                    "Recipients": ", ".join(
                        p.partner.name for p in version.recipients if p is not party
                    )
                    if party.role.provides
                    else "",
                    "Sources": ", ".join(
                        p.partner.name for p in version.providers if p is not party
                    )
                    if party.role.receives
                    else "",
                    "Article 6 basis": version.article6.label if version.article6 else "",
                    "Article 9 condition": version.article9.label if version.article9 else "",
                    "Schedule 1 conditions": "; ".join(SCHEDULE1[c][1] for c in version.schedule1),
                    "Article 10 conditions": "; ".join(
                        SCHEDULE1[c][1] for c in version.article10_schedule1
                    ),
                    "DPA 2018 Part 3": "Yes" if version.dpa_part3 else "No",
                    "Statutory powers": "; ".join(version.statutory_powers),
                    "Transfers outside the UK": "None",
                    "Retention": version.retention,
                    "Deletion": version.deletion_method,
                    "Security measures": version.security,
                    "Data subjects' rights": version.rights_handling,
                    "DPIA": dpia_summary(version),
                    "Start date": version.start_date.isoformat() if version.start_date else "",
                    "End date": version.end_date.isoformat() if version.end_date else "",
                    "Review date": version.review_date.isoformat() if version.review_date else "",
                }
            )
    return rows


def dpia_summary(version: AgreementVersion) -> str:
    if version.dpia_required is None:
        return "Screening not finished"
    if not version.dpia_required:
        return "Not required (screening found no high-risk criterion)"
    outcome = version.dpia_outcome or "outcome not yet recorded"
    return f"Required ({'; '.join(version.dpia_reasons)}): {outcome}"
