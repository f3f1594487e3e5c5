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

    def as_json(self) -> dict[str, str]:
        return {
            "given_name": self.given_name,
            "surname": self.surname,
            "date_of_birth": self.date_of_birth.isoformat() if self.date_of_birth else "",
            "address": self.address,
            "postcode": self.postcode,
            "nhs_number": self.nhs_number,
        }

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
    )


# -- comparing ---------------------------------------------------------------------------------


def _name(value) -> str:
    return re.sub(r"[^A-Z]", "", str(value or "").upper())


def _digits(value) -> str:
    return re.sub(r"\D", "", str(value or ""))


def _tokens(value) -> set[str]:
    return set(re.findall(r"[A-Z0-9]+", str(value or "").upper()))


def _names_agree(given: str, held) -> bool | None:
    a, b = _name(given), _name(held)
    if not a or not b:
        return None
    return a == b or jellyfish.jaro_winkler_similarity(a, b) >= NAME_SIMILARITY


def _given_agree(given: str, held) -> bool | None:
    """Any given name held agrees with the first given (middle names are often dropped)."""
    firsts = str(given or "").split()
    helds = str(held or "").split()
    if not firsts or not helds:
        return None
    return any(_names_agree(firsts[0], h) for h in helds)


def _postcode(value) -> str:
    return re.sub(r"[^A-Z0-9]", "", str(value).upper())


def _dob(value) -> str:
    digits = _digits(str(value or "")[:10])
    return digits if len(digits) == 8 else ""


@dataclass(frozen=True)
class Comparison:
    agreed: frozenset[str]
    conflicts: frozenset[str]

    @property
    def confident(self) -> bool:
        a = self.agreed
        if self.conflicts & {"nhs_number", "date_of_birth"}:
            return False
        by_nhs = "nhs_number" in a and bool({"date_of_birth", "surname"} & a)
        by_name = {"surname", "given_name", "date_of_birth"} <= a and bool(
            {"postcode", "address", "nhs_number"} & a
        )
        return by_nhs or by_name

    @property
    def candidate(self) -> bool:
        a = self.agreed
        if self.confident or len(a) < 2:
            return False
        return bool({"nhs_number", "date_of_birth"} & a) or {"surname", "postcode"} <= a

    def describe(self) -> str:
        said = ", ".join(LABELS[f] for f in FIELDS if f in self.agreed) or "nothing"
        if self.conflicts:
            differs = ", ".join(LABELS[f] for f in FIELDS if f in self.conflicts)
            return f"agrees on {said}; differs on {differs}"
        return f"agrees on {said}"


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
    agreed, conflicts = set(), set()

    def note(name: str, verdict: bool | None) -> None:
        if verdict is True:
            agreed.add(name)
        elif verdict is False:
            conflicts.add(name)

    held_nhs = _digits(record.get("nhs_number"))
    note("nhs_number", (held_nhs == person.nhs_number) if held_nhs and person.nhs_number else None)
    surname = _names_agree(person.surname, record.get("surname"))
    given = _given_agree(person.given_name, record.get("given_name"))
    if surname is False and given is False:  # "BERRY, Ronald" read as given name BERRY
        swapped = (
            _given_agree(person.surname, record.get("given_name")),
            _names_agree(person.given_name.split()[0], record.get("surname")),
        )
        if all(swapped):
            surname = given = True
    note("surname", surname)
    note("given_name", given)
    held_dob = _dob(record.get("date_of_birth"))
    given_dob = person.date_of_birth.strftime("%Y%m%d") if person.date_of_birth else ""
    note("date_of_birth", (held_dob == given_dob) if held_dob and given_dob else None)
    if person.postcode and record.get("postcode"):
        note("postcode", _postcode(person.postcode) == _postcode(record["postcode"]))
    given_address = _tokens(person.address)
    held_address = _tokens(record.get("address"))
    if given_address and held_address:
        shared = len(given_address & held_address) / len(given_address)
        if shared >= 0.75:
            agreed.add("address")
    return Comparison(frozenset(agreed), frozenset(conflicts))
