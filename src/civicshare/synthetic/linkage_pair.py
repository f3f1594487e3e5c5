"""A held-out UK-style pair of files for linkage: a council file and a GP file, with truth.

FEBRL4 holds one person per household and no relatives; real partner files are full of
families. This builder makes ``people`` residents living in households that hold what breaks
naive linkage:

* twins (same surname, date of birth and address; same or different sex, different first names);
* a father and an adult son of the same first name at one address (born about 30 years apart);
* siblings, couples sharing a surname, lone parents, unrelated sharers;
* a married-name change (the GP file still holds the maiden or a hyphenated surname);
* nicknames (Bob for Robert) in the council file, one-character typos in either;
* movers (the GP file still holds the old address);
* dates of birth keyed wrongly (one digit, day and month swapped, year off by one);
* NHS numbers missing from most council rows (80%) and few GP rows (3%), a few mistyped.

Each resident is in the council file with probability 0.92 and in the GP file with probability
0.93, so most, not all, have a record in both. Twins are planted at a higher rate than real
life (one family with two or more children in eight) so a small run holds enough of them.

API (stable: ``benchmarks/households.py`` and ``benchmarks/pprl.py`` both use it)::

    pair = build_linkage_pair(people=2000, seed=15)
    pair.council, pair.gp     # DataFrames: record_id, given_name, surname, date_of_birth
                              # (yyyy-mm-dd), sex (M/F), nhs_number, address, postcode
                              # (all text, None when missing); record ids C... and G...
    pair.truth                # source ("council"/"gp"), record_id, entity_id (person id)
    pair.people               # one row per resident: person_id, household_id, role,
                              # twin_of, namesake_parent_of (person ids or None)
    pair.true_pairs()         # {(council record_id, gp record_id)} of one person
    pair.relatives("twins")   # [(person_id, person_id)]; also "namesake_parent_child",
                              # "siblings", "parent_child"
    pair.evaluate(links)      # precision/recall of (council id, gp id) links
    pair.merged(clusters, "twins")  # relative pairs whose records share a cluster_id
    pair.write(directory)     # council.csv, gp.csv, truth.csv, map.yaml; returns the paths

Synthetic data only: every name, address and NHS number (the unissued 9xx range) is generated.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import names
from .common import nhs_check_digit

SOURCES = ("council", "gp")
COLUMNS = [
    "record_id",
    "given_name",
    "surname",
    "date_of_birth",
    "sex",
    "nhs_number",
    "address",
    "postcode",
]
RELATIVE_KINDS = ("twins", "namesake_parent_child", "siblings", "parent_child")
REF_YEAR = 2026

# household kind, share of households
HOUSEHOLDS = [
    ("single", 0.27),
    ("couple", 0.24),
    ("family", 0.30),
    ("namesake", 0.07),
    ("lone_parent", 0.08),
    ("sharers", 0.04),
]
TWIN_FAMILY_RATE = 0.125
IN_COUNCIL, IN_GP = 0.92, 0.93
NHS_PRESENT = {"council": 0.20, "gp": 0.97}
NHS_MISTYPED = 0.003
MOVED = 0.06  # households that moved; the GP file keeps the old address for 60% of them
GP_KEEPS_OLD_ADDRESS = 0.6
RECENTLY_MARRIED = 0.10  # married women whose GP record still has the maiden/hyphenated name
NICKNAME = 0.06
TYPO = 0.02
DOB_ONE_DIGIT, DOB_SWAP, DOB_YEAR = 0.01, 0.005, 0.004
TOWNS = ["Worcester", "Malvern", "Evesham", "Pershore", "Bromsgrove", "Redditch", "Droitwich"]
UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


@dataclass
class LinkagePair:
    council: pd.DataFrame
    gp: pd.DataFrame
    truth: pd.DataFrame
    people: pd.DataFrame

    def true_pairs(self) -> set[tuple[str, str]]:
        by_source = {
            s: dict(zip(f["entity_id"], f["record_id"], strict=True))
            for s, f in self.truth.groupby("source")
        }
        council, gp = by_source.get("council", {}), by_source.get("gp", {})
        return {(council[e], gp[e]) for e in council.keys() & gp.keys()}

    def relatives(self, kind: str) -> list[tuple[str, str]]:
        if kind not in RELATIVE_KINDS:
            raise ValueError(f"unknown kind of relative {kind!r}; known: {RELATIVE_KINDS}")
        p = self.people
        if kind == "twins":
            rows = p[p["twin_of"].notna()]
            return sorted(
                {tuple(sorted(t)) for t in zip(rows["person_id"], rows["twin_of"], strict=True)}
            )
        if kind == "namesake_parent_child":
            rows = p[p["namesake_parent_of"].notna()]
            return list(zip(rows["person_id"], rows["namesake_parent_of"], strict=True))
        children = p[p["role"] == "child"]
        if kind == "siblings":
            out = []
            for _, group in children.groupby("household_id"):
                ids = sorted(group["person_id"])
                out += [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
            return out
        parents = p[p["role"].isin(["head", "partner"])]
        joined = children.merge(parents, on="household_id", suffixes=("_c", "_p"))
        return list(zip(joined["person_id_p"], joined["person_id_c"], strict=True))

    def evaluate(self, links: Iterable[tuple[str, str]]) -> dict[str, float | int]:
        """Precision and recall of (council record_id, gp record_id) links against the truth."""
        found, true = set(links), self.true_pairs()
        hits = len(found & true)
        return {
            "links": len(found),
            "true_links": len(true),
            "correct": hits,
            "precision": hits / len(found) if found else 1.0,
            "recall": hits / len(true) if true else 1.0,
        }

    def merged(self, clusters: pd.DataFrame, kind: str) -> int:
        """How many relative pairs of ``kind`` have records in one cluster.

        ``clusters`` has columns source, record_id, cluster_id (file mode's clusters.csv).
        """
        entity = dict(
            zip(
                zip(self.truth["source"], self.truth["record_id"], strict=True),
                self.truth["entity_id"],
                strict=True,
            )
        )
        people_clusters: dict[str, set] = {}
        for source, record, cluster in zip(
            clusters["source"], clusters["record_id"], clusters["cluster_id"], strict=True
        ):
            person = entity.get((source, str(record)))
            if person is not None:
                people_clusters.setdefault(person, set()).add(cluster)
        return sum(
            1
            for a, b in self.relatives(kind)
            if people_clusters.get(a, set()) & people_clusters.get(b, set())
        )

    def write(self, directory: Path | str) -> dict[str, Path]:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {
            "council": directory / "council.csv",
            "gp": directory / "gp.csv",
            "truth": directory / "truth.csv",
            "map": directory / "map.yaml",
        }
        self.council.to_csv(paths["council"], index=False)
        self.gp.to_csv(paths["gp"], index=False)
        self.truth.to_csv(paths["truth"], index=False)
        paths["map"].write_text(
            "".join(f"{c}: {c}\n" for c in COLUMNS if c != "date_of_birth")
            + 'date_of_birth: {column: date_of_birth, format: "%Y-%m-%d"}\n',
            encoding="utf-8",
        )
        return paths


def _zipf_cumulative(k: int) -> list[float]:
    """Cumulative weights 1/(rank+3), as the county's name sampler uses."""
    total, out = 0.0, []
    for rank in range(k):
        total += 1 / (rank + 3)
        out.append(total)
    return out


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """Text columns holding None (not NaN) when a value is missing."""
    return pd.DataFrame(
        {c: pd.Series([row[c] for row in rows], dtype=object) for c in columns}, columns=columns
    )


class _Builder:
    def __init__(self, people: int, seed: int):
        self.rng = random.Random(seed)
        self.target = people
        self.people: list[dict] = []
        self.nhs = self._nhs_numbers(people + 10)
        self.streets = self._streets(max(8, people // 70))
        self.used_addresses: set[tuple[int, int]] = set()
        self.surname_cum = _zipf_cumulative(len(names.SURNAMES))
        self.first_cum = {
            key: _zipf_cumulative(len(pool)) for key, pool in names.FIRST_NAMES.items()
        }

    def _nhs_numbers(self, n: int) -> list[str]:
        import numpy as np

        picked = self.rng.sample(range(100_000_000), int(n * 1.15) + 32)
        first9 = 900_000_000 + np.array(picked, dtype=np.int64)
        check = nhs_check_digit(first9)
        ok = check != 10
        return [str(v) for v in (first9[ok] * 10 + check[ok])[:n]]

    def _streets(self, n: int) -> list[tuple[str, str]]:
        out, seen = [], set()
        while len(out) < n:
            stem = self.rng.choice(names.STREET_STEMS)
            suffix = self.rng.choices(names.STREET_SUFFIXES, names.STREET_SUFFIX_WEIGHTS)[0]
            town = self.rng.choice(TOWNS)
            if (stem, suffix, town) in seen:
                continue
            seen.add((stem, suffix, town))
            district = self.rng.randint(1, 15)
            sector = self.rng.randint(1, 9)
            postcode = f"WR{district} {sector}"
            out.append((f"{stem} {suffix}, {town}", postcode))
        return out

    def _address(self) -> tuple[str, str]:
        while True:
            street = self.rng.randrange(len(self.streets))
            number = self.rng.randint(1, 160)
            if (street, number) not in self.used_addresses:
                self.used_addresses.add((street, number))
                name, outward = self.streets[street]
                # Neighbours share a postcode unit, as on a real street: by blocks of 20 numbers.
                unit = UNIT_LETTERS[(street * 7 + number // 20) % 20] + UNIT_LETTERS[street % 20]
                return f"{number} {name}", f"{outward}{unit}"

    def _surname(self) -> str:
        return self.rng.choices(names.SURNAMES, cum_weights=self.surname_cum)[0]

    def _first(self, male: bool, year: int, avoid: Iterable[str] = ()) -> str:
        era = "old" if year < 1960 else "mid" if year < 1990 else "young"
        key = ("M" if male else "F", era)
        pool = names.FIRST_NAMES[key]
        avoid = set(avoid)
        while True:
            name = self.rng.choices(pool, cum_weights=self.first_cum[key])[0]
            if name not in avoid:
                return name

    def _dob(self, year: int) -> str:
        month = self.rng.randint(1, 12)
        day = self.rng.randint(1, 28)
        return f"{year:04d}-{month:02d}-{day:02d}"

    def _person(self, household: str, role: str, male: bool, year: int, surname: str, **kw):
        given = kw.pop("given", None) or self._first(male, year, kw.pop("avoid", ()))
        person = {
            "person_id": f"P{len(self.people) + 1:07d}",
            "household_id": household,
            "role": role,
            "given_name": given,
            "surname": surname,
            "birth_surname": kw.pop("birth_surname", surname),
            "date_of_birth": kw.pop("dob", None) or self._dob(year),
            "sex": "M" if male else "F",
            "nhs_number": self.nhs[len(self.people)],
            "twin_of": None,
            "namesake_parent_of": None,
            "recently_married": kw.pop("recently_married", False),
        }
        self.people.append(person)
        return person

    def _couple(self, hh: str, age_lo: int, age_hi: int):
        surname = self._surname()
        year = REF_YEAR - self.rng.randint(age_lo, age_hi)
        head = self._person(hh, "head", True, year, surname)
        partner_year = year + self.rng.randint(-3, 5)
        married = self.rng.random() < RECENTLY_MARRIED
        maiden = self._surname() if self.rng.random() < 0.9 else surname
        partner = self._person(
            hh,
            "partner",
            False,
            partner_year,
            surname,
            birth_surname=maiden,
            recently_married=married,
        )
        return head, partner, surname, min(year, partner_year)

    def _children(self, hh: str, surname: str, parent_year: int, count: int, adult=False):
        taken: list[str] = []
        kids = []
        twins = count >= 2 and self.rng.random() < TWIN_FAMILY_RATE
        for i in range(count):
            lo = parent_year + 20
            # Born by the end of last year, so no date of birth is in the future.
            year = min(REF_YEAR - (18 if adult else 1), lo + self.rng.randint(0, 18))
            male = self.rng.random() < 0.51
            dob = None
            if twins and i == 1:
                twin = kids[0]
                year = int(twin["date_of_birth"][:4])
                dob = twin["date_of_birth"]
                male = self.rng.random() < 0.5 if self.rng.random() < 0.6 else twin["sex"] == "M"
            kid = self._person(hh, "child", male, year, surname, avoid=taken, dob=dob)
            taken.append(kid["given_name"])
            if twins and i == 1:
                kid["twin_of"] = kids[0]["person_id"]
                kids[0]["twin_of"] = kid["person_id"]
            kids.append(kid)
        return kids

    def household(self, number: int):
        hh = f"H{number:06d}"
        kind = self.rng.choices([k for k, _ in HOUSEHOLDS], [w for _, w in HOUSEHOLDS])[0]
        members: list[dict]
        if kind == "single":
            year = REF_YEAR - self.rng.randint(19, 95)
            members = [self._person(hh, "head", self.rng.random() < 0.45, year, self._surname())]
        elif kind == "couple":
            members = list(self._couple(hh, 22, 90)[:2])
        elif kind == "family":
            head, partner, surname, year = self._couple(hh, 26, 55)
            count = self.rng.choices([1, 2, 3, 4], [0.38, 0.42, 0.15, 0.05])[0]
            members = [head, partner, *self._children(hh, surname, year, count)]
        elif kind == "namesake":
            head, partner, surname, year = self._couple(hh, 46, 70)
            son_year = min(REF_YEAR - 18, int(head["date_of_birth"][:4]) + self.rng.randint(24, 34))
            son = self._person(hh, "child", True, son_year, surname, given=head["given_name"])
            son["namesake_parent_of"] = head["person_id"]
            members = [head, partner, son]
            if self.rng.random() < 0.4:
                members += self._children(hh, surname, year, 1)
        elif kind == "lone_parent":
            surname = self._surname()
            year = REF_YEAR - self.rng.randint(22, 50)
            parent = self._person(hh, "head", self.rng.random() < 0.12, year, surname)
            count = self.rng.choices([1, 2, 3], [0.5, 0.35, 0.15])[0]
            members = [parent, *self._children(hh, surname, year, count)]
        else:
            members = [
                self._person(
                    hh,
                    "sharer",
                    self.rng.random() < 0.5,
                    REF_YEAR - self.rng.randint(19, 40),
                    self._surname(),
                )
                for _ in range(self.rng.randint(2, 4))
            ]
        address, postcode = self._address()
        moved = self.rng.random() < MOVED
        old = self._address() if moved else (address, postcode)
        gp_old = moved and self.rng.random() < GP_KEEPS_OLD_ADDRESS
        for person in members:
            person["address"], person["postcode"] = address, postcode
            person["gp_address"], person["gp_postcode"] = old if gp_old else (address, postcode)

    def build(self) -> list[dict]:
        number = 0
        while len(self.people) < self.target:
            number += 1
            self.household(number)
        return self.people[: self.target]


def _typo(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text))
    op = rng.randrange(3)
    if op == 0 and len(text) > 3:
        out = text[:i] + text[i + 1 :]
    elif op == 1 and i < len(text) - 1:
        out = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    else:
        letter = rng.choice("aeioulnrst")
        out = text[:i] + (letter.upper() if text[i].isupper() else letter) + text[i + 1 :]
    return out if out != text else text + "e"


def _bad_dob(rng: random.Random, dob: str) -> str:
    year, month, day = int(dob[:4]), int(dob[5:7]), int(dob[8:10])
    draw = rng.random()
    if draw < DOB_SWAP / (DOB_ONE_DIGIT + DOB_SWAP + DOB_YEAR) and day <= 12 and day != month:
        return f"{year:04d}-{day:02d}-{month:02d}"
    if draw > 1 - DOB_YEAR / (DOB_ONE_DIGIT + DOB_SWAP + DOB_YEAR):
        return f"{year + rng.choice([-1, 1]):04d}-{month:02d}-{day:02d}"
    # one digit of the day (kept a real date)
    new_day = day + rng.choice([-1, 1]) if day % 10 not in (0, 9) else day - 1 if day > 1 else 2
    return f"{year:04d}-{month:02d}-{new_day:02d}"


def _mistype_nhs(rng: random.Random, number: str) -> str:
    i = rng.randrange(9)
    digit = str((int(number[i]) + rng.randint(1, 9)) % 10)
    return number[:i] + digit + number[i + 1 :]


def _record(rng: random.Random, person: dict, source: str) -> dict:
    given, surname, dob = person["given_name"], person["surname"], person["date_of_birth"]
    address, postcode = person["address"], person["postcode"]
    if source == "gp":
        address, postcode = person["gp_address"], person["gp_postcode"]
        if person["recently_married"]:
            maiden = person["birth_surname"]
            surname = maiden if rng.random() < 0.6 else f"{maiden}-{surname}"
    elif given in names.NICKNAMES and rng.random() < NICKNAME:
        given = rng.choice(names.NICKNAMES[given])
    if rng.random() < TYPO:
        given = _typo(rng, given)
    if rng.random() < TYPO:
        surname = _typo(rng, surname)
    if rng.random() < DOB_ONE_DIGIT + DOB_SWAP + DOB_YEAR:
        dob = _bad_dob(rng, dob)
    nhs = person["nhs_number"] if rng.random() < NHS_PRESENT[source] else None
    if nhs and rng.random() < NHS_MISTYPED:
        nhs = _mistype_nhs(rng, nhs)
    return {
        "given_name": given,
        "surname": surname,
        "date_of_birth": dob,
        "sex": person["sex"],
        "nhs_number": nhs,
        "address": address,
        "postcode": postcode,
    }


def build_linkage_pair(people: int = 2000, seed: int = 15) -> LinkagePair:
    """A council file and a GP file of ``people`` residents in households, with truth."""
    if people < 1:
        raise ValueError(f"people must be at least 1, got {people}")
    residents = _Builder(people, seed).build()
    rng = random.Random(seed + 1)
    files: dict[str, list[dict]] = {s: [] for s in SOURCES}
    truth: list[dict] = []
    for source, coverage in (("council", IN_COUNCIL), ("gp", IN_GP)):
        held = [p for p in residents if rng.random() < coverage]
        rng.shuffle(held)  # row order says nothing about who is who
        prefix = "C" if source == "council" else "G"
        ids = rng.sample(range(10**6, 10**7), len(held))
        for person, number in zip(held, ids, strict=True):
            record_id = f"{prefix}{number}"
            files[source].append({"record_id": record_id, **_record(rng, person, source)})
            truth.append(
                {"source": source, "record_id": record_id, "entity_id": person["person_id"]}
            )
    people_frame = _frame(
        residents,
        [
            "person_id",
            "household_id",
            "role",
            "given_name",
            "surname",
            "birth_surname",
            "date_of_birth",
            "sex",
            "twin_of",
            "namesake_parent_of",
        ],
    )
    # Whole people may be cut off at the end; keep relations inside the population.
    known = set(people_frame["person_id"])
    for column in ("twin_of", "namesake_parent_of"):
        kept = [v if v in known else None for v in people_frame[column]]
        people_frame[column] = pd.Series(kept, dtype=object)
    return LinkagePair(
        council=_frame(files["council"], COLUMNS),
        gp=_frame(files["gp"], COLUMNS),
        truth=_frame(truth, ["source", "record_id", "entity_id"]),
        people=people_frame,
    )
