"""Incident response: which vulnerable households are inside an incident area, now.

A responder opens an incident (a circle or a polygon in BNG metres) under an active
*emergency* agreement their partner receives under. Every view of the households:

1. decides, per dataset the agreement shares, whether this actor may have it now
   (sharing.service.decide: the same choke point as every other read);
2. executes the grant (sharing.delivery.share: decide, audit, execute, audit, receipt). The
   executed output is kept in memory keyed by the exact grant and snapshot version, so a second
   view under an identical grant of an unchanged snapshot re-decides but does not re-read the
   Parquet; a changed grant, agreement version or snapshot misses the cache and executes again;
3. places each record at a property (UPRN as given; else its first address line and postcode
   matched to the address gazetteer; else the postcode's centroid) and keeps the records
   inside the area by an exact distance or point-in-polygon test (geometry.py);
4. writes one audit record and one incident-log entry: who saw how many households, under which
   agreement, with the SHA-256 of what was returned.

Household level shows needs as flags, never names. Named detail needs break-glass: a stated
reason, for one incident, for one membership, expiring (12 hours by default); every view is
logged and audited and queued for review by the IG leads of each partner whose data was seen.

The parts, one module each (this package re-exports what callers use):

- `incidents`: open, list, see, change the area of and close an incident; who may see one.
- `drawing`: each shared dataset read through decide -> execute and placed on properties;
  the executed rows are kept in a `DrawCache` the web app holds on `app.state`
  (`draw_cache(app)`) and passes in, never in module globals.
- `households_view`: the households inside the area, by priority then distance; exports.
- `breakglass`: named detail at one household, for a stated reason.
- `reviews`: IG leads' retrospective review of break-glass views.
- `priority` and `readers`: the needs and how each dataset's rows say them; `common`: the
  limits, the incident log, the audit record and the refusal of identifiers in free text.
"""

from civicshare.incidents.errors import IncidentError
from civicshare.incidents.gazetteer import gazetteer
from civicshare.incidents.service.breakglass import (
    INTERNAL,
    active_break_glass,
    break_glass,
    people_at,
)
from civicshare.incidents.service.common import (
    BREAK_GLASS_HOURS,
    KINDS,
    MAX_BREAK_GLASS_HOURS,
    MIN_REASON,
    OUTSIDE_AREA_M,
)
from civicshare.incidents.service.drawing import (
    MAX_EXECUTED,
    MAX_LAYERS,
    DrawCache,
    Layer,
    Located,
    Withheld,
    draw_cache,
    draw_layer,
)
from civicshare.incidents.service.households_view import (
    EXPORT_COLUMNS,
    Households,
    export_csv,
    export_geojson,
    household_key,
    households,
    record_export,
)
from civicshare.incidents.service.incidents import (
    area_from_input,
    area_of,
    close_incident,
    distance_outside,
    emergency_agreements_for,
    events,
    get_for,
    get_incident,
    list_for,
    may_see,
    membership_label,
    open_incident,
    rings_in_bng,
    update_area,
)
from civicshare.incidents.service.priority import CATEGORIES, LABEL, RANK, SHORT
from civicshare.incidents.service.readers import RULES, Reader, Rules, reader_for
from civicshare.incidents.service.reviews import review, review_queue

__all__ = [
    "BREAK_GLASS_HOURS",
    "CATEGORIES",
    "EXPORT_COLUMNS",
    "INTERNAL",
    "KINDS",
    "LABEL",
    "MAX_BREAK_GLASS_HOURS",
    "MAX_EXECUTED",
    "MAX_LAYERS",
    "MIN_REASON",
    "OUTSIDE_AREA_M",
    "RANK",
    "RULES",
    "SHORT",
    "DrawCache",
    "Households",
    "IncidentError",
    "Layer",
    "Located",
    "Reader",
    "Rules",
    "Withheld",
    "active_break_glass",
    "area_from_input",
    "area_of",
    "break_glass",
    "close_incident",
    "distance_outside",
    "draw_cache",
    "draw_layer",
    "emergency_agreements_for",
    "events",
    "export_csv",
    "export_geojson",
    "gazetteer",
    "get_for",
    "get_incident",
    "household_key",
    "households",
    "list_for",
    "may_see",
    "membership_label",
    "open_incident",
    "people_at",
    "reader_for",
    "record_export",
    "review",
    "review_queue",
    "rings_in_bng",
    "update_area",
]
