"""The council tax single person discount review, through the gateway.

A district council's reviewer runs the review for their own district. Every source is read
through the one choke point (`sharing.delivery.share`: decide, audit, execute, receipt) under
the agreement whose purposes include `discount-review` (agreements/library/councils.py): the
council's own council tax accounts, electoral register and housing tenancies, and the ICB's GP
registrations, each limited by the agreement to addresses in the council's district.

For every account with the discount, the review looks for other adults at the property: on the
electoral register and the tenancy by UPRN, in the GP register by the first address line and
postcode sector (it holds no UPRN). The account holder's own records are recognised by name
and left out; a 17-year-old attainer is not an adult. Each source gives evidence of a strength
(docs/decisions/0021-discount-review-evidence.md); an account whose evidence reaches FLAG_AT
becomes a case, ranked by score. A case keeps an evidence summary (how many other adults, since
when, from which source), never the other partners' records, and the reviewer's outcome.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache

import jellyfish
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.agreements.library.councils import DISCOUNT_DISTRICTS, DISCOUNT_PURPOSE
from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.core.identity import Role
from civicshare.counciltax.errors import CouncilTaxError
from civicshare.counciltax.models import DiscountCase, DiscountReview, Outcome
from civicshare.sharing import delivery
from civicshare.sharing.service import ShareRequest

PURPOSE = DISCOUNT_PURPOSE
DISTRICTS = DISCOUNT_DISTRICTS  # district key -> its council's partner key
REVIEWER_ROLES = (Role.analyst, Role.ig_lead)
READ_SCOPE = "counciltax:read"
REVIEW_SCOPE = "counciltax:review"
# Evidence strengths (ADR 0021): one strong piece is enough for a case; weak pieces alone are not.
STRONG = 2.0
CORROBORATING = 1.5  # a tenancy's own count of adults
WEAK = 0.75  # registered after the discount began, but years ago (a ghost registration?)
STALE = 0.5  # registered before the discount began: most likely a previous occupant
FLAG_AT = 2.0
RECENT_YEARS = 3


class NotAllowed(CouncilTaxError):
    status = 403


class NotFound(CouncilTaxError):
    status = 404


# -- the sources ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    key: str
    label: str
    provider: str
    dataset: str
    columns: tuple[str, ...]


def sources_for(district: str) -> list[Source]:
    council = DISTRICTS[district]
    return [
        Source(
            "council_tax",
            "Council tax",
            council,
            f"council-tax-{district}",
            ("account_ref", "lead_forename", "lead_surname", "property_ref",
             "property_address", "postcode", "spd", "liability_start"),
        ),
        Source(
            "electoral_register",
            "Electoral register",
            council,
            f"electoral-register-{district}",
            ("elector_forenames", "elector_surname", "uprn", "date_of_attainment",
             "registered_on"),
        ),
        Source(
            "gp",
            "GP registrations",
            "hw-icb",
            "gp-registrations",
            ("given_name", "family_name", "date_of_birth", "address_line_1", "address_line_2",
             "address_line_3", "postcode", "registration_date"),
        ),
        Source(
            "housing",
            "Housing tenancies",
            council,
            f"housing-tenancies-{district}",
            ("uprn", "tenancy_start_date", "household_adults"),
        ),
    ]  # fmt: skip


# -- normalising what was read ---------------------------------------------------------------


def _date(value) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}", text):  # a month (generalised)
        return date(int(text[:4]), int(text[5:7]), 1)
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _month(value) -> tuple[int, int] | None:
    day = _date(value)
    return (day.year, day.month) if day else None


def normalised_name(value) -> str:
    return re.sub(r"[^A-Z ]", "", str(value or "").upper()).strip()


def first_forename(value) -> str:
    parts = normalised_name(value).split()
    return parts[0] if parts else ""


def _uprn(value) -> str:
    return re.sub(r"\D", "", str(value or "")).lstrip("0")


def _sector(postcode) -> str:
    text = re.sub(r"\s+", "", str(postcode or "").upper())
    return f"{text[:-3]} {text[-3]}" if len(text) >= 5 else text


def _line(value) -> str:
    return re.sub(r"[^A-Z0-9]+", " ", str(value or "").upper()).strip()


def _at_address(address: str, lines: str) -> bool:
    """Whether a one-line address (as stored: upper case, no commas) begins with the lines."""
    return bool(lines) and (address == lines or address.startswith(lines + " "))


@cache
def _nickname_groups() -> dict[str, frozenset[str]]:
    from civicshare.linkage.standardised import nickname_groups

    frame = nickname_groups()
    return {name: frozenset(groups) for name, groups in zip(frame.name, frame.groups, strict=True)}


def same_forename(a: str, b: str) -> bool:
    if not a or not b:
        return False
    if a == b or jellyfish.jaro_winkler_similarity(a, b) >= 0.9:
        return True
    groups = _nickname_groups()
    return bool(groups.get(a, frozenset()) & groups.get(b, frozenset()))


def is_account_holder(lead: Account, forenames, surname) -> bool:
    """Whether a record names the account holder: the same forename (or a nickname of it, or a
    slip of the pen) and a similar surname."""
    if not same_forename(lead.forename, first_forename(forenames)):
        return False
    theirs = normalised_name(surname)
    return theirs == lead.surname or jellyfish.jaro_winkler_similarity(theirs, lead.surname) >= 0.88


def _others(lead: Account, records: list) -> list:
    """The records at a property that are not the account holder's own. Where none names the
    holder, one with exactly their forename is taken as theirs under a changed surname."""
    others = [r for r in records if not is_account_holder(lead, r[0], r[1])]
    if len(others) == len(records):
        renamed = [r for r in others if first_forename(r[0]) == lead.forename]
        if renamed:
            others.remove(renamed[0])
    return others


# -- the records the review works on ----------------------------------------------------------


@dataclass(frozen=True)
class Account:
    account_ref: str
    forename: str
    surname: str
    property_ref: str
    address: str  # the whole address on one line, normalised
    sector: str  # postcode sector
    liability_start: date | None


@dataclass(frozen=True)
class Other:
    """Another adult's record at a property, as the evidence needs it: no name."""

    registered: date | None
    turned_18: tuple[int, int] | None  # the month, when known


@dataclass
class Sources:
    """What the review read, normalised; which sources were withheld and why."""

    accounts: list[Account] = field(default_factory=list)
    electors: dict[str, list[tuple[str, str, Other]]] = field(default_factory=dict)  # by UPRN
    # by postcode sector: (given name, family name, Other, address lines)
    patients: dict[str, list[tuple[str, str, Other, str]]] = field(default_factory=dict)
    tenancies: dict[str, int] = field(default_factory=dict)  # UPRN -> adults
    # addresses that more than one property in the district shares: a record without a UPRN
    # cannot say which of them it means
    shared_addresses: set[str] = field(default_factory=set)
    read: list[dict] = field(default_factory=list)
    withheld: list[dict] = field(default_factory=list)
    accounts_read: int = 0


def _rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


def _truthy(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().upper() in ("Y", "YES", "TRUE", "1")


def parse_sources(tables: dict[str, pa.Table]) -> Sources:
    """The review's records from the tables read (keyed as in `sources_for`)."""
    found = Sources()
    council_tax = _rows(tables["council_tax"])
    found.accounts_read = len(council_tax)
    properties: dict[str, set[str]] = defaultdict(set)
    for row in council_tax:
        properties[_line(row.get("property_address"))].add(_uprn(row.get("property_ref")))
    found.shared_addresses = {a for a, uprns in properties.items() if len(uprns) > 1}
    for row in council_tax:
        if not _truthy(row.get("spd")):
            continue
        found.accounts.append(
            Account(
                account_ref=str(row["account_ref"]),
                forename=first_forename(row.get("lead_forename")),
                surname=normalised_name(row.get("lead_surname")),
                property_ref=_uprn(row.get("property_ref")),
                address=_line(row.get("property_address")),
                sector=_sector(row.get("postcode")),
                liability_start=_date(row.get("liability_start")),
            )
        )
    electors: dict[str, list] = defaultdict(list)
    for row in _rows(tables.get("electoral_register", pa.table({}))):
        attains = _month(row.get("date_of_attainment"))
        other = Other(_date(row.get("registered_on")), attains)
        electors[_uprn(row.get("uprn"))].append(
            (row.get("elector_forenames"), row.get("elector_surname"), other)
        )
    patients: dict[str, list] = defaultdict(list)
    for row in _rows(tables.get("gp", pa.table({}))):
        born = _month(row.get("date_of_birth"))
        other = Other(_date(row.get("registration_date")), born and (born[0] + 18, born[1]))
        lines = _line(" ".join(row.get(f"address_line_{n}") or "" for n in (1, 2, 3)).strip())
        patients[_sector(row.get("postcode"))].append(
            (row.get("given_name"), row.get("family_name"), other, lines)
        )
    tenancies: dict[str, int] = {}
    for row in _rows(tables.get("housing", pa.table({}))):
        adults = row.get("household_adults")
        if adults is not None:
            tenancies[_uprn(row.get("uprn"))] = int(adults)
    found.electors, found.patients, found.tenancies = dict(electors), dict(patients), tenancies
    return found


# -- the evidence ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    source: str
    others: int  # other adults this source shows at the property
    strength: float
    reason: str
    year: int | None  # the most recent year of the evidence

    def sentence(self) -> str:
        if self.source == "Housing tenancies":
            return f"Housing: the tenancy records {self.others + 1} adults"
        noun = "elector" if self.source == "Electoral register" else "adult"
        plural = "s" if self.others != 1 else ""
        when = f" ({self.year})" if self.year else ""
        return f"{self.source}: {self.others} other {noun}{plural}, {self.reason}{when}"


@dataclass(frozen=True)
class Found:
    account: Account
    score: float
    evidence: tuple[Evidence, ...]

    @property
    def summary(self) -> str:
        return "; ".join(e.sentence() for e in self.evidence) + "."

    @property
    def latest_year(self) -> int | None:
        years = [e.year for e in self.evidence if e.year]
        return max(years) if years else None


def _adult(other: Other, today: date) -> bool:
    """Adult by the review date; unknown counts as adult, this month's birthday does not."""
    return other.turned_18 is None or other.turned_18 < (today.year, today.month)


def _strength(other: Other, start: date | None, today: date) -> tuple[float, str]:
    if other.registered is None or start is None:
        return WEAK, "registered, date not known"
    if other.registered >= start:
        if other.turned_18 and other.turned_18 > (start.year, start.month):
            return STRONG, "turned 18 since the discount began"
        recent = (today - other.registered).days <= RECENT_YEARS * 365
        if recent:
            return STRONG, "registered since the discount began"
        return WEAK, f"registered since the discount began, over {RECENT_YEARS} years ago"
    return STALE, "registered before the discount began (a previous occupant?)"


def _source_evidence(label: str, account: Account, records, today: date) -> Evidence | None:
    others = [other for _, _, other in _others(account, records) if _adult(other, today)]
    if not others:
        return None
    graded = [(*_strength(o, account.liability_start, today), o) for o in others]
    strength, reason, _ = max(graded, key=lambda g: g[0])
    years = [o.registered.year for o in others if o.registered]
    return Evidence(label, len(others), strength, reason, max(years) if years else None)


def assess(account: Account, sources: Sources, today: date) -> Found:
    """The evidence of other adults at one account's property, and its score."""
    evidence = []
    electors = sources.electors.get(account.property_ref, [])
    patients = [
        record[:3]
        for record in sources.patients.get(account.sector, [])
        if _at_address(account.address, record[3])
        and account.address not in sources.shared_addresses
    ]
    for label, records in (("Electoral register", electors), ("GP registrations", patients)):
        found = _source_evidence(label, account, records, today)
        if found:
            evidence.append(found)
    adults = sources.tenancies.get(account.property_ref)
    if adults is not None and adults >= 2:
        evidence.append(
            Evidence("Housing tenancies", adults - 1, CORROBORATING, "tenancy household", None)
        )
    # independent sources add up; within one source only its strongest piece counts
    return Found(account, sum(e.strength for e in evidence), tuple(evidence))


def find_cases(sources: Sources, today: date) -> list[Found]:
    """Accounts with the discount whose evidence reaches FLAG_AT, strongest first."""
    assessed = [assess(account, sources, today) for account in sources.accounts]
    cases = [found for found in assessed if found.score >= FLAG_AT]
    return sorted(cases, key=lambda f: (-f.score, -(f.latest_year or 0), f.account.account_ref))


# -- access -----------------------------------------------------------------------------------


def district_key(district: str) -> str:
    key = (district or "").strip().lower()
    if key not in DISTRICTS:
        raise NotFound(
            f"There is no district {district!r}: choose one of {', '.join(DISTRICTS)}.",
            field="district",
        )
    return key


def reviewable_districts(actor: Actor) -> list[str]:
    """The districts whose cases the actor may see: their own council's, with a reviewer role."""
    if not actor.has_role(*REVIEWER_ROLES):
        return []
    return [d for d, partner in DISTRICTS.items() if partner == actor.partner_key]


def _check(session: Session, actor: Actor, district: str, action: str) -> str:
    district = district_key(district)
    if district in reviewable_districts(actor):
        return district
    audit.record(
        session,
        actor,
        "counciltax_refused",
        "counciltax_district",
        district,
        reason=f"{action}: only a reviewer (analyst or IG lead) of {DISTRICTS[district]} may.",
        outcome="denied",
    )
    session.commit()  # the refusal is evidence; it must survive the error response
    raise NotAllowed(
        f"Only an analyst or IG lead of the district council ({DISTRICTS[district]}) may "
        f"{action.lower()} for {district}; you act for {actor.partner_name}.",
        field="district",
    )


# -- running the review -----------------------------------------------------------------------


def read_sources(
    session: Session,
    settings: Settings,
    actor: Actor,
    district: str,
    *,
    via: str = "cli",
    today: date | None = None,
    progress: Callable[[str], None] | None = None,
) -> Sources:
    """Every source read through the gateway under the review's purpose. The council tax
    accounts must be readable (else Denied, audited); another source refused is withheld."""
    district = district_key(district)
    tables: dict[str, pa.Table] = {}
    read, withheld = [], []
    for source in sources_for(district):
        if progress:
            progress(source.label)
        request = ShareRequest(
            actor=actor,
            purpose=PURPOSE,
            provider=source.provider,
            dataset=source.dataset,
            columns=source.columns,
            note="single person discount review",
            scope=REVIEW_SCOPE,
        )
        try:
            shared = delivery.share(session, settings, request, via=via, today=today)
        except delivery.Denied as error:
            if source.key == "council_tax":
                raise
            withheld.append(
                {"source": source.label, "dataset": source.dataset, "reason": error.message}
            )
            continue
        tables[source.key] = shared.table
        read.append(
            {
                "source": source.label,
                "dataset": f"{source.provider}/{source.dataset}",
                "version": shared.snapshot_version,
                "receipt": shared.receipt_id,
                "rows": shared.table.num_rows,
            }
        )
    found = parse_sources(tables)
    found.read, found.withheld = read, withheld
    return found


@dataclass(frozen=True)
class ReviewRun:
    review: DiscountReview
    cases: list[DiscountCase]
    withheld: list[dict]


def review(
    session: Session,
    settings: Settings,
    actor: Actor,
    district: str,
    *,
    via: str = "cli",
    today: date | None = None,
    progress: Callable[[str], None] | None = None,
) -> ReviewRun:
    """Run the review for the actor's own district and store its cases (audited)."""
    district = _check(session, actor, district, "Run the single person discount review")
    if not actor.has_scope(REVIEW_SCOPE):
        raise NotAllowed(f"This API token does not have the scope {REVIEW_SCOPE}.", field="token")
    today = today or date.today()
    sources = read_sources(
        session, settings, actor, district, via=via, today=today, progress=progress
    )
    found = find_cases(sources, today)
    run = DiscountReview(
        district=district,
        partner_key=actor.partner_key,
        membership_id=actor.membership_id,
        run_by=actor.label,
        review_date=today,
        accounts_read=sources.accounts_read,
        discounts=len(sources.accounts),
        cases_found=len(found),
        sources=[*sources.read, *({**w, "withheld": True} for w in sources.withheld)],
    )
    session.add(run)
    session.flush()
    existing = {
        case.account_ref: case
        for case in session.scalars(select(DiscountCase).where(DiscountCase.district == district))
    }
    stored = []
    for item in found:
        case = existing.get(item.account.account_ref) or DiscountCase(
            district=district, account_ref=item.account.account_ref, outcome_note=""
        )
        case.property_ref = item.account.property_ref
        case.review_id = run.id
        case.score = item.score
        case.summary = item.summary
        case.evidence = [vars(e) for e in item.evidence]
        case.latest_year = item.latest_year
        session.add(case)
        stored.append(case)
    session.flush()
    audit.record(
        session,
        actor,
        "counciltax_review",
        "counciltax_review",
        run.id,
        reason=f"Single person discount review for {district}: {len(found)} case(s) among "
        f"{len(sources.accounts)} discount(s).",
        purpose=PURPOSE,
        details={
            "district": district,
            "accounts_read": sources.accounts_read,
            "discounts": len(sources.accounts),
            "cases": len(found),
            "receipts": [r["receipt"] for r in sources.read],
            "withheld": [w["dataset"] for w in sources.withheld],
        },
        outcome="allowed",
    )
    return ReviewRun(run, stored, sources.withheld)


# -- the cases and their outcomes -------------------------------------------------------------


@dataclass(frozen=True)
class CaseList:
    district: str
    review: DiscountReview | None
    cases: list[DiscountCase]


def latest_review(session: Session, district: str) -> DiscountReview | None:
    return session.scalars(
        select(DiscountReview)
        .where(DiscountReview.district == district)
        .order_by(DiscountReview.id.desc())
        .limit(1)
    ).first()


def cases(session: Session, actor: Actor, district: str) -> CaseList:
    """The district's cases, strongest first: those the latest run found, and any older case
    with an outcome recorded."""
    district = _check(session, actor, district, "See the single person discount cases")
    latest = latest_review(session, district)
    if latest is None:
        return CaseList(district, None, [])
    rows = session.scalars(
        select(DiscountCase).where(
            DiscountCase.district == district,
            (DiscountCase.review_id == latest.id) | DiscountCase.outcome.is_not(None),
        )
    ).all()
    ordered = sorted(rows, key=lambda c: (-c.score, -(c.latest_year or 0), c.account_ref))
    return CaseList(district, latest, ordered)


def get_case(session: Session, actor: Actor, case_id: int) -> DiscountCase:
    case = session.get(DiscountCase, case_id)
    if case is None or case.district not in reviewable_districts(actor):
        # another district's case is not found, rather than refused: its existence is theirs
        raise NotFound(f"There is no case {case_id} for you to review.", field="case")
    return case


def record_outcome(
    session: Session, actor: Actor, case_id: int, outcome: str, note: str = ""
) -> DiscountCase:
    """The reviewer's decision on a case, audited. Recording again replaces it (audited too)."""
    if not actor.has_scope(REVIEW_SCOPE):
        raise NotAllowed(f"This API token does not have the scope {REVIEW_SCOPE}.", field="token")
    case = get_case(session, actor, case_id)
    try:
        decided = Outcome((outcome or "").strip())
    except ValueError:
        raise CouncilTaxError(
            f"{outcome!r} is not an outcome: choose one of {', '.join(o.value for o in Outcome)}.",
            field="outcome",
            status=422,
        ) from None
    note = (note or "").strip()
    if len(note) > 2000:
        raise CouncilTaxError("The note is over 2,000 characters.", field="note", status=422)
    refusal = audit.identifiers_in(note)
    if refusal:
        raise CouncilTaxError(
            f"The note holds {', '.join(refusal)}: keep identifiers in the council tax system.",
            field="note",
            status=422,
        )
    previous = case.outcome
    case.outcome = decided.value
    case.outcome_note = note
    case.outcome_by = actor.label
    case.outcome_at = datetime.now(UTC)
    session.flush()
    audit.record(
        session,
        actor,
        "counciltax_outcome",
        "counciltax_case",
        case.id,
        reason=f"Outcome {decided.label} for account {case.account_ref} ({case.district}).",
        purpose=PURPOSE,
        details={"district": case.district, "outcome": decided.value, "previous": previous},
        outcome="allowed",
    )
    return case


CSV_HEADER = (
    "rank", "account_ref", "property_ref", "score", "evidence", "outcome", "outcome_note",
    "outcome_by",
)  # fmt: skip


def csv_rows(listed: CaseList) -> Iterable[tuple]:
    for rank, case in enumerate(listed.cases, start=1):
        yield (
            rank,
            case.account_ref,
            case.property_ref,
            f"{case.score:.1f}",
            case.summary,
            Outcome(case.outcome).label if case.outcome else "",
            case.outcome_note,
            case.outcome_by or "",
        )
