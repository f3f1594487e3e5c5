"""How each dataset says where a person lives, who they are, what they need and when the
record was last checked.

Where and who come from the dataset's contract, the columns' identifier kinds: the first
`uprn`, `address` and `postcode` column, and the name columns (`given_name`, `family_name`,
`full_name`, in the contract's order, after an honorific column named `title` when there is
one: contracts have no identifier kind for an honorific). What a person needs, which date
says the record was checked and whether a record is current are the incidents domain's own
rules (RULES) for the datasets it knows; a dataset without rules is not drawn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from civicshare.datasets.contracts import Column, ColumnType, Contract, IdentifierKind
from civicshare.incidents.service.priority import (
    asc_needs,
    community_needs,
    fire_visit_needs,
    over65_needs,
    psr_needs,
)

NAME_KINDS = (IdentifierKind.given_name, IdentifierKind.family_name, IdentifierKind.full_name)
HONORIFIC = "title"


def _always(row: dict) -> bool:
    return True


@dataclass(frozen=True)
class Reader:
    """How one dataset says where a person lives, what they need, and when it was checked."""

    needs: Callable[[dict], set[str]]
    uprn: str | None = None
    address: str | None = None  # first line, or a one-line address (up to the first comma)
    postcode: str | None = None
    verified: str | None = None
    names: tuple[str, ...] = ()
    current: Callable[[dict], bool] = _always


@dataclass(frozen=True)
class Rules:
    """What the contract does not say: which needs a row shows, the date it was last checked,
    and whether it is current."""

    needs: Callable[[dict], set[str]]
    verified: str | None = None
    current: Callable[[dict], bool] = _always


def _open_client(row: dict) -> bool:
    return str(row.get("Client Status") or "Open").strip().lower() != "closed"


RULES: dict[str, Rules] = {
    "priority-services-register": Rules(psr_needs, verified="registered_date"),
    "asc-clients": Rules(asc_needs, current=_open_client),
    "community-health": Rules(community_needs, verified="referral_date"),
    "home-fire-safety-visits": Rules(fire_visit_needs, verified="visit_date"),
    "over-65-register": Rules(over65_needs),
}


def _first(contract: Contract, kind: IdentifierKind) -> str | None:
    return next((c.name for c in contract.columns if c.identifier == kind), None)


def _is_name(column: Column) -> bool:
    if column.identifier in NAME_KINDS:
        return True
    return (
        column.identifier == IdentifierKind.none
        and column.type == ColumnType.string
        and column.name.lower() == HONORIFIC
    )


def reader_for(contract: Contract) -> Reader | None:
    """The reader of a dataset from its contract and the domain's rules; None when the
    incidents domain has no rules for the dataset."""
    rules = RULES.get(contract.name)
    if rules is None:
        return None
    return Reader(
        rules.needs,
        uprn=_first(contract, IdentifierKind.uprn),
        address=_first(contract, IdentifierKind.address),
        postcode=_first(contract, IdentifierKind.postcode),
        verified=rules.verified,
        names=tuple(c.name for c in contract.columns if _is_name(c)),
        current=rules.current,
    )
