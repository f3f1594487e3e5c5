"""The demo partnership: who holds which synthetic dataset.

Organisation names are the real bodies of the Worcestershire partnership (public facts), but the
``ods_code`` values are **fictional**: they follow the shape of Organisation Data Service codes
(three characters for NHS trusts and the ICB, five for other bodies) and every one carries a ``9``
in a position real codes for these bodies do not use, so they can never be confused with, or
looked up as, a real organisation's code.
"""

from __future__ import annotations

PARTNER_TYPES = (
    "county_council",
    "district_council",
    "nhs_trust",
    "icb",
    "police",
    "fire_and_rescue",
    "childrens_trust",
    "other",
)

PARTNERS: list[dict] = [
    {
        "key": "worcestershire-cc",
        "name": "Worcestershire County Council",
        "type": "county_council",
        "ods_code": "L9C01",
        "description": "County council; also the registration service, highways authority and "
        "rights of way authority.",
    },
    {
        "key": "bromsgrove-dc",
        "name": "Bromsgrove District Council",
        "type": "district_council",
        "ods_code": "L9D01",
        "district": "bromsgrove",
    },
    {
        "key": "malvern-hills-dc",
        "name": "Malvern Hills District Council",
        "type": "district_council",
        "ods_code": "L9D02",
        "district": "malvern-hills",
    },
    {
        "key": "redditch-bc",
        "name": "Redditch Borough Council",
        "type": "district_council",
        "ods_code": "L9D03",
        "district": "redditch",
    },
    {
        "key": "worcester-city",
        "name": "Worcester City Council",
        "type": "district_council",
        "ods_code": "L9D04",
        "district": "worcester",
    },
    {
        "key": "wychavon-dc",
        "name": "Wychavon District Council",
        "type": "district_council",
        "ods_code": "L9D05",
        "district": "wychavon",
    },
    {
        "key": "wyre-forest-dc",
        "name": "Wyre Forest District Council",
        "type": "district_council",
        "ods_code": "L9D06",
        "district": "wyre-forest",
    },
    {
        "key": "worcs-acute",
        "name": "Worcestershire Acute Hospitals NHS Trust",
        "type": "nhs_trust",
        "ods_code": "R9W",
    },
    {
        "key": "hw-health-care",
        "name": "Herefordshire and Worcestershire Health and Care NHS Trust",
        "type": "nhs_trust",
        "ods_code": "R9H",
    },
    {
        "key": "hw-icb",
        "name": "NHS Herefordshire and Worcestershire Integrated Care Board",
        "type": "icb",
        "ods_code": "Q9H",
    },
    {
        "key": "west-mercia-police",
        "name": "West Mercia Police",
        "type": "police",
        "ods_code": "P9W01",
    },
    {
        "key": "hw-fire",
        "name": "Hereford & Worcester Fire and Rescue Service",
        "type": "fire_and_rescue",
        "ods_code": "F9H01",
    },
    {
        "key": "worcs-children-first",
        "name": "Worcestershire Children First",
        "type": "childrens_trust",
        "ods_code": "L9T01",
    },
    {
        "key": "mercia-water",
        "name": "Mercia Water (fictional utility)",
        "type": "other",
        "ods_code": "X9M01",
        "description": "A fictional water company: priority services register and street works.",
    },
    {
        "key": "mercian-gas",
        "name": "Mercian Gas Networks (fictional utility)",
        "type": "other",
        "ods_code": "X9G01",
        "description": "A fictional gas distribution network: street works.",
    },
    {
        "key": "severn-vale-power",
        "name": "Severn Vale Power (fictional utility)",
        "type": "other",
        "ods_code": "X9E01",
        "description": "A fictional electricity distribution network: street works.",
    },
    {
        "key": "wyvern-fibre",
        "name": "Wyvern Fibre (fictional utility)",
        "type": "other",
        "ods_code": "X9T01",
        "description": "A fictional telecoms network: street works.",
    },
]

PARTNER_BY_KEY = {p["key"]: p for p in PARTNERS}
DISTRICT_PARTNER = {p["district"]: p["key"] for p in PARTNERS if "district" in p}
