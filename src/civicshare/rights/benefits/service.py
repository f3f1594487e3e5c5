"""What sharing produced, month by month (UTC months), and the time it saved.

Every figure is counted from evidence the gateway already keeps, not from bookkeeping of its
own: the audit log's records of each service's work (the months' span of `at` read once,
each record put in its month by a CASE) and, for council tax, the review's cases (found once
each, with the outcome the district recorded).

    report(session, months=12) -> Report      # suppressed counts and hours saved per month
    set_assumption(session, settings, actor, name, minutes, basis)   # an admin's edit, audited

Counts leave this module only suppressed by the partnership's rule (1-7 as "*", others to the
nearest 5), and the time saved is worked out from the published counts, so it cannot give a
small number away either: a suppressed count saves no time on the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session

from civicshare.audit import service as audit
from civicshare.audit.models import AuditRecord
from civicshare.config import Settings
from civicshare.core.errors import DomainError
from civicshare.core.identity import Actor, Role
from civicshare.counciltax.models import DiscountCase, Outcome
from civicshare.db import utcnow
from civicshare.linkage.report import suppress
from civicshare.rights.benefits.models import BenefitAssumption

READ_SCOPE = "benefits:read"
WRITE_SCOPE = "benefits:write"
# Leadership reads the page: each partner's admins, IG leads, analysts (who brief them) and
# viewers. Only the host partner's admins change the assumptions the whole partnership sees.
READ_ROLES = (Role.admin, Role.ig_lead, Role.analyst, Role.viewer)
DEFAULT_MONTHS = 12
MAX_MONTHS = 36
MAX_MINUTES = 24 * 60
SUPPRESSION = "Counts of 1 to 7 are shown as *, others rounded to the nearest 5."


class BenefitsError(DomainError):
    """A benefits request refused, in words a person can act on."""

    status = 422


@dataclass(frozen=True)
class Figure:
    """One thing sharing produced, what counts as one, and the default minutes each saves."""

    name: str
    label: str
    counts: str  # what one is, in plain words
    unit: str  # "delivery", "list", ... for "minutes per ..."
    default_minutes: int
    default_basis: str


FIGURES: tuple[Figure, ...] = (
    Figure(
        "deliveries",
        "Governed deliveries",
        "Share decisions that allowed data to flow (audit action share_allowed), by any "
        "route: API, command line, web and the services below. Refusals are not counted.",
        "delivery",
        20,
        "A request for an extract outside the gateway needs someone to find the agreement, "
        "check the request against it and log the disclosure: about 20 minutes of an IG "
        "officer's time that the gateway's decision and audit record replace.",
    ),
    Figure(
        "incident_lists",
        "Incident lists produced",
        "Lists of vulnerable households drawn or exported for an incident's area "
        "(incident_households_viewed, incident_exported).",
        "list",
        45,
        "Without the gateway the incident officer rings adult social care, the NHS trusts and "
        "the district councils for who is vulnerable in the area: three or more calls and a "
        "merged list, about 45 minutes, during the incident.",
    ),
    Figure(
        "notifications",
        "Life event notifications delivered",
        "Notifications of a death, birth or change of address delivered to a partner holding "
        "the person's records (a successful webhook delivery or a pull acknowledged), once "
        "each.",
        "notification",
        15,
        "A partner otherwise learns of a death from returned post or a relative's call: "
        "about 15 minutes per case of checking, updating and stopping letters, and the "
        "distress of letters to the deceased avoided.",
    ),
    Figure(
        "counciltax_found",
        "Council tax discount cases found",
        "Single person discount accounts the review found with another adult at the "
        "property, counted in the month first found.",
        "case found",
        10,
        "A district's data matching exercise (such as the National Fraud Initiative) takes "
        "about 10 minutes per flagged account to assemble the evidence the review gives.",
    ),
    Figure(
        "counciltax_confirmed",
        "Council tax discount cases confirmed",
        "Cases where the district recorded 'discount removed', in the month of the outcome.",
        "confirmed case",
        60,
        "A confirmed case would otherwise need a visit or correspondence to establish the "
        "other adult: about an hour of a revenues officer's time.",
    ),
    Figure(
        "discharge_lists",
        "Discharge lists used",
        "Times the discharge team opened the list of inpatients likely to need support after "
        "leaving hospital (discharge_list_viewed).",
        "list",
        30,
        "The team otherwise compiles the list from ward rounds and calls to community "
        "services: about 30 minutes each morning it is used.",
    ),
    Figure(
        "works_clashes",
        "Works clashes found before the works",
        "Clashes between promoters' planned works found and notified to both promoters "
        "(works.clashes_notified), each clash once. Whether the promoters then moved their "
        "works is not recorded, so this counts clashes there was time to avoid.",
        "clash",
        90,
        "A clash found on site means a second excavation or a cancelled permit: a "
        "co-ordinator's 90 minutes to re-plan, before counting the disruption to the road.",
    ),
)
BY_NAME = {figure.name: figure for figure in FIGURES}

# The audit actions each figure counts, and how: every record, or each entity once.
_COUNT_ALL = {
    "share_allowed": "deliveries",
    "incident_households_viewed": "incident_lists",
    "incident_exported": "incident_lists",
    "discharge_list_viewed": "discharge_lists",
}
_NOTIFIED = ("events.delivery_attempt", "events.notification_pulled")
_CLASHES = "works.clashes_notified"


def may_read(actor: Actor | None) -> bool:
    return actor is None or actor.has_role(*READ_ROLES)  # None: the operator at the server


def may_edit(actor: Actor | None, settings: Settings) -> bool:
    return actor is None or (
        actor.partner_key == settings.host_partner and actor.has_role(Role.admin)
    )


def require_reader(actor: Actor | None) -> None:
    if not may_read(actor):
        raise BenefitsError(
            "Only admins, IG leads, analysts and viewers see the benefits of sharing.",
            field="actor",
            status=403,
        )


def require_editor(actor: Actor | None, settings: Settings) -> None:
    if not may_edit(actor, settings):
        raise BenefitsError(
            f"Only an admin of {settings.host_partner} (the partner that runs the gateway) may "
            "change the time-saved assumptions.",
            field="actor",
            status=403,
        )


# -- months -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Month:
    key: str  # YYYY-MM
    title: str  # December 2026
    start: datetime
    end: datetime  # the next month's start


def recent_months(count: int, now: datetime | None = None) -> list[Month]:
    """The `count` UTC calendar months up to and including now's, newest first."""
    if not 1 <= count <= MAX_MONTHS:
        raise BenefitsError(f"Months must be from 1 to {MAX_MONTHS}, not {count}.", field="months")
    now = (now or utcnow()).astimezone(UTC)
    year, month = now.year, now.month
    found = []
    for _ in range(count):
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        found.append(Month(f"{year:04d}-{month:02d}", f"{start:%B %Y}", start, end))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return found


# -- counting ---------------------------------------------------------------------------------


def _month_of(column, months: list[Month]):
    """Which of `months` (newest first, back to back) a time in their span falls in, as SQL:
    the same CASE on SQLite and PostgreSQL, so the whole span is read in one pass."""
    return case(*((column >= m.start, m.key) for m in months), else_=months[-1].key)


def _grouped(session: Session, rows, *keys: str, distinct_ids: bool = True):
    """`rows` (a select with `month` and `entity_id` columns) counted per month and `keys`: the
    distinct entity ids, or every row. Grouped outside, so PostgreSQL sees one expression."""
    inner = rows.subquery()
    columns = [inner.c.month, *(inner.c[k] for k in keys)]
    counted = func.count(distinct(inner.c.entity_id)) if distinct_ids else func.count()
    return session.execute(select(*columns, counted).group_by(*columns))


def monthly_counts(session: Session, months: list[Month]) -> dict[str, dict[str, int]]:
    """The exact count of each figure in each month (`recent_months`: newest first, back to
    back), by month key. Not suppressed: for tests and the benchmark; what leaves the service
    goes through `report`."""
    tally = {m.key: dict.fromkeys(BY_NAME, 0) for m in months}
    start, end = months[-1].start, months[0].end
    in_span = (AuditRecord.at >= start, AuditRecord.at < end)
    month = _month_of(AuditRecord.at, months).label("month")
    # Plain counts first (no distinct: PostgreSQL can hash and parallelise them), then the
    # notifications, each delivered notification once however often it was replayed.
    counted = select(month, AuditRecord.action, AuditRecord.entity_id).where(
        *in_span, AuditRecord.action.in_(_COUNT_ALL)
    )
    for key, action, every in _grouped(session, counted, "action", distinct_ids=False):
        tally[key][_COUNT_ALL[action]] += every
    delivered = select(month, AuditRecord.action, AuditRecord.entity_id).where(
        *in_span,
        (AuditRecord.action == _NOTIFIED[1])
        | ((AuditRecord.action == _NOTIFIED[0]) & (AuditRecord.outcome == "allowed")),
    )
    for key, _action, entities in _grouped(session, delivered, "action"):
        tally[key]["notifications"] += entities
    # Each clash is notified once; the record carries how many (and at most 200 pairs).
    for key, details in session.execute(
        select(month, AuditRecord.details).where(*in_span, AuditRecord.action == _CLASHES)
    ):
        tally[key]["works_clashes"] += int((details or {}).get("count", 0))
    found = select(
        _month_of(DiscountCase.found_at, months).label("month"),
        DiscountCase.id.label("entity_id"),
    ).where(DiscountCase.found_at >= start, DiscountCase.found_at < end)
    for key, number in _grouped(session, found):
        tally[key]["counciltax_found"] = number
    confirmed = select(
        _month_of(DiscountCase.outcome_at, months).label("month"),
        DiscountCase.id.label("entity_id"),
    ).where(
        DiscountCase.outcome == Outcome.discount_removed.value,
        DiscountCase.outcome_at >= start,
        DiscountCase.outcome_at < end,
    )
    for key, number in _grouped(session, confirmed):
        tally[key]["counciltax_confirmed"] = number
    return tally


def counts(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    """The exact count of each figure for [start, end) (see `monthly_counts`)."""
    return monthly_counts(session, [Month("span", "", start, end)])["span"]


# -- assumptions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assumption:
    name: str
    label: str
    unit: str
    minutes: int
    basis: str
    default_minutes: int
    changed: bool  # an admin set it
    updated_at: datetime | None
    updated_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def assumptions(session: Session) -> list[Assumption]:
    """Every figure's minutes saved: the admin's where set, else the default."""
    rows = {row.name: row for row in session.scalars(select(BenefitAssumption))}
    found = []
    for figure in FIGURES:
        row = rows.get(figure.name)
        found.append(
            Assumption(
                name=figure.name,
                label=figure.label,
                unit=figure.unit,
                minutes=row.minutes if row else figure.default_minutes,
                basis=(row.basis if row and row.basis else figure.default_basis),
                default_minutes=figure.default_minutes,
                changed=row is not None,
                updated_at=row.updated_at if row else None,
                updated_by=row.updated_by if row else None,
            )
        )
    return found


def set_assumption(
    session: Session,
    settings: Settings,
    actor: Actor | None,
    name: str,
    minutes: int | str,
    basis: str = "",
) -> Assumption:
    """An admin's new minutes for one figure (and, optionally, why), audited with the old."""
    require_editor(actor, settings)
    figure = BY_NAME.get(name)
    if figure is None:
        raise BenefitsError(
            f"There is no assumption {name!r}; choose one of {', '.join(BY_NAME)}.",
            field="name",
            status=404,
        )
    try:
        minutes = int(str(minutes).strip())
    except ValueError:
        raise BenefitsError(
            f"Minutes must be a whole number, not {str(minutes)!r}.", field="minutes"
        ) from None
    if not 0 <= minutes <= MAX_MINUTES:
        raise BenefitsError(
            f"Minutes must be from 0 to {MAX_MINUTES} (a day), not {minutes}.", field="minutes"
        )
    basis = (basis or "").strip()
    if len(basis) > 2000:
        raise BenefitsError("The basis is over 2,000 characters.", field="basis")
    refusal = audit.identifier_refusal("The basis", basis)
    if refusal:
        raise BenefitsError(f"{refusal}.", field="basis")
    before = {a.name: a for a in assumptions(session)}[name]
    row = session.get(BenefitAssumption, name) or BenefitAssumption(name=name)
    row.minutes = minutes
    row.basis = basis or before.basis
    row.updated_at = utcnow()
    row.updated_by = actor.label if actor else audit.SYSTEM
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "benefits.assumption_set",
        "benefit_assumption",
        name,
        reason=f"{figure.label}: {before.minutes} -> {minutes} minutes per {figure.unit}.",
        details={"from": before.minutes, "to": minutes, "basis": row.basis},
    )
    return {a.name: a for a in assumptions(session)}[name]


# -- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureRow:
    name: str
    label: str
    count: str  # suppressed: "0", "*" or a multiple of 5
    minutes_each: int
    hours_saved: float | None  # None where the count is suppressed


@dataclass(frozen=True)
class MonthRow:
    month: str
    title: str
    figures: list[FigureRow]
    hours_saved: float  # from the published counts only


@dataclass(frozen=True)
class Report:
    months: list[MonthRow]
    assumptions: list[Assumption]
    suppression: str = SUPPRESSION

    def as_dict(self) -> dict[str, Any]:
        return {
            "months": [
                {
                    "month": m.month,
                    "title": m.title,
                    "hours_saved": m.hours_saved,
                    "figures": [dict(f.__dict__) for f in m.figures],
                }
                for m in self.months
            ],
            "assumptions": [a.as_dict() for a in self.assumptions],
            "suppression": self.suppression,
        }


def published(count: int) -> tuple[str, int | None]:
    """The count as shown (suppressed) and as a number for the sums, None if hidden."""
    shown = suppress(count)
    return shown, None if shown == "*" else int(shown.replace(",", ""))


def report(session: Session, months: int = DEFAULT_MONTHS, now: datetime | None = None) -> Report:
    """The last `months` months (newest first): each figure suppressed, with the hours saved."""
    made = assumptions(session)
    minutes = {a.name: a.minutes for a in made}
    wanted = recent_months(months, now)
    by_month = monthly_counts(session, wanted)
    rows = []
    for month in wanted:
        tally = by_month[month.key]
        figures = []
        for figure in FIGURES:
            shown, number = published(tally[figure.name])
            hours = None if number is None else round(number * minutes[figure.name] / 60, 1)
            figures.append(FigureRow(figure.name, figure.label, shown, minutes[figure.name], hours))
        total = round(sum(f.hours_saved or 0 for f in figures), 1)
        rows.append(MonthRow(month.key, month.title, figures, total))
    return Report(rows, made)


CSV_HEADER = ("month", "figure", "label", "count", "minutes_each", "hours_saved", "basis")


def csv_rows(made: Report) -> list[tuple]:
    """One row per month and figure, with the assumption's basis (free text an admin wrote:
    the safe CSV writer neutralises anything a spreadsheet would run)."""
    basis = {a.name: a.basis for a in made.assumptions}
    return [
        (m.month, f.name, f.label, f.count, f.minutes_each, f.hours_saved, basis[f.name])
        for m in made.months
        for f in m.figures
    ]
