"""Finding the records that may be the person's, apart from the rules that say which are
(matching.compare). See docs/decisions/0032-subject-access-finding.md.

Where it looks: every dataset the person index reads, those linked by the model (a name with a
date of birth or an NHS number) and those attached to households (council tax accounts,
electoral registers: a name at a property). Each record's identifiers are read through the
index's internal grant (audited) and compared with the details given.

What it gives: each record found, *confident* (exported) or *uncertain* (listed for the IG lead
to confirm or exclude), with how. Nothing that agrees on less than a candidate's rule is kept;
nothing weaker than confident is ever exported without the IG lead. On top of the rules:

- the person index's strong links from a confident record with a date of birth or an NHS
  number add the records it surely links (attachments included); the rest of the index's
  cluster is listed as uncertain. A record whose date of birth or NHS number contradicts the
  details, or whose given name does with nothing more personal agreeing (a spouse's council
  tax account the index attached to the household), is never made confident by a link, only
  listed;
- a record without a date of birth is confident by the name at the address only when it is
  the only such record in its dataset (a father and son of one name at one house are listed,
  not exported) and the person is old enough to hold it (16: electors and council tax payers).
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.config import Settings
from civicshare.rights.access import matching
from civicshare.rights.access.models import Match

SEARCH_PURPOSE = "Subject access: find the records of the person who asked."
# Council tax payers and electors are adults (attainers from 16), as the person index assumes.
UNDATED_MIN_AGE = 16


@dataclass
class Found:
    """What finding gives: (source, record id) -> (match, how)."""

    records: dict[tuple[str, str], tuple[Match, str]] = field(default_factory=dict)
    # Records whose date of birth or NHS number differs from the details, or whose given name
    # differs with nothing else personal agreeing (a spouse at the house): never confident.
    contradicted: set[tuple[str, str]] = field(default_factory=set)

    def add(self, key: tuple[str, str], match: Match, how: str) -> None:
        if match == Match.confident and key in self.contradicted:
            match = Match.uncertain
            how = f"{how}; but it differs from the details given"
        known = self.records.get(key)
        if known is None or (known[0] == Match.uncertain and match == Match.confident):
            self.records[key] = (match, how)

    def confident(self) -> list[tuple[str, str]]:
        return [key for key, (match, _) in self.records.items() if match == Match.confident]


def _age(born: date | None, today: date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def search_plans(session: Session, settings: Settings) -> list:
    """Every dataset to search: the person index's linked and attached sources."""
    from civicshare.linkage.person_index import attach, sources

    plans = {p.source: p for p in sources.person_sources(session, settings)}
    for plan in attach.attachment_sources(session, settings):
        plans.setdefault(plan.source, plan)
    return [plans[s] for s in sorted(plans)]


def _text(value) -> str:
    """A canonical value as text: "" for None and for pandas' NaN."""
    return "" if value is None or value != value else str(value)


def _first_given(text) -> str:
    words = [w for w in re.findall(r"[A-Z]+", _text(text).upper()) if w not in matching.TITLES]
    return words[0] if words else ""


def find_records(
    session: Session,
    settings: Settings,
    actor: Actor,
    person: matching.Details,
    reference: str,
    today: date | None = None,
) -> Found:
    """Every record about the person: compared with the details given, then widened along the
    person index's strong links from each confident record."""
    from civicshare.linkage.person_index import attach, confidence, sources

    found = Found()
    # Records with no date of birth whose name agrees: decided once every place is known.
    undated: list[tuple[tuple[str, str], dict]] = []
    # Where the person lived: as given, then as held on records surely theirs.
    places = [(address, postcode, "given") for address, postcode in person.addresses]
    # Property -> first given names held there under a surname of the person's.
    names_at: dict[tuple[str, str], set[str]] = defaultdict(set)
    for plan in search_plans(session, settings):
        table = sources.read_source(
            session,
            settings,
            plan,
            actor=actor,
            action="rights.access_searched",
            purpose=SEARCH_PURPOSE,
            details={"request": reference},
        )
        for row in sources.canonical(plan, table).to_dict("records"):
            compared = matching.compare(person, row)
            key = (plan.source, str(row["record_id"]))
            if compared.contradicts:
                found.contradicted.add(key)
            if "surname" in compared.agreed:
                for place in attach.property_keys(row.get("uprn"), row["address"], row["postcode"]):
                    names_at[place].add(_first_given(row["given_name"]))
            if compared.undated and {"surname", "given_name"} <= compared.agreed:
                undated.append((key, row))
            if compared.confident and not compared.undated:
                found.add(key, Match.confident, compared.describe())
                if _text(row["address"]) or _text(row["postcode"]):
                    places.append((_text(row["address"]), _text(row["postcode"]), key[1]))
            elif compared.candidate:
                found.add(key, Match.uncertain, compared.describe())
    _decide_undated(found, person, undated, places, names_at, today or date.today())
    seeds = [key for key in found.confident() if key not in {k for k, _ in undated}]
    strict = settings.events_match_probability
    for source, record_id in seeds:
        linked = confidence.record_match(session, source, record_id, strict)
        for other in linked.same_person:
            found.add(other, Match.confident, f"linked by the person index to {record_id}")
        for other in confidence.person_records(session, linked.person_key):
            if other != (source, record_id):
                found.add(
                    other, Match.uncertain, f"same person key as {record_id}, not linked directly"
                )
    return found


def _decide_undated(found: Found, person, undated, places, names_at, today: date) -> None:
    """A record without a date of birth (a council tax account, an elector) is the person's
    when the name agrees at a place they lived (given, or held on a record surely theirs), it
    is the only such record of its dataset, and the person is old enough to hold it. A bare
    initial ("MS M") counts only when nobody else of the surname there has that initial."""
    from civicshare.linkage.person_index import attach

    first = _first_given(person.given_name)
    sure: dict[str, list[tuple[tuple[str, str], str]]] = defaultdict(list)
    for key, row in undated:
        for address, postcode, origin in places:
            at = dataclasses.replace(
                person, address=address, postcode=postcode, previous_address="",
                previous_postcode="",
            )  # fmt: skip
            compared = matching.compare(at, row)
            alone = (
                compared.initial
                and not any(
                    len(name) > 1  # another initial is no one else
                    and name[:1] == first[:1]
                    and not matching.given_agree(first, name)
                    for place in attach.property_keys(
                        row.get("uprn"), row["address"], row["postcode"]
                    )
                    for name in names_at.get(place, ())
                )
            )
            if compared.confident or (alone and {"address", "postcode"} <= compared.agreed):
                where = "" if origin == "given" else f"; at the address held on {origin}"
                sure[key[0]].append((key, compared.describe() + where))
                break
    age = _age(person.date_of_birth, today)
    too_young = age is not None and age < UNDATED_MIN_AGE
    for items in sure.values():
        for key, how in items:
            if not too_young and len(items) == 1:
                found.add(key, Match.confident, how)
            elif found.records.get(key, (None,))[0] != Match.confident:
                why = (
                    f"the person is under {UNDATED_MIN_AGE}"
                    if too_young
                    else "another record of the dataset has the same name there"
                )
                found.records[key] = (Match.uncertain, f"{how}; but {why}")
