"""The model: its stored form, the comparisons and the Splink settings, training rules and the
threshold a model recommends."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from civicshare.linkage import comparisons
from civicshare.linkage.engine.blocking import blocking_rules

MIN_RECOMMENDED_THRESHOLD = 0.5
MAX_RECOMMENDED_THRESHOLD = 0.999


@dataclass
class LinkageModel:
    """A trained model: Splink settings (with m and u) and the threshold it recommends."""

    settings: dict[str, Any]
    recommended_threshold: float
    fields: list[str] = field(default_factory=list)
    labelled_matches: int = 0  # reviewers' accepted pairs that trained m (0: none used)

    def to_json(self) -> str:
        return json.dumps(
            {
                "splink_settings": self.settings,
                "recommended_threshold": self.recommended_threshold,
                "fields": self.fields,
                "labelled_matches": self.labelled_matches,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> LinkageModel:
        data = json.loads(text)
        return cls(
            settings=data["splink_settings"],
            recommended_threshold=float(data["recommended_threshold"]),
            fields=list(data.get("fields", [])),
            labelled_matches=int(data.get("labelled_matches", 0)),
        )


def comparisons_for(
    fields: list[str], with_distance: bool, uk: bool = True, households: bool = False
) -> list:
    builders = {
        "nhs_number": comparisons.nhs_number,
        "other_id": comparisons.other_id,
        "given_name": comparisons.given_name,
        "surname": comparisons.surname,
        "date_of_birth": comparisons.date_of_birth,
        "sex": comparisons.sex,
    }
    built = [builders[name]() for name in fields if name in builders]
    if "postcode" in fields:
        built.append(comparisons.postcode(with_distance, uk))
    if "address" in fields:
        built.append(comparisons.address(with_uprn="uprn" in fields, households=households))
    elif "uprn" in fields:
        built.append(comparisons.uprn())
    household = comparisons.household_condition(fields) if households else None
    if household:
        built.append(comparisons.household(household, "date_of_birth" in fields))
    return built


def settings_for(
    fields: list[str],
    with_distance: bool,
    uk: bool,
    probability_two_random_records_match: float = 1e-4,
    detail: bool = True,
    households: bool = False,
):
    """Splink settings for the fields. ``households``: the records hold families (see
    ``backends.HOUSEHOLD_SHARE``), so relatives at one address are kept apart
    (``comparisons.household``)."""
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="uid",
        comparisons=comparisons_for(fields, with_distance, uk, households),
        blocking_rules_to_generate_predictions=blocking_rules(fields),
        # Per-comparison columns only when the caller keeps them: carried through every
        # candidate pair before the threshold, they cost about a tenth of scoring's CPU.
        # (Splink keeps gamma_ only with the matching columns.)
        retain_matching_columns=detail,
        retain_intermediate_calculation_columns=detail,
        additional_columns_to_retain=["source", "record_id"],
        probability_two_random_records_match=probability_two_random_records_match,
        max_iterations=20,
    )


def training_rules(fields: list[str]) -> list[str]:
    """EM sessions: each estimates m for the comparisons not used in its own rule.

    Rules that admit mostly true matches or mostly random pairs train well; a rule such as
    "same postcode" admits households (parents, children, twins), and EM then learns that
    people at one address are one person. So: an identifier when there is one (every other
    field), date of birth (names, address, postcode, the identifier), else full name (date of
    birth); never the address alone.
    """
    rules = []
    # An identifier trains every other field on (nearly) pure matches; date of birth then
    # trains the identifier itself.
    # The given name is in the rule too: a wrong NHS number is often another resident's, a
    # household member's, and such pairs would teach EM that relatives are one person.
    for identifier in ("nhs_number", "other_id"):
        if identifier in fields:
            rule = f"l.{identifier} = r.{identifier}"
            if "given_name" in fields:
                rule += " AND l.given_name = r.given_name"
            rules.append(rule)
            break
    if "date_of_birth" in fields:
        rules.append("l.dob = r.dob")
    no_identifier = not rules or rules == ["l.dob = r.dob"]
    if no_identifier and "surname" in fields and "given_name" in fields:
        rules.append("l.surname = r.surname AND l.given_name = r.given_name")
    if not rules:
        # Few fields: each session trains the others (the address risk is accepted here).
        for name, column in (
            ("given_name", "given_name"),
            ("surname", "surname"),
            ("postcode", "postcode"),
        ):
            if name in fields:
                rules.append(f"l.{column} = r.{column}")
    return rules


def deterministic_rules(fields: list[str]) -> list[str]:
    rules = []
    if "nhs_number" in fields:
        rules.append("l.nhs_number = r.nhs_number AND l.nhs_valid")
    if {"given_name", "surname", "date_of_birth"} <= set(fields):
        rules.append("l.given_name = r.given_name AND l.surname = r.surname AND l.dob = r.dob")
    elif {"given_name", "surname", "postcode"} <= set(fields):
        rules.append(
            "l.given_name = r.given_name AND l.surname = r.surname AND l.postcode = r.postcode"
        )
    if "other_id" in fields and not rules:
        rules.append("l.other_id = r.other_id")
    return rules


def recommended_threshold(probabilities: np.ndarray) -> float:
    """The match probability maximising the F1 the model expects of its own scores.

    Taking each pair's probability as the chance it is a match, the expected true positives at
    threshold t are the sum of p over pairs at or above t, the expected false positives the sum
    of 1 - p, and the expected matches in all the sum of p over every candidate pair.
    """
    p = np.sort(np.asarray(probabilities, dtype=float))[::-1]
    if len(p) == 0:
        return MIN_RECOMMENDED_THRESHOLD
    expected_matches = p.sum()
    true_positives = np.cumsum(p)
    false_positives = np.cumsum(1 - p)
    f1 = 2 * true_positives / (true_positives + false_positives + expected_matches)
    best = p[int(np.argmax(f1))]
    return float(min(max(best, MIN_RECOMMENDED_THRESHOLD), MAX_RECOMMENDED_THRESHOLD))
