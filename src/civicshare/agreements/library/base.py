"""What every agreement template is built from.

A template fills a new draft: parties (by partner key in the demo partnership, else the first
partner of the same type), the permitted purposes ("code: sentence"), the purpose explained,
lawful basis, data items with their treatments, handling and DPIA screening answers. The IG
officer then checks every section: a template is a start, not an approval. Dates are left
for the drafter to set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from civicshare.works.models import TRAFFIC_COUNT_FIELDS, WORKS_FIELDS


@dataclass(frozen=True)
class Template:
    key: str
    title: str
    summary: str
    parties: list[tuple[str, str, str]]  # (partner key, partner type, role)
    fields: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)  # "provider" is a partner key


def data_items(provider: str, dataset: str, *rows: tuple) -> list[dict[str, Any]]:
    """rows: (column, treatment, generalisation, special_category, criminal_offence)."""
    out = []
    for row in rows:
        column, treatment, *rest = row
        rest += [None] * (3 - len(rest))
        out.append(
            {
                "provider": provider,
                "dataset": dataset,
                "column": column,
                "treatment": treatment,
                "generalisation": rest[0],
                "special_category": rest[1],
                "criminal_offence": bool(rest[2]),
            }
        )
    return out


ALL_NO = {
    "matching": False,
    "vulnerable": False,
    "special_at_scale": False,
    "invisible": False,
    "physical_harm": False,
    "innovative": False,
    "denial_of_service": False,
}

STANDARD_SECURITY = (
    "Transferred only through the gateway over TLS 1.2 or later; held encrypted at rest; access "
    "limited to named roles by membership; every access recorded in the audit log; staff "
    "trained in data protection annually."
)
STANDARD_RIGHTS = (
    "Each controller answers requests about the data it holds and tells the other parties "
    "within 5 working days when a request concerns shared data; privacy notices of every "
    "party describe this sharing."
)

# The shared works format (docs/synthetic-county.md) and who publishes which works dataset.
WORKS_COLUMNS = WORKS_FIELDS
TRAFFIC_COUNT_COLUMNS = TRAFFIC_COUNT_FIELDS
# (partner key, partner type, datasets it provides) for the street-works agreement
WORKS_PROMOTERS: list[tuple[str, str, tuple[str, ...]]] = [
    ("worcestershire-cc", "county_council",
     ("highway-works", "rights-of-way-works", "traffic-counts")),
    ("bromsgrove-dc", "district_council", ("district-works-bromsgrove",)),
    ("malvern-hills-dc", "district_council", ("district-works-malvern-hills",)),
    ("redditch-bc", "district_council", ("district-works-redditch",)),
    ("worcester-city", "district_council", ("district-works-worcester",)),
    ("wychavon-dc", "district_council", ("district-works-wychavon",)),
    ("wyre-forest-dc", "district_council", ("district-works-wyre-forest",)),
    ("mercia-water", "other", ("utility-works",)),
    ("mercian-gas", "other", ("gas-works",)),
    ("severn-vale-power", "other", ("electricity-works",)),
    ("wyvern-fibre", "other", ("telecoms-works",)),
]  # fmt: skip
