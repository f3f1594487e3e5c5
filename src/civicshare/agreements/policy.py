"""What an agreement enforces, in words, made from the policy itself (the data items, the row
scope and its conditions, the output controls) so the document, the check-answers page and
the public register state nothing the gateway does not enforce."""

from __future__ import annotations

from dataclasses import dataclass

from civicshare.agreements.conditions import ContractColumns, columns_of, plain_name
from civicshare.agreements.models import AgreementDataItem, AgreementVersion, Treatment
from civicshare.dataplane.grant import ROUND_TO, SUPPRESS_AT_OR_BELOW, RowCondition

COUNTS_RULE = (
    f"Any count the gateway delivers is protected: counts from 1 to {SUPPRESS_AT_OR_BELOW} are "
    f"shown as *, and other counts are rounded to the nearest {ROUND_TO}. No request can turn "
    "this off."
)


def treatment_words(item: AgreementDataItem) -> str:
    if item.treatment == Treatment.identifiable:
        return "shared as is"
    if item.treatment == Treatment.pseudonymised:
        return "pseudonymised (replaced by a code that is the same only within this agreement)"
    if item.treatment == Treatment.generalised:
        how = item.generalisation.label.lower() if item.generalisation else "how is not said"
        return f"generalised ({how})"
    return "withheld (not shared)"


@dataclass(frozen=True)
class DatasetPolicy:
    """One provider's dataset under an agreement: its items and which of its rows are shared."""

    provider_key: str
    provider: str  # the partner's name
    dataset: str
    items: tuple[str, ...]  # "Plain name (COLUMN): treatment"
    rows: tuple[str, ...]  # each limit on the rows, in words

    @property
    def title(self) -> str:
        return f"{self.provider}: {self.dataset}"

    @property
    def rows_text(self) -> str:
        if not self.rows:
            return "Every record (no limit on which rows)"
        return "Only records where " + "; and ".join(self.rows)


def _item_line(item: AgreementDataItem, columns: ContractColumns, *, details: bool) -> str:
    name = plain_name(columns, item.provider.key, item.dataset, item.column)
    shown = item.column if name == item.column else f"{name} ({item.column})"
    line = f"{shown}: {treatment_words(item)}"
    if details:
        line += (
            f"; special category: {item.special_category.label}" if item.special_category else ""
        )
        line += "; criminal offence data" if item.criminal_offence else ""
        line += "" if item.personal else "; not personal data"
    return line


def condition_words(condition: dict, name: str) -> str:
    """A stored row condition in words, naming its column by `name`."""
    try:
        return RowCondition.from_json(condition).describe(name)
    except (KeyError, ValueError):  # not a condition the gateway can enforce: say so
        return f"{name}: an incomplete condition ({condition.get('op')})"


def scope_limits(version: AgreementVersion) -> list[str]:
    """The age and district scope, which applies to every dataset of the agreement."""
    scope = version.row_scope or {}
    limits = []
    if scope.get("min_age") is not None:
        limits.append(f"the person is aged {scope['min_age']} or over")
    if scope.get("max_age") is not None:
        limits.append(f"the person is aged {scope['max_age']} or under")
    if scope.get("recipient_district_only"):
        limits.append("the person lives in the receiving district council's district")
    return limits


def dataset_policies(
    version: AgreementVersion, columns: ContractColumns | None = None, *, details: bool = True
) -> list[DatasetPolicy]:
    """Per provider dataset, in the order its data items are listed: every item by its plain
    name with its treatment, and the row conditions and the age and district scope in words.
    `details` adds special category, criminal offence and not-personal marks to each item."""
    columns = columns_of(version) if columns is None else columns
    grouped: dict[tuple[str, str], list[AgreementDataItem]] = {}
    for item in version.data_items:
        grouped.setdefault((item.provider.key, item.dataset), []).append(item)
    conditions = (version.row_scope or {}).get("conditions") or []
    limits = scope_limits(version)
    policies = []
    for (provider, dataset), items in grouped.items():
        rows = [
            condition_words(c, plain_name(columns, provider, dataset, str(c.get("column"))))
            for c in conditions
            if c.get("provider") == provider and c.get("dataset") == dataset
        ]
        policies.append(
            DatasetPolicy(
                provider_key=provider,
                provider=items[0].provider.name,
                dataset=dataset,
                items=tuple(_item_line(i, columns, details=details) for i in items),
                rows=tuple([*rows, *limits]),
            )
        )
    return policies
