"""How each dataset says where a person lives, who they are, what they need and when the
record was last checked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from civicshare.incidents.service.priority import _asc, _community, _fire, _over65, _psr


@dataclass(frozen=True)
class Reader:
    """How one dataset says where a person lives, what they need, and when it was checked."""

    needs: Callable[[dict], set[str]]
    uprn: str | None = None
    address: str | None = None  # first line, or a one-line address (up to the first comma)
    postcode: str | None = None
    verified: str | None = None
    names: tuple[str, ...] = ()
    current: Callable[[dict], bool] = lambda row: True


READERS: dict[str, Reader] = {
    "priority-services-register": Reader(
        _psr,
        address="address_1",
        postcode="postcode",
        verified="registered_date",
        names=("title", "first_name", "surname"),
    ),
    "asc-clients": Reader(
        _asc,
        address="Address",
        postcode="Post Code",
        names=("Client Name",),
        current=lambda row: str(row.get("Client Status") or "Open").strip().lower() != "closed",
    ),
    "community-health": Reader(
        _community,
        address="address_line_1",
        postcode="postcode",
        verified="referral_date",
        names=("patient_forename", "patient_surname"),
    ),
    "home-fire-safety-visits": Reader(
        _fire,
        uprn="uprn",
        address="address",
        postcode="postcode",
        verified="visit_date",
        names=("occupier_name",),
    ),
    "over-65-register": Reader(
        _over65,
        postcode="postcode",
        names=("forename", "surname"),
    ),
}
