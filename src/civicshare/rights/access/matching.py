"""Which records are the person who asked: their details as given against each record's
identifiers, by rules an IG lead can read back.

A record is *confident* when
  - its NHS number is the one given and its date of birth or surname agrees too, or
  - surname, given name and date of birth all agree, with the postcode, the address or the
    NHS number agreeing as well,
and nothing contradicts it (a different NHS number, a different date of birth). A record that
agrees on fewer details (two or more, one of them the NHS number or the date of birth, or
name and postcode) is an *uncertain* candidate, for the IG lead to confirm or exclude. The
person index's strong links from a confident record add the records it surely links
(see service.find_records).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date

import jellyfish

from civicshare.core.errors import DomainError

NAME_SIMILARITY = 0.92  # Jaro-Winkler: a typo or a shortened given name still agrees


class DetailsError(DomainError):
    """Details of a person that cannot be searched for."""

    status = 422


@dataclass(frozen=True)
class Details:
    """A person's details as the requester gave them."""

    given_name: str
    surname: str
    date_of_birth: date | None = None
    address: str = ""
    postcode: str = ""
    nhs_number: str = ""
    # As the requester gives them: a surname before marriage, where they lived before.
    previous_surname: str = ""
    previous_address: str = ""
    previous_postcode: str = ""

    def as_json(self) -> dict[str, str]:
        return {
            "given_name": self.given_name,
            "surname": self.surname,
            "date_of_birth": self.date_of_birth.isoformat() if self.date_of_birth else "",
            "address": self.address,
            "postcode": self.postcode,
            "nhs_number": self.nhs_number,
            "previous_surname": self.previous_surname,
            "previous_address": self.previous_address,
            "previous_postcode": self.previous_postcode,
        }

    @property
    def surnames(self) -> tuple[str, ...]:
        return tuple(s for s in (self.surname, self.previous_surname) if s)

    @property
    def addresses(self) -> tuple[tuple[str, str], ...]:
        """(address, postcode) of each place the requester says they lived, newest first."""
        places = ((self.address, self.postcode), (self.previous_address, self.previous_postcode))
        return tuple((a, p) for a, p in places if a or p)

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Details:
        return details(**data)


def nhs_number_valid(digits: str) -> bool:
    """Ten digits whose modulus-11 check digit is right."""
    if not re.fullmatch(r"\d{10}", digits):
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def details(
    *,
    given_name: str = "",
    surname: str = "",
    date_of_birth: str | date | None = None,
    address: str = "",
    postcode: str = "",
    nhs_number: str = "",
    previous_surname: str = "",
    previous_address: str = "",
    previous_postcode: str = "",
) -> Details:
    """Checked details: a name and a date of birth or an NHS number (DetailsError naming the
    field otherwise)."""
    given_name, surname = " ".join(given_name.split()), " ".join(surname.split())
    if not surname:
        raise DetailsError("Give the person's surname.", field="surname")
    if not given_name:
        raise DetailsError("Give the person's given name.", field="given_name")
    born = None
    if isinstance(date_of_birth, date):
        born = date_of_birth
    elif date_of_birth and date_of_birth.strip():
        try:
            born = date.fromisoformat(date_of_birth.strip())
        except ValueError:
            raise DetailsError(
                f"Date of birth {date_of_birth.strip()[:20]!r} is not a date like 1968-08-09.",
                field="date_of_birth",
            ) from None
        if born > date.today():
            raise DetailsError("The date of birth is in the future.", field="date_of_birth")
    digits = re.sub(r"\D", "", nhs_number or "")
    if nhs_number.strip() and not nhs_number_valid(digits):
        raise DetailsError(
            "The NHS number is not ten digits with a valid check digit.", field="nhs_number"
        )
    if born is None and not digits:
        raise DetailsError("Give the person's date of birth or NHS number.", field="date_of_birth")
    return Details(
        given_name=given_name,
        surname=surname,
        date_of_birth=born,
        address=" ".join(address.split()),
        postcode=" ".join(postcode.upper().split()),
        nhs_number=digits,
        previous_surname=" ".join((previous_surname or "").split()),
        previous_address=" ".join((previous_address or "").split()),
        previous_postcode=" ".join((previous_postcode or "").upper().split()),
    )


# -- comparing ---------------------------------------------------------------------------------


def _name(value) -> str:
    return re.sub(r"[^A-Z]", "", str(value or "").upper())


def _digits(value) -> str:
    return re.sub(r"\D", "", str(value or ""))


def _tokens(value) -> set[str]:
    return set(re.findall(r"[A-Z0-9]+", str(value or "").upper()))


@functools.cache
def _nickname_groups() -> dict[str, frozenset[str]]:
    """Name -> the alias groups it belongs to (Bob and Robert share ROBERT); the person index's
    list (linkage/data/nicknames.csv), so both agree on what a nickname is."""
    from civicshare.linkage.standardised import nickname_groups

    groups = nickname_groups()
    return {n: frozenset(g) for n, g in zip(groups["name"], groups["groups"], strict=True)}


def _names_agree(given: str, held) -> bool | None:
    a, b = _name(given), _name(held)
    if not a or not b:
        return None
    return a == b or jellyfish.jaro_winkler_similarity(a, b) >= NAME_SIMILARITY


def _nicknames(a: str, b: str) -> bool:
    groups = _nickname_groups()
    return bool(groups.get(_name(a), frozenset()) & groups.get(_name(b), frozenset()))


def given_agree(given: str, held) -> bool | None:
    """Any given name held agrees with the first given (middle names are often dropped), as
    spelt, with a typo, or as a nickname of it (Bob for Robert)."""
    firsts = str(given or "").split()
    helds = str(held or "").split()
    if not firsts or not helds:
        return None
    return any(_names_agree(firsts[0], h) or _nicknames(firsts[0], h) for h in helds)


TITLES = {"MR", "MRS", "MS", "MISS", "MX", "DR", "REV", "SIR", "LADY", "PROF", "MASTER"}


def _initial_only(given: str, held) -> bool:
    """The record holds only an initial (titles aside: "MS M"), the first given's."""
    words = [w for w in re.findall(r"[A-Z]+", str(held or "").upper()) if w not in TITLES]
    first = _name(str(given or "").split()[0]) if str(given or "").split() else ""
    return len(words) == 1 and len(words[0]) == 1 and first[:1] == words[0]


def _surname_agree(person: Details, held) -> tuple[bool | None, bool]:
    """(agrees, by the previous surname): the surname or the previous surname given against
    the surname held, or against either half of a double-barrelled one (Old-New)."""
    if not _name(held):
        return None, False
    parts = [held, *re.split(r"[-\s]+", str(held))]
    for number, surname in enumerate(person.surnames):
        if any(_names_agree(surname, part) for part in parts if _name(part)):
            return True, number > 0
    return False, False


def _postcode(value) -> str:
    return re.sub(r"[^A-Z0-9]", "", str(value).upper())


def _dob(value) -> str:
    digits = _digits(str(value or "")[:10])
    return digits if len(digits) == 8 else ""


def _address_agree(given: str, held) -> bool:
    """The same house: the numbers of the shorter address are all in the longer one, and three
    quarters of the shorter one's words too ("21 Tything Mews" and "21 TYTHING MEWS, WORCESTER")."""
    a, b = _tokens(given), _tokens(held)
    if not a or not b:
        return False
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    numbers = {t for t in short if t.isdigit()}
    if not numbers <= long_:
        return False
    return len(short & long_) / len(short) >= 0.75


@dataclass(frozen=True)
class Comparison:
    agreed: frozenset[str]
    conflicts: frozenset[str]
    # Details that agree only loosely: "date_of_birth" with day and month swapped.
    near: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()
    held: frozenset[str] = frozenset()  # the identifiers the record holds
    initial: bool = False  # the given name agrees only as an initial

    @property
    def contradicts(self) -> bool:
        """Someone else's: another NHS number or date of birth, or another given name with
        nothing more personal agreeing (a spouse's council tax account at the house). Such a
        record is never made the person's by a link, only listed."""
        personal = {"nhs_number", "date_of_birth"}
        return bool(self.conflicts & personal) or (
            "given_name" in self.conflicts and not self.agreed & personal
        )

    @property
    def confident(self) -> bool:
        a = self.agreed
        if self.conflicts & {"nhs_number", "date_of_birth"}:
            return False
        by_nhs = "nhs_number" in a and bool({"date_of_birth", "surname"} & a)
        by_name = {"surname", "given_name", "date_of_birth"} <= a and bool(
            {"postcode", "address", "nhs_number"} & a
        )
        # A council tax account or an elector holds no date of birth: the name at the address
        # given, house and postcode (finding.find_records checks nobody else there agrees).
        by_property = (
            self.undated
            and not self.initial
            and {"surname", "given_name", "address"} <= a
            and ("postcode" in a or "postcode" not in self.held)
        )
        return by_nhs or by_name or by_property

    @property
    def undated(self) -> bool:
        """The record holds neither a date of birth nor an NHS number."""
        return not self.held & {"date_of_birth", "nhs_number"}

    @property
    def candidate(self) -> bool:
        """Weaker agreement, listed for the IG lead: two details with the NHS number or the date
        of birth among them, the surname at the address (not under another given name), a date
        of birth with day and month swapped, or the name alone on a record that holds nothing
        more personal."""
        a = self.agreed
        if self.confident:
            return False
        if "given_name" in self.conflicts and not {"nhs_number", "date_of_birth"} & a:
            return False  # another member of the household: another given name, nothing more
        names = {"surname", "given_name"} <= a
        if len(a) >= 2 and (
            {"nhs_number", "date_of_birth"} & a
            or {"surname", "postcode"} <= a
            or {"surname", "address"} <= a
        ):
            return True
        return names and ("date_of_birth" in self.near or self.undated)

    def describe(self) -> str:
        said = ", ".join(LABELS[f] for f in FIELDS if f in self.agreed) or "nothing"
        text = f"agrees on {said}"
        if self.conflicts:
            text += "; differs on " + ", ".join(LABELS[f] for f in FIELDS if f in self.conflicts)
        return "; ".join([text, *self.notes])


FIELDS = ("nhs_number", "surname", "given_name", "date_of_birth", "postcode", "address")
LABELS = {
    "nhs_number": "NHS number",
    "surname": "surname",
    "given_name": "given name",
    "date_of_birth": "date of birth",
    "postcode": "postcode",
    "address": "address",
}


def compare(person: Details, record: dict) -> Comparison:
    """The person's details against one record's canonical identifiers (linkage's canonical
    columns: given_name, surname, date_of_birth, nhs_number, postcode, address)."""
    agreed, conflicts, near, notes = set(), set(), set(), []
    held = frozenset(f for f in FIELDS if str(record.get(f) or "").strip() not in ("", "nan"))

    def note(name: str, verdict: bool | None) -> None:
        if verdict is True:
            agreed.add(name)
        elif verdict is False:
            conflicts.add(name)

    held_nhs = _digits(record.get("nhs_number"))
    note("nhs_number", (held_nhs == person.nhs_number) if held_nhs and person.nhs_number else None)
    surname, by_previous = _surname_agree(person, record.get("surname"))
    given = given_agree(person.given_name, record.get("given_name"))
    if surname is False and given is False:  # "BERRY, Ronald" read as given name BERRY
        swapped = (
            given_agree(person.surname, record.get("given_name")),
            _names_agree(person.given_name.split()[0], record.get("surname")),
        )
        if all(swapped):
            surname = given = True
            notes.append("surname and given name swapped")
    initial = given is not True and _initial_only(person.given_name, record.get("given_name"))
    if initial:
        given = True
        notes.append("the given name held only as an initial")
    if by_previous and surname:
        notes.append("held under the previous surname given")
    note("surname", surname)
    note("given_name", given)
    held_dob = _dob(record.get("date_of_birth"))
    given_dob = person.date_of_birth.strftime("%Y%m%d") if person.date_of_birth else ""
    if held_dob and given_dob:
        if held_dob == given_dob:
            agreed.add("date_of_birth")
        elif held_dob == given_dob[:4] + given_dob[6:] + given_dob[4:6]:
            near.add("date_of_birth")
            notes.append("date of birth with day and month swapped")
        else:
            conflicts.add("date_of_birth")
    places = person.addresses
    held_postcode = _postcode(record.get("postcode") or "")
    given_postcodes = [_postcode(p) for _, p in places if p]
    if held_postcode and given_postcodes:
        note("postcode", held_postcode in given_postcodes)
    for number, (address, _) in enumerate(places):
        if address and _address_agree(address, record.get("address")):
            agreed.add("address")
            if number:
                notes.append("at the previous address given")
            break
    return Comparison(
        frozenset(agreed), frozenset(conflicts), frozenset(near), tuple(notes), held, initial
    )
