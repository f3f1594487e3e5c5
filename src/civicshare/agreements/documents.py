"""Documents and exports: the agreement as a PDF, the Article 30 record of processing as CSV and
XLSX, the transparency register as CSV. The HTML document is a page template."""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from civicshare import csvsafe
from civicshare.agreements.conditions import ContractColumns
from civicshare.agreements.models import DPIA_CRITERIA, SCHEDULE1, AgreementVersion
from civicshare.agreements.policy import (
    COUNTS_RULE,
    DatasetPolicy,
    dataset_policies,
    scope_limits,
)
from civicshare.agreements.service import ROPA_COLUMNS, dpia_summary

REGISTER_COLUMNS = [
    ("reference", "Reference"),
    ("version", "Version"),
    ("title", "Title"),
    ("purpose", "Purpose"),
    ("purposes", "Permitted purposes"),
    ("providers", "Shared by"),
    ("recipients", "Shared with"),
    ("article6", "Lawful basis"),
    ("article9", "Special category condition"),
    ("schedule1", "DPA 2018 Schedule 1 conditions"),
    ("statutory_powers", "Statutory powers"),
    ("data_categories", "Data shared"),
    ("data_items", "Data items and how each is treated"),
    ("records", "Which records are shared"),
    ("counts", "Counts"),
    ("records_explanation", "Which records (explanation, not a restriction)"),
    ("frequency", "How often"),
    ("retention", "Kept for"),
    ("start_date", "In force from"),
    ("review_date", "Review by"),
]


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if value is None:
        return ""
    return str(value)


def ropa_csv(rows: list[dict[str, Any]]) -> str:
    # csvsafe shows a cell starting = + - @ tab or CR as text (spreadsheet formula injection).
    return csvsafe.rows_text(
        ([_cell(row[column]) for column in ROPA_COLUMNS] for row in rows), ROPA_COLUMNS
    )


def ropa_xlsx(rows: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    sheet = book.active
    sheet.title = "Record of processing"
    sheet.append(ROPA_COLUMNS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([csvsafe.neutralise(_cell(row[column])) for column in ROPA_COLUMNS])
    for column in sheet.columns:
        sheet.column_dimensions[column[0].column_letter].width = 28
        for cell in column[1:]:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "B2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def register_csv(entries: list[dict[str, Any]]) -> str:
    return csvsafe.rows_text(
        ([_cell(entry[key]) for key, _ in REGISTER_COLUMNS] for entry in entries),
        [label for _, label in REGISTER_COLUMNS],
    )


def _date(value) -> str:
    return value.strftime("%-d %B %Y") if value else "Not set"


Rows = list[tuple[str, str]]


def document_sections(
    version: AgreementVersion, columns: ContractColumns | None = None
) -> list[tuple[str, Rows]]:
    """The agreement's content as (heading, [(label, text)]) for the PDF. Data items and
    which records are shared come from the enforced policy (`policy.dataset_policies`),
    naming columns by their contracts' plain names (`columns`, by default from the store)."""
    policies = dataset_policies(version, columns)
    return [
        ("1. Parties and controllers", _parties_rows(version)),
        ("2. Purpose and necessity", _purpose_rows(version)),
        ("3. Lawful basis", _basis_rows(version)),
        ("4. Data items", _items_rows(policies)),
        ("5. Which records", _scope_rows(version, policies)),
        ("6. Frequency, retention, security and rights", _handling_rows(version)),
        ("7. Data protection impact assessment", _dpia_rows(version)),
        ("8. Dates and review", _dates_rows(version)),
    ]


def _parties_rows(version: AgreementVersion) -> Rows:
    approvals = version.current_approvals()
    parties = [
        (
            p.partner.name,
            f"{p.role.label}. "
            + (
                f"{approvals[p.partner_id].decision.value.capitalize()}d on "
                f"{_date(approvals[p.partner_id].at)}"
                if p.partner_id in approvals
                else ("Decision awaited" if version.submission_round else "Not yet submitted")
            ),
        )
        for p in version.parties
    ]
    return [
        *parties,
        (
            "Controllers",
            version.controller_arrangement.label if version.controller_arrangement else "Not set",
        ),
        *([("Joint arrangement", version.joint_arrangement)] if version.joint_arrangement else []),
    ]


# The permitted purposes restrict what a request may be for; the prose around them explains.
PERMITTED_PURPOSES = "Permitted purposes (a request must name one)"
EXPLANATION = "explanation, not a restriction"


def permitted_purposes_text(version: AgreementVersion) -> str:
    """One line per permitted purpose: "code – sentence"."""
    return "\n".join(
        f"{p.get('code') or '(no code)'} – {p.get('description') or '(no description)'}"
        for p in version.purposes or []
    )


def _purpose_rows(version: AgreementVersion) -> Rows:
    return [
        (PERMITTED_PURPOSES, permitted_purposes_text(version) or "None listed"),
        (f"Purpose ({EXPLANATION})", version.purpose),
        (f"Why sharing is necessary ({EXPLANATION})", version.necessity),
        ("Benefits", version.benefits or "Not stated"),
        ("Whose data", version.data_subjects or "No personal data"),
    ]


def _basis_rows(version: AgreementVersion) -> Rows:
    return [
        ("Article 6", version.article6.label if version.article6 else "Not applicable"),
        ("Statutory powers", "; ".join(version.statutory_powers) or "None"),
        ("Article 9", version.article9.label if version.article9 else "Not applicable"),
        ("Schedule 1 conditions", "; ".join(SCHEDULE1[c][1] for c in version.schedule1) or "None"),
        ("Appropriate policy document", "Yes" if version.appropriate_policy_document else "No"),
        (
            "Criminal offence data (Article 10)",
            "; ".join(SCHEDULE1[c][1] for c in version.article10_schedule1) or "None",
        ),
        (
            "DPA 2018 Part 3",
            f"Yes: {version.law_enforcement_purpose}" if version.dpa_part3 else "No",
        ),
    ]


def _items_rows(policies: list[DatasetPolicy]) -> Rows:
    """Each dataset's items, one a line: plain name (column): treatment."""
    return [(p.title, "\n".join(p.items)) for p in policies] or [("Data items", "None listed")]


def _scope_rows(version: AgreementVersion, policies: list[DatasetPolicy]) -> Rows:
    """Which records of each dataset are shared (enforced), the counts rule, and the prose."""
    scope = version.row_scope or {}
    limits = scope_limits(version)
    unlisted = [("Records shared", "Only records where " + "; and ".join(limits))] if limits else []
    return [
        *([(f"Records of {p.dataset} shared", p.rows_text) for p in policies] or unlisted),
        ("Counts", COUNTS_RULE),
        (f"Records shared ({EXPLANATION})", scope.get("description") or "Not described"),
    ]


def _handling_rows(version: AgreementVersion) -> Rows:
    return [
        ("How often", version.frequency.label if version.frequency else "Not set"),
        ("Retention", version.retention),
        ("Deletion", version.deletion_method),
        ("Security", version.security),
        ("Data subjects' rights", version.rights_handling or "Not applicable"),
    ]


def _dpia_rows(version: AgreementVersion) -> Rows:
    return [
        *[
            (text, {True: "Yes", False: "No"}.get(version.dpia_answers.get(key), "?"))
            for key, text in DPIA_CRITERIA.items()
        ],
        ("Result", dpia_summary(version)),
    ]


def _dates_rows(version: AgreementVersion) -> Rows:
    return [
        ("Start", _date(version.start_date)),
        ("End", _date(version.end_date) if version.end_date else "No end date"),
        ("Review by", _date(version.review_date)),
        ("Emergency agreement", f"Yes: {version.emergency_trigger}" if version.emergency else "No"),
        (
            "IG group endorsement",
            f"{_date(version.endorsement_meeting_date)}, minute {version.endorsement_minute_ref}"
            if version.endorsement_meeting_date
            else "Not yet endorsed",
        ),
    ]


def agreement_pdf(version: AgreementVersion) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    out = io.BytesIO()
    title = f"{version.reference} version {version.number}: {version.title}"
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=title,
        author="civicshare",
        subject="Information sharing agreement",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
    )

    def para(text: str, style: str = "BodyText") -> Paragraph:
        return Paragraph(escape(text or "").replace("\n", "<br/>"), styles[style])

    story = [
        para("Information sharing agreement", "Title"),
        para(title, "Heading2"),
        para(f"Status: {version.status.label}", "Heading4"),
    ]
    if version.change_summary:
        story.append(para(f"This version amends the previous one: {version.change_summary}"))
    for heading, rows in document_sections(version):
        story += [Spacer(1, 4 * mm), para(heading, "Heading3")]
        table = Table(
            [[para(label), para(text)] for label, text in rows],
            colWidths=[60 * mm, 114 * mm],
        )
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.grey),
                ]
            )
        )
        story.append(table)
    doc.build(story)
    return out.getvalue()
