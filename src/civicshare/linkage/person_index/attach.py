"""Household attachment: records without a date of birth joined to a resident already in the
index, at their property, by name; never by the linkage model.

Council tax accounts and electoral registers name a person and a property but hold no date of
birth. Linked by the model on name and address they joined relatives at one address (precision
0.81, docs/person-index.md), so they are attached instead, by a rule a reviewer can check:

* the record's property (its UPRN, or its postcode and the first words of its address) holds
  records of indexed residents (person keys);
* the record's surname agrees with a resident's, and its first given name agrees: the same,
  a nickname of it (linkage/data/nicknames.csv), or one letter apart; a bare initial counts only
  when no other resident there has that initial;
* exactly one resident (person key) agrees. Two (a father and son of one name) is *ambiguous*:
  the record is not attached and each candidate pair goes to clerical review.

An attached record joins the index under the resident's key, with one link of origin
`attachment` to each of the resident's agreeing records there (the anchors), carrying its
evidence. A reviewer's decision on an attachment pair overrides the rule. Attachments are kept
while the record and its anchors are unchanged, like the model's links.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.linkage.models import (
    IndexedLink,
    IndexedRecord,
    IndexedSource,
    Label,
    LinkageDecision,
    LinkOrigin,
    ReviewItem,
)
from civicshare.linkage.person_index.keys import pair_key
from civicshare.linkage.person_index.sources import (
    CANONICAL_OF,
    PURPOSE,
    SourcePlan,
    canonical,
    current_plans,
    evidence,
    read_source,
)

ATTACHMENT = "household attachment"
# What a record needs to be attached: a name and a property, and no date of birth or NHS
# number (a record with those is linked by the model instead).
ATTACH_COLUMNS = ("given_name", "surname", "address", "postcode", "uprn")
TITLES = {"MR", "MRS", "MS", "MISS", "MX", "DR", "REV", "SIR", "LADY", "PROF", "MASTER"}
# How a first given name agrees, strongest first; a resident is a candidate at its best level.
LEVELS = ("exact", "nickname", "one letter apart", "names swapped", "initial")
# Council tax payers and electors are adults (attainers from 16): a resident whose date of
# birth makes them younger is not a candidate.
MIN_AGE = 16


def is_attachment(link: IndexedLink) -> bool:
    """A household attachment, by the rule or by a reviewer's decision on one."""
    return _is_attachment(link.origin, link.evidence)


def _is_attachment(origin, facts) -> bool:
    return origin == LinkOrigin.attachment or bool(facts and facts.get("method") == ATTACHMENT)


# -- which datasets are attached --------------------------------------------------------------


def attachment_plan(snapshot) -> SourcePlan | None:
    """The columns attachment reads, or None: the dataset needs a surname and a property (UPRN,
    or an address with a postcode) and has no date of birth or NHS number. A full name column
    (a joint liable person) is not read: it names someone else."""
    columns: dict[str, list[str]] = {}
    kinds = set()
    for column in snapshot.contract.columns:
        kind = column.identifier.value
        kinds.add(kind)
        canonical_name = CANONICAL_OF.get(kind)
        if canonical_name in ATTACH_COLUMNS:
            columns.setdefault(canonical_name, []).append(column.name)
    if kinds & {"date_of_birth", "nhs_number"} or "surname" not in columns:
        return None
    if "uprn" not in columns and not {"address", "postcode"} <= set(columns):
        return None
    record_id = snapshot.contract.record_id or ""
    if not record_id or not snapshot.storage.get(record_id, {}).get("plain"):
        return None  # an attached record is named by its own reference, never a row number
    return SourcePlan(
        source=f"{snapshot.partner_key}/{snapshot.dataset_name}",
        snapshot=snapshot,
        columns={k: tuple(v) for k, v in columns.items()},
        record_id=record_id,
    )


def attachment_sources(session: Session, settings: Settings) -> list[SourcePlan]:
    """Every current dataset, from an active partner, whose records are attached."""
    return current_plans(session, settings, attachment_plan)


# -- the rule (no I/O) ------------------------------------------------------------------------


def _words(text) -> list[str]:
    if text is None or text != text:
        return []
    return re.sub(r"[^A-Z0-9 ]", " ", str(text).upper().replace("'", "")).split()


def given_names(text) -> tuple[str | None, str | None]:
    """The first and second given names, titles left out ("MR K" is K)."""
    words = [w for w in _words(text) if w not in TITLES and not w.isdigit()]
    return (words[0] if words else None, words[1] if len(words) > 1 else None)


def surname_of(text) -> str | None:
    return "".join(_words(text)) or None


UK_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9])[A-Z]{2}$")


def property_keys(uprn, address, postcode) -> list[tuple[str, str]]:
    """(kind, key) for each way the record names its property: its UPRN, and the first three
    words of its address ("3 LARK ROAD", "THE WILLOWS CHESTNUT") in its postcode sector ("B61 1":
    a one-letter slip in the postcode's last two letters still finds the house)."""
    keys = []
    digits = re.sub(r"[^0-9]", "", str(uprn)) if uprn is not None and uprn == uprn else ""
    if digits:
        keys.append(("uprn", "U:" + digits.lstrip("0")))
    code = "".join(_words(postcode))
    shaped = UK_POSTCODE.match(code)
    sector = f"{shaped.group(1)} {shaped.group(2)}" if shaped else code
    words = [w for w in _words(address) if w not in _words(postcode)]
    if sector and len(words) >= 2:
        keys.append(("address", f"A:{sector}|{' '.join(words[:3])}"))
    return keys


def one_letter_apart(a: str, b: str) -> bool:
    """One insertion, deletion, substitution or swap of neighbours between a and b."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


def name_level(given, surname, other_given, other_surname, nicknames) -> str | None:
    """How a name agrees with the other (given names as from `given_names`, surnames as from
    `surname_of`): a LEVELS entry, or None. Second given names that both exist must agree (a
    mother and daughter both Millie differ there)."""
    (first, second), (other_first, other_second) = given, other_given
    if not surname or not other_surname or not first or not other_first:
        return None
    if (
        second
        and other_second
        and second != other_second
        and (len(second) > 1 and len(other_second) > 1 or second[0] != other_second[0])
    ):
        return None
    if first == other_surname and surname == other_first and first != surname:
        return LEVELS[3]  # the fields swapped at entry
    if surname == other_surname:
        surname_typo = False
    elif min(len(surname), len(other_surname)) >= 4 and one_letter_apart(surname, other_surname):
        surname_typo = True
    else:
        return None
    if first == other_first:
        return LEVELS[2] if surname_typo else LEVELS[0]
    if surname_typo:
        return None  # two things differ: not enough
    if nicknames.get(first, set()) & nicknames.get(other_first, set()):
        return LEVELS[1]
    if (
        min(len(first), len(other_first)) >= 3
        and one_letter_apart(first, other_first)
        and not (first in nicknames and other_first in nicknames)
    ):
        # a slip of the pen, not two names: JOHN and JOAN (both known names, in no common
        # group) are two people, as a widow's GP record kept after her death and her
        # husband's council tax account are
        return LEVELS[2]
    if (len(first) == 1 or len(other_first) == 1) and first[0] == other_first[0]:
        return LEVELS[4]
    return None


def _same_first_and_surname(given, surname, other_given, other_surname) -> bool:
    return bool(given[0]) and given[0] == other_given[0] and surname == other_surname


def _younger_than(born, years: int, today: date) -> bool:
    """True only for a date of birth that says so (a missing or odd one is no evidence)."""
    try:
        birth = date.fromisoformat(str(born)[:10])
    except ValueError:
        return False
    return (today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))) < years


@dataclass(frozen=True)
class Candidate:
    """A resident (person key) at the record's property whose name agrees."""

    person_key: str
    level: str
    anchors: tuple[tuple[str, str], ...]  # the resident's agreeing records there
    property: str  # "uprn" or "address": how the property was recognised


@dataclass
class Choice:
    """What the rule made of each record."""

    attached: dict[tuple[str, str], tuple[Candidate, int]] = field(default_factory=dict)
    ambiguous: dict[tuple[str, str], list[Candidate]] = field(default_factory=dict)
    no_household: int = 0  # nobody indexed at the property
    no_name: int = 0  # residents there, none of whom agrees by name


def _nicknames() -> dict[str, set[str]]:
    from civicshare.linkage.standardised import nickname_groups

    groups = nickname_groups()
    return {name: set(g) for name, g in zip(groups["name"], groups["groups"], strict=True)}


def choose(
    records: pd.DataFrame,
    indexed: pd.DataFrame,
    *,
    accepted: dict[tuple[str, str], tuple[str, str]] | None = None,
    rejected: set[tuple[tuple[str, str], tuple[str, str]]] | None = None,
    min_age: int = MIN_AGE,
    today: date | None = None,
) -> Choice:
    """Apply the rule to `records` (canonical: source, record_id, given_name, surname, address,
    postcode, uprn) against `indexed` (the same columns and person_key). `accepted`: record ->
    the anchor a reviewer said is the same person; `rejected`: (record, anchor) pairs a
    reviewer said are not."""
    accepted, rejected = accepted or {}, rejected or set()
    today = today or date.today()
    nicknames = _nicknames()
    residents: dict[str, list[tuple]] = defaultdict(list)
    key_of: dict[tuple[str, str], str] = {}
    children = {  # a child is not a liable person or an elector: none of its records is a candidate
        row.person_key
        for row in indexed.itertuples(index=False)
        if _younger_than(getattr(row, "date_of_birth", None), min_age, today)
    }
    for row in indexed.itertuples(index=False):
        anchor = (row.source, row.record_id)
        key_of[anchor] = row.person_key
        if row.person_key in children:
            continue
        entry = (row.person_key, anchor, given_names(row.given_name), surname_of(row.surname))
        for kind, key in property_keys(row.uprn, row.address, row.postcode):
            residents[key].append((*entry, kind))
    choice = Choice()
    for row in records.itertuples(index=False):
        record = (row.source, row.record_id)
        if record in accepted and accepted[record] in key_of:
            anchor = accepted[record]
            choice.attached[record] = (Candidate(key_of[anchor], "reviewer", (anchor,), ""), 0)
            continue
        given, surname = given_names(row.given_name), surname_of(row.surname)
        here: dict[tuple, tuple] = {}
        for kind, key in property_keys(row.uprn, row.address, row.postcode):
            for person_key, anchor, other_given, other_surname, _kind in residents.get(key, ()):
                if anchor not in here or kind == "uprn":
                    here[anchor] = (person_key, other_given, other_surname, kind)
        if not here:
            choice.no_household += 1
            continue
        found: dict[str, list] = defaultdict(list)  # person key -> [(level rank, anchor, kind)]
        differs = set()  # residents one of whose records is another person of that name
        for anchor, (person_key, other_given, other_surname, kind) in here.items():
            level = name_level(given, surname, other_given, other_surname, nicknames)
            if level is not None and (record, anchor) not in rejected:
                found[person_key].append((LEVELS.index(level), anchor, kind))
            elif level is None and _same_first_and_surname(
                given, surname, other_given, other_surname
            ):
                differs.add(person_key)
        for person_key in differs:
            found.pop(person_key, None)
        candidates = []
        for person_key, hits in found.items():
            best = min(rank for rank, _, _ in hits)
            candidates.append(
                Candidate(
                    person_key,
                    LEVELS[best],
                    tuple(sorted(anchor for _, anchor, _ in hits)),
                    "uprn" if any(k == "uprn" for _, _, k in hits) else "address",
                )
            )
        # The residents at the best level of agreement: an exact name beats a resident one
        # letter apart (Andrew and Andrea); a bare initial must be the only candidate at all.
        best = min((LEVELS.index(c.level) for c in candidates), default=None)
        pick = [c for c in candidates if LEVELS.index(c.level) == best]
        if best == LEVELS.index(LEVELS[4]) and len(candidates) > 1:
            pick = candidates
        residents_here = len({v[0] for v in here.values()})
        if len(pick) == 1:
            choice.attached[record] = (pick[0], residents_here)
        elif pick:
            choice.ambiguous[record] = sorted(pick, key=lambda c: c.person_key)
        else:
            choice.no_name += 1
    return choice


# -- in a run of the index --------------------------------------------------------------------


@dataclass
class Attached:
    """What attachment did in one run."""

    records: int = 0  # records of the attached datasets read
    attached: int = 0  # attached in the index now (kept and new)
    new: int = 0
    ambiguous: int = 0
    review_items: int = 0
    no_household: int = 0
    no_name: int = 0
    by_level: dict[str, int] = field(default_factory=dict)
    # Read this run and neither attached nor put to review (canonical records), with each
    # source's snapshot version: where life events look for a record at another address.
    unplaced: pd.DataFrame | None = field(default=None, repr=False)
    versions: dict[str, int] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("unplaced", "versions")}


def _decisions(session: Session, sources: set[str]):
    accepted: dict[tuple[str, str], tuple[str, str]] = {}
    rejected: set = set()
    for decision in session.scalars(select(LinkageDecision)):
        left = (decision.source_l, decision.record_id_l)
        right = (decision.source_r, decision.record_id_r)
        for record, anchor in ((left, right), (right, left)):
            if record[0] in sources and anchor[0] not in sources:
                if decision.label == Label.match:
                    accepted[record] = anchor
                else:
                    rejected.add((record, anchor))
    return accepted, rejected


def attach(
    session: Session,
    settings: Settings,
    run_id: int,
    plans: list[SourcePlan],
    indexed: pd.DataFrame,
    *,
    actor: Actor | None = None,
    say=None,
) -> Attached:
    """Attach the records of `plans` to `indexed` (canonical records with person_key) in the
    store: kept where unchanged, attached afresh, or put to review when ambiguous."""
    from civicshare.linkage.person_index.run import forget_records

    say = say or (lambda message: None)
    outcome = Attached()
    sources = {p.source for p in plans}
    key_of = dict(
        zip(
            zip(indexed["source"], indexed["record_id"], strict=True),
            indexed["person_key"],
            strict=True,
        )
    )
    frames, version_of = [], {}
    for plan in plans:
        say(f"Reading {plan.snapshot.ref} to attach")
        table = read_source(
            session,
            settings,
            plan,
            actor=actor,
            action="person_index_read",
            purpose=PURPOSE,
            details={"run": run_id, "method": ATTACHMENT},
        )
        records = canonical(plan, table)
        records["evidence"] = evidence(settings, records)
        frames.append(records)
        version_of[plan.source] = plan.snapshot.version
    records = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["source", "record_id", *ATTACH_COLUMNS, "evidence"])
    )
    outcome.records = len(records)
    kept = _keep_unchanged(session, records, sources, key_of, version_of, forget_records)
    fresh = records[
        [(s, r) not in kept for s, r in zip(records["source"], records["record_id"], strict=True)]
    ]
    accepted, rejected = _decisions(session, sources)
    choice = choose(fresh, indexed, accepted=accepted, rejected=rejected)
    evidence_of = dict(
        zip(
            zip(records["source"], records["record_id"], strict=True),
            records["evidence"],
            strict=True,
        )
    )
    for record, (candidate, residents) in choice.attached.items():
        _store_attachment(
            session,
            run_id,
            record,
            version_of[record[0]],
            evidence_of[record],
            candidate,
            residents,
        )
        outcome.by_level[candidate.level] = outcome.by_level.get(candidate.level, 0) + 1
    outcome.review_items = _queue_ambiguous(session, run_id, choice.ambiguous, version_of)
    placed = set(choice.attached) | set(choice.ambiguous)
    outcome.unplaced = fresh[
        [(s, r) not in placed for s, r in zip(fresh["source"], fresh["record_id"], strict=True)]
    ]
    outcome.versions = dict(version_of)
    outcome.new, outcome.attached = len(choice.attached), len(kept) + len(choice.attached)
    outcome.ambiguous = len(choice.ambiguous)
    outcome.no_household, outcome.no_name = choice.no_household, choice.no_name
    _record_sources(session, run_id, plans, records)
    session.flush()
    audit.record(
        session,
        actor,
        "person_index_attached",
        "linkage_run",
        run_id,
        reason=f"Records without a date of birth attached to indexed residents ({ATTACHMENT}).",
        purpose=PURPOSE,
        row_count=outcome.new,
        details=outcome.as_dict(),
    )
    return outcome


def _keep_unchanged(session, records, sources, key_of, version_of, forget) -> set:
    """Attached records whose evidence is unchanged and that still have an attachment link keep
    it (their key follows the anchor's); the others leave the index to be attached afresh."""
    stored = {
        (r.source, r.record_id): r
        for r in session.scalars(select(IndexedRecord).where(IndexedRecord.source.in_(sources)))
    }
    anchors: dict[tuple[str, str], list] = defaultdict(list)
    for source_l, record_id_l, source_r, record_id_r, origin, facts in session.execute(
        select(
            IndexedLink.source_l,
            IndexedLink.record_id_l,
            IndexedLink.source_r,
            IndexedLink.record_id_r,
            IndexedLink.origin,
            IndexedLink.evidence,
        ).where(IndexedLink.source_l.in_(sources) | IndexedLink.source_r.in_(sources))
    ):
        if not _is_attachment(origin, facts):
            continue
        left, right = (source_l, record_id_l), (source_r, record_id_r)
        record, anchor = (left, right) if left[0] in sources else (right, left)
        anchors[record].append(anchor)
    current = dict(
        zip(
            zip(records["source"], records["record_id"], strict=True),
            records["evidence"],
            strict=True,
        )
    )
    kept, gone = set(), defaultdict(list)
    for record, row in stored.items():
        live = [a for a in anchors.get(record, ()) if a in key_of]
        if current.get(record) == row.evidence and live:
            kept.add(record)
            row.person_key = key_of[live[0]]
            row.snapshot_version = version_of[record[0]]
        else:
            gone[record[0]].append(record[1])
    for source, ids in gone.items():
        forget(session, source, ids)
    return kept


def _store_attachment(session, run_id, record, version, record_evidence, candidate, residents):
    session.add(
        IndexedRecord(
            source=record[0],
            snapshot_version=version,
            record_id=record[1],
            person_key=candidate.person_key,
            evidence=record_evidence,
            run_id=run_id,
        )
    )
    facts = {
        "method": ATTACHMENT,
        "property": candidate.property,
        "name": candidate.level,
        "residents": residents,
    }
    for anchor in candidate.anchors:
        key = pair_key(*record, *anchor)
        link = session.scalars(
            select(IndexedLink).where(
                IndexedLink.source_l == key[0],
                IndexedLink.record_id_l == key[1],
                IndexedLink.source_r == key[2],
                IndexedLink.record_id_r == key[3],
            )
        ).one_or_none()
        if link is not None:  # a reviewer's acceptance: kept as theirs
            link.evidence = {**facts, "decided_by": "reviewer"}
            continue
        session.add(
            IndexedLink(
                source_l=key[0],
                record_id_l=key[1],
                source_r=key[2],
                record_id_r=key[3],
                match_probability=1.0,
                origin=LinkOrigin.attachment,
                run_id=run_id,
                evidence=facts,
            )
        )


def _queue_ambiguous(session, run_id, ambiguous, version_of) -> int:
    """Each candidate pair of an ambiguous record to clerical review, once."""
    if not ambiguous:
        return 0
    versions = {
        (r.source, r.record_id): r.snapshot_version
        for r in session.scalars(
            select(IndexedRecord).where(
                IndexedRecord.source.in_(
                    {a[0] for c in ambiguous.values() for x in c for a in x.anchors}
                )
            )
        )
    }
    asked = pairs_asked_or_decided(session)
    made = 0
    for record, candidates in ambiguous.items():
        for candidate in candidates:
            anchor = candidate.anchors[0]
            key = pair_key(*record, *anchor)
            if key in asked or anchor not in versions:
                continue
            asked.add(key)
            ends = {record: version_of[record[0]], anchor: versions[anchor]}
            session.add(
                name_question(run_id, key, ends, ATTACHMENT, candidate.level, len(candidates))
            )
            made += 1
    return made


def pairs_asked_or_decided(session: Session) -> set[tuple[str, str, str, str]]:
    """Every pair already put to a reviewer or decided: never asked twice."""
    asked = {
        pair_key(i.source_l, i.record_id_l, i.source_r, i.record_id_r)
        for i in session.scalars(select(ReviewItem))
    }
    return asked | {
        pair_key(d.source_l, d.record_id_l, d.source_r, d.record_id_r)
        for d in session.scalars(select(LinkageDecision))
    }


def name_question(run_id, key, versions, asked_by: str, level: str, candidates: int) -> ReviewItem:
    """A review item asking whether two records are one person on a name alone (no model
    comparison): `key` is the pair's (source, id, source, id), `versions` each end's snapshot
    version, `asked_by` the rule that asks."""
    return ReviewItem(
        run_id=run_id,
        source_l=key[0],
        snapshot_version_l=versions[(key[0], key[1])],
        record_id_l=key[1],
        source_r=key[2],
        snapshot_version_r=versions[(key[2], key[3])],
        record_id_r=key[3],
        match_weight=0.0,
        match_probability=0.5,
        waterfall={
            "flipped": False,
            "comparisons": {},
            "asked_by": asked_by,
            "name": level,
            "candidates": candidates,
        },
    )


def _record_sources(session, run_id, plans, records) -> None:
    per_source: dict[str, int] = defaultdict(int)
    for source in session.scalars(
        select(IndexedRecord.source).where(IndexedRecord.source.in_({p.source for p in plans}))
    ):
        per_source[source] += 1
    for plan in plans:
        row = session.get(IndexedSource, plan.source)
        if row is None:
            session.add(
                IndexedSource(
                    source=plan.source,
                    snapshot_version=plan.snapshot.version,
                    record_count=per_source.get(plan.source, 0),
                    run_id=run_id,
                )
            )
        else:
            row.snapshot_version = plan.snapshot.version
            row.record_count = per_source.get(plan.source, 0)
            row.run_id = run_id
