"""Blocking: the rules that choose which pairs of records are scored at all."""

from __future__ import annotations

# Corroboration for the blocking rules that grow with the square of the data: two keys such as a
# full name or a postcode and an initial admit millions of pairs in a large population, nearly
# all of them strangers. Each such rule also asks one more piece of evidence to agree, or to be
# missing (a missing field is no evidence against).
_DOB_PARTLY = (
    "(l.dob IS NULL OR r.dob IS NULL OR l.dob_month_day = r.dob_month_day"
    " OR l.dob_year_month = r.dob_year_month OR l.dob_year_day = r.dob_year_day)"
)
_SAME_POSTCODE = "l.postcode = r.postcode"
_HOUSE_AGREES_OR_MISSING = (
    "(l.house_number IS NULL OR r.house_number IS NULL OR l.house_number = r.house_number)"
)
_SAME_STREET = "l.street = r.street"
_SURNAME_INITIAL = "l.surname_initial = r.surname_initial"
_GIVEN_INITIAL = "l.given_initial = r.given_initial"


def _corroborated(rule: str, *evidence: str) -> str:
    return f"{rule} AND ({' OR '.join(evidence)})"


def blocking_rules(fields: list[str]) -> list[str]:
    """Candidate pairs: any rule admits a pair. Each rule is an equi-join, narrowed where needed.

    Measured per rule (docs/benchmarks.md, "Linkage engine"): every rule here admits true pairs
    no other does on FEBRL4 or the county; the corroborated ones keep those pairs while
    admitting a twentieth of the strangers at 500,000 records a side. Splink tests each pair a
    rule admits against every rule before it (so no pair is scored twice), so the rules whose
    joins admit the most pairs before corroboration come first.
    """
    rules = []
    has = set(fields).__contains__
    address = has("address")
    names = has("surname") and has("given_name")
    if names:
        rules.append(
            _corroborated(
                "l.surname = r.surname AND l.given_name = r.given_name",
                _SAME_POSTCODE,
                _HOUSE_AGREES_OR_MISSING,
                _SAME_STREET,
                _DOB_PARTLY,
            )
        )
    # House number with a name: the number alone is too common (every street has a 1), so each
    # rule also asks for an initial, and then for the street or the date of birth.
    if address and names:
        rules.append(
            _corroborated(
                "l.house_number = r.house_number AND l.given_name = r.given_name"
                " AND l.surname_initial = r.surname_initial",
                _SAME_POSTCODE,
                _SAME_STREET,
                _DOB_PARTLY,
            )
        )
    if has("postcode") and has("given_name"):
        rules.append(
            _corroborated(
                "l.postcode = r.postcode AND l.given_initial = r.given_initial",
                _HOUSE_AGREES_OR_MISSING,
                _SURNAME_INITIAL,
                _DOB_PARTLY,
            )
        )
    if has("date_of_birth") and has("given_name"):
        rules.append(
            _corroborated(
                "l.dob = r.dob AND l.given_initial = r.given_initial",
                _SAME_POSTCODE,
                _HOUSE_AGREES_OR_MISSING,
                _SURNAME_INITIAL,
                _SAME_STREET,
            )
        )
    if has("nhs_number"):
        rules.append("l.nhs_number = r.nhs_number")
    if has("other_id"):
        rules.append("l.other_id = r.other_id")
    if has("date_of_birth") and has("surname"):
        rules.append("l.dob = r.dob AND l.surname_prefix = r.surname_prefix")
        rules.append("l.dob_swap = r.dob AND l.surname = r.surname")
    if names:
        rules.append("l.given_name = r.surname AND l.surname = r.given_name")
    if has("postcode") and has("surname"):
        rules.append(
            _corroborated(
                "l.postcode = r.postcode AND l.surname_prefix = r.surname_prefix",
                _HOUSE_AGREES_OR_MISSING,
                _DOB_PARTLY,
            )
        )
    if has("uprn") and has("given_name"):
        rules.append("l.uprn = r.uprn AND l.given_initial = r.given_initial")
    if has("date_of_birth") and has("postcode"):
        rules.append("l.dob = r.dob AND l.postcode = r.postcode")
    if address and has("postcode"):
        # The same address, whatever else differs: FEBRL4 holds true pairs whose names and date
        # of birth are all corrupted.
        rules.append("l.postcode = r.postcode AND l.house_number = r.house_number")
    if address:
        rules.append("l.house_number = r.house_number AND l.street = r.street")
    if address and names:
        rules.append(
            _corroborated(
                "l.house_number = r.house_number AND l.surname = r.surname"
                " AND l.given_initial = r.given_initial",
                _SAME_POSTCODE,
                _SAME_STREET,
                _DOB_PARTLY,
            )
        )
    if address and has("date_of_birth"):
        rules.append("l.dob = r.dob AND l.house_number = r.house_number")
        rules.append("l.dob = r.dob AND l.address_key = r.address_key")
    if address and has("given_name"):
        rules.append("l.given_name = r.given_name AND l.address_key = r.address_key")
    if address and has("surname"):
        rules.append("l.surname_prefix = r.surname_prefix AND l.address_key = r.address_key")
    if len(rules) < 2:
        # Few fields mapped: fall back to agreeing on any one of the stronger ones.
        for name, column in (
            ("given_name", "given_name"),
            ("surname", "surname"),
            ("date_of_birth", "dob"),
            ("postcode", "postcode"),
        ):
            if has(name):
                rules.append(f"l.{column} = r.{column}")
    if not rules:
        raise ValueError(
            "map at least one of given_name, surname, date_of_birth, postcode or an identifier"
        )
    return rules


def restrict(rules: list[str], condition: str | None) -> list[str]:
    if not condition:
        return rules
    return [f"({rule}) AND ({condition})" for rule in rules]
