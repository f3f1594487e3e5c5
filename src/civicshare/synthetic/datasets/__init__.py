"""Every partner's datasets, each in that partner's own column names, formats and quirks.

A builder picks the people the partner would hold, runs the mess steps that make sense for that
source (a death register is not stale about addresses; an electoral register holds no date of
birth), formats the columns the partner's way, shuffles the rows, assigns the partner's own record
ids and hands the table and its truth to ``Writer``.

One module per partner family, re-exported here so ``synthetic.datasets`` imports keep working:

- ``base``          formatting helpers, ``Context``, ``Records``, ``prepare`` and ``Writer``
- ``health``        ICB (GP registrations, over-65 register), acute trust, community trust
- ``county``        county council: adult social care, death registrations
- ``safeguarding``  children's trust (child protection), fire, police
- ``districts``     district councils: council tax, electoral register, housing tenancies
- ``discount_planted``  single person discount cases planted with truth, and their noise
- ``utility``       the priority services register
- ``works``         a year's works programme of every promoter, in the shared works format
                    (``works_format``), with cases planted for co-ordination (``works_planted``)
- ``traffic``       traffic counts from the lamppost sensors on the main streets
- ``truth``         people and household truth, ``dump_json``
"""

from .base import (
    COUNTY,
    Context,
    Records,
    Writer,
    blank_to_null,
    date_arr,
    district_of_prop,
    fmt_date,
    fmt_nhs,
    join_names,
    living_with_dead,
    postcode,
    prepare,
    s_arr,
    titles,
    yn,
)
from .county import (
    SUPPORT_REASONS,
    adult_social_care,
    death_registrations,
)
from .discount_planted import plant_discount
from .districts import (
    CT_DATE_FORMAT,
    district_datasets,
)
from .health import (
    COMMUNITY_SERVICES,
    acute_admissions,
    community_health,
    discharge_outcomes,
    efi_category,
    gp_registrations,
    over_65_register,
    practice_codes,
)
from .safeguarding import (
    child_protection,
    fire_visits,
    police_markers,
)
from .traffic import (
    traffic_counts,
)
from .truth import (
    dump_json,
    write_people_truth,
)
from .utility import (
    PSR_CODES,
    priority_services,
)
from .works import (
    works,
)

__all__ = [
    "COMMUNITY_SERVICES",
    "COUNTY",
    "CT_DATE_FORMAT",
    "Context",
    "PSR_CODES",
    "Records",
    "SUPPORT_REASONS",
    "Writer",
    "acute_admissions",
    "adult_social_care",
    "blank_to_null",
    "child_protection",
    "community_health",
    "date_arr",
    "death_registrations",
    "discharge_outcomes",
    "district_datasets",
    "district_of_prop",
    "dump_json",
    "efi_category",
    "fire_visits",
    "fmt_date",
    "fmt_nhs",
    "gp_registrations",
    "join_names",
    "living_with_dead",
    "over_65_register",
    "plant_discount",
    "police_markers",
    "postcode",
    "practice_codes",
    "prepare",
    "priority_services",
    "s_arr",
    "titles",
    "traffic_counts",
    "works",
    "write_people_truth",
    "yn",
]
