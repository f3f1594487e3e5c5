"""Priority of needs: the categories, highest first, and how each dataset's row says which
needs a person has."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

# -- priority ------------------------------------------------------------------------------

# (key, label), highest priority first. A household's priority is its highest need.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("powered", "Depends on powered medical equipment or oxygen"),
    ("mobility", "Cannot get out unaided (mobility)"),
    ("cognitive", "Dementia, cognitive impairment or learning disability"),
    ("sensory", "Hearing or sight impaired: may not hear or see warnings"),
    ("alone85", "Aged 85 or over and living alone"),
    ("care", "Receives care and support"),
    ("other", "Other listed need (pensionable age, recovering from hospital)"),
)
RANK = {key: rank for rank, (key, _) in enumerate(CATEGORIES, start=1)}
LABEL = dict(CATEGORIES)
SHORT = {
    "powered": "Power/oxygen",
    "mobility": "Mobility",
    "cognitive": "Cognitive",
    "sensory": "Sensory",
    "alone85": "85+ alone",
    "care": "Care",
    "other": "Other",
}


def _truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    return str(value).strip().upper() in ("Y", "YES", "1", "TRUE", "T")


def _low_age(value: Any) -> int | None:
    """The youngest age a value allows: an age band ('85-89', '90+'), a year or a date."""
    if value is None:
        return None
    if isinstance(value, date):
        today = date.today()
        return today.year - value.year - ((today.month, today.day) < (value.month, value.day))
    text = str(value)
    match = re.match(r"^(\d{1,3})(?:-\d+|\+)$", text)
    if match:
        return int(match.group(1))
    match = re.match(r"^(\d{4})$", text)
    if match:
        return date.today().year - int(match.group(1)) - 1
    try:
        return _low_age(date.fromisoformat(text[:10]))
    except ValueError:
        return None


PSR_CODES = {
    "3": "powered",
    "4": "powered",
    "26": "powered",
    "37": "powered",
    "12": "mobility",
    "19": "mobility",
    "20": "cognitive",
    "15": "care",
    "33": "other",
    "9": "other",
}
ASC_REASONS = {
    "physical support": "mobility",
    "support with memory and cognition": "cognitive",
    "learning disability support": "cognitive",
    "sensory support": "sensory",
}


def psr_needs(row: dict) -> set[str]:
    """A priority services register row: the needs (CATEGORIES keys) it shows."""
    codes = str(row.get("needs_codes") or "").replace(",", ";").split(";")
    return {PSR_CODES[c.strip()] for c in codes if c.strip() in PSR_CODES}


def asc_needs(row: dict) -> set[str]:
    """An adult social care client row: the needs (CATEGORIES keys) it shows."""
    found = {"care"}
    reason = str(row.get("Primary Support Reason") or "").strip().lower()
    if reason in ASC_REASONS:
        found.add(ASC_REASONS[reason])
    return found


def community_needs(row: dict) -> set[str]:
    """A community health row: the needs (CATEGORIES keys) it shows."""
    found = set()
    service = str(row.get("service") or "").lower()
    if _truthy(row.get("home_oxygen")) or "oxygen" in service:
        found.add("powered")
    if "falls" in service or "physio" in service:
        found.add("mobility")
    if "nursing" in service or "mental" in service:
        found.add("care")
    return found


def fire_visit_needs(row: dict) -> set[str]:
    """A home fire safety visit row: the needs (CATEGORIES keys) it shows."""
    found = set()
    if _truthy(row.get("uses_oxygen")):
        found.add("powered")
    if _truthy(row.get("mobility_issues")):
        found.add("mobility")
    if _truthy(row.get("cognitive_impairment")):
        found.add("cognitive")
    if _truthy(row.get("hearing_impaired")) or _truthy(row.get("sight_impaired")):
        found.add("sensory")
    age = _low_age(row.get("occupier_dob"))
    if _truthy(row.get("lives_alone")) and age is not None and age >= 85:
        found.add("alone85")
    return found


def over65_needs(row: dict) -> set[str]:
    """An over-65 register row: the needs (CATEGORIES keys) it shows."""
    found = set()
    if _truthy(row.get("home_oxygen")):
        found.add("powered")
    if str(row.get("efi_category") or "").strip().lower() == "severe":
        found.add("mobility")
    if _truthy(row.get("dementia_register")):
        found.add("cognitive")
    age = _low_age(row.get("dob"))
    if _truthy(row.get("lives_alone")) and age is not None and age >= 85:
        found.add("alone85")
    return found
