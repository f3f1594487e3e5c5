"""New life events for residents of a generated county, as the registration service would send
them: deaths of residents still alive (the `death-registrations` columns and formats), births
to resident mothers (`birth-registrations`) and moves of residents to another property
(`address-changes`); with the truth (entry -> person id) and which partners truly hold each
person. For tests, the demo and benchmarks: it reads the county's truth, so no product pipeline
may call it."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

COLUMNS = (
    "entry_number",
    "deceased_forenames",
    "deceased_surname",
    "maiden_surname",
    "sex",
    "date_of_birth",
    "date_of_death",
    "place_of_death",
    "usual_address",
    "postcode",
    "nhs_number",
    "registration_date",
)


def _day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def living_residents(county: Path, count: int, *, seed: int = 1, min_age: int = 40) -> list[dict]:
    """`count` residents alive in the truth (aged `min_age` or more), chosen with `seed`."""
    people = pq.read_table(Path(county) / "truth" / "people.parquet").to_pylist()
    alive = [p for p in people if not p["died"] and (p["age"] or 0) >= min_age]
    if count > len(alive):
        raise ValueError(f"the county has only {len(alive):,} living residents aged {min_age}+")
    chosen = np.random.default_rng(seed).choice(len(alive), size=count, replace=False)
    return [alive[int(i)] for i in sorted(chosen)]


BIRTH_COLUMNS = (
    "entry_number",
    "child_date_of_birth",
    "mother_forenames",
    "mother_surname",
    "mother_maiden_surname",
    "mother_date_of_birth",
    "usual_address",
    "postcode",
    "mother_nhs_number",
    "registration_date",
)
MOVE_COLUMNS = (
    "change_reference",
    "moved_on",
    "forenames",
    "surname",
    "date_of_birth",
    "nhs_number",
    "previous_postcode",
    "previous_address",
    "new_address",
    "new_postcode",
)
ADDRESS_LINES = ("address_line_1", "address_line_2", "address_line_3", "post_town")


def _properties(county: Path) -> dict[int, dict]:
    rows = pq.read_table(Path(county) / "geography" / "properties.parquet").to_pylist()
    return {p["uprn"]: p for p in rows}


def _address(home: dict) -> str:
    return ", ".join(str(home[k]) for k in ADDRESS_LINES if home.get(k))


def _forenames(person: dict) -> str:
    return " ".join(v for v in (person["forename"], person["middle_names"]) if v)


def living_mothers(county: Path, count: int, *, seed: int = 1) -> list[dict]:
    """`count` living women aged 18 to 44 in the truth, chosen with `seed`: new mothers."""
    people = pq.read_table(Path(county) / "truth" / "people.parquet").to_pylist()
    women = [
        p
        for p in people
        if not p["died"] and p["sex"] in ("F", "female", "Female") and 18 <= (p["age"] or 0) <= 44
    ]
    if count > len(women):
        raise ValueError(f"the county has only {len(women):,} living women aged 18 to 44")
    chosen = np.random.default_rng(seed).choice(len(women), size=count, replace=False)
    return [women[int(i)] for i in sorted(chosen)]


def birth_registrations(
    county: Path, mothers: list[dict], *, first_entry: int = 700_001, born_on: date | None = None
) -> tuple[bytes, dict[str, int]]:
    """A CSV of birth registrations of a child to each of `mothers` (rows of
    truth/people.parquet), registered at her home, and the entry number -> the mother's person
    id (the person the registration is matched on)."""
    properties = _properties(county)
    born_on = born_on or date(2026, 4, 1)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(BIRTH_COLUMNS)
    truth = {}
    for number, mother in enumerate(mothers, start=first_entry):
        home = properties.get(mother["uprn"], {})
        entry = f"B{number:06d}"
        truth[entry] = mother["person_id"]
        writer.writerow(
            [
                entry,
                _day(born_on),
                _forenames(mother),
                mother["surname"].upper(),
                (mother["maiden_surname"] or "").upper(),
                _day(mother["date_of_birth"]),
                _address(home),
                home.get("postcode", ""),
                mother["nhs_number"] or "",
                (born_on + timedelta(days=21)).strftime("%d/%m/%Y"),
            ]
        )
    return out.getvalue().encode(), truth


def address_changes(
    county: Path,
    people: list[dict],
    *,
    first_entry: int = 600_001,
    moved_on: date | None = None,
    seed: int = 1,
) -> tuple[bytes, dict[str, int], dict[str, int]]:
    """A CSV of changes of address: each of `people` moves from home to another property of
    the county (chosen with `seed`); the change reference -> person id, and -> the new UPRN."""
    properties = _properties(county)
    uprns = sorted(properties)
    rng = np.random.default_rng(seed)
    moved_on = moved_on or date(2026, 4, 1)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MOVE_COLUMNS)
    truth, destinations = {}, {}
    for number, person in enumerate(people, start=first_entry):
        home = properties.get(person["uprn"], {})
        new_uprn = person["uprn"]
        while new_uprn == person["uprn"]:
            new_uprn = uprns[int(rng.integers(len(uprns)))]
        new_home = properties[new_uprn]
        reference = f"M{number:06d}"
        truth[reference], destinations[reference] = person["person_id"], new_uprn
        writer.writerow(
            [
                reference,
                moved_on.isoformat(),
                _forenames(person),
                person["surname"],
                person["date_of_birth"].isoformat(),
                person["nhs_number"] or "",
                home.get("postcode", ""),
                _address(home),
                _address(new_home),
                new_home.get("postcode", ""),
            ]
        )
    return out.getvalue().encode(), truth, destinations


def death_registrations(
    county: Path, people: list[dict], *, first_entry: int = 900_001, died_on: date | None = None
) -> tuple[bytes, dict[str, int]]:
    """A CSV of death registrations for `people` (rows of truth/people.parquet) and the
    entry number -> person id of each."""
    properties = {
        p["uprn"]: p
        for p in pq.read_table(Path(county) / "geography" / "properties.parquet").to_pylist()
    }
    died_on = died_on or date(2026, 4, 1)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    truth = {}
    for number, person in enumerate(people, start=first_entry):
        home = properties.get(person["uprn"], {})
        lines = ("address_line_1", "address_line_2", "address_line_3", "post_town")
        address = ", ".join(str(home[k]) for k in lines if home.get(k))
        forenames = " ".join(v for v in (person["forename"], person["middle_names"]) if v)
        entry = f"D{number:06d}"
        truth[entry] = person["person_id"]
        writer.writerow(
            [
                entry,
                forenames,
                person["surname"].upper(),
                (person["maiden_surname"] or "").upper(),
                "Male" if person["sex"] in ("M", "male", "Male") else "Female",
                _day(person["date_of_birth"]),
                _day(died_on),
                "usual residence",
                address,
                home.get("postcode", ""),
                person["nhs_number"] or "",
                (died_on + timedelta(days=2)).strftime("%d/%m/%Y"),
            ]
        )
    return out.getvalue().encode(), truth


def holders(county: Path, person_ids: set[int]) -> dict[int, dict[str, set[str]]]:
    """person id -> {partner key: {dataset, ...}} for every dataset with a truth file that
    holds a record of that person (duplicates included)."""
    manifest = json.loads((Path(county) / "manifest.json").read_text())
    found: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for entry in manifest["datasets"]:
        truth = entry.get("truth")
        if not truth or not (Path(county) / truth).is_file():
            continue
        table = pq.read_table(Path(county) / truth)
        if "person_id" not in table.column_names:
            continue
        for person in table.column("person_id").to_pylist():
            if person in person_ids:
                found[person][entry["partner"]].add(entry["name"])
    return {p: {k: set(v) for k, v in d.items()} for p, d in found.items()}


def review_by_truth(session, settings, person_keys: set[str], entries: dict[str, int], reviewer):
    """Stand in for a clerical reviewer who knows the truth: decide every open review item on
    these people's records (accept when both records are truly one person). `entries` gives
    the person id of registrations not in the truth files. Returns how many were decided."""
    from sqlalchemy import select

    from civicshare.linkage.models import IndexedRecord, ReviewItem, ReviewStatus
    from civicshare.linkage.person_index import review

    if not person_keys:
        return 0
    ours = set(
        session.execute(
            select(IndexedRecord.source, IndexedRecord.record_id).where(
                IndexedRecord.person_key.in_(person_keys)
            )
        ).all()
    )
    truth_dir = Path(settings.data_dir) / "synthetic" / "truth"
    people: dict[str, dict[str, int]] = {}

    def person(source: str, record_id: str) -> int | None:
        if record_id in entries:
            return entries[record_id]
        name = source.partition("/")[2]
        if name not in people:
            path = truth_dir / f"{name}.parquet"
            table = pq.read_table(path, columns=["record_id", "person_id"])
            people[name] = dict(zip(*(c.to_pylist() for c in table.columns), strict=True))
        return people[name].get(record_id)

    decisions = []
    items = session.scalars(select(ReviewItem).where(ReviewItem.status == ReviewStatus.open)).all()
    for item in items:
        left, right = (item.source_l, item.record_id_l), (item.source_r, item.record_id_r)
        if left in ours or right in ours:
            same = person(*left) is not None and person(*left) == person(*right)
            decisions.append((item.id, same, "Checked"))
    return len(review.decide_many(session, settings, reviewer, decisions))
