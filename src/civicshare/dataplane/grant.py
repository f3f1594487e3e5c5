"""What decide() allows and the data plane delivers: the columns, each with its treatment, the
rows, and the output controls. Plain values, so the data plane needs nothing from governance."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from civicshare.agreements.models import Generalisation, Treatment

# Small-number suppression on every aggregate (NHS / OpenSAFELY convention): counts 1-7 are
# shown as "*", others rounded to the nearest 5. A request cannot switch it off.
SUPPRESS_AT_OR_BELOW = 7
ROUND_TO = 5


@dataclass(frozen=True)
class ColumnGrant:
    column: str
    treatment: Treatment
    generalisation: Generalisation | None = None


@dataclass(frozen=True)
class Withheld:
    """People whose rows a grant must not deliver, and why (an objection to the purpose, the
    national data opt-out): their person index keys, matched by the data plane against each
    row's key. Only the number of rows withheld leaves the data plane, never who."""

    reason: str
    person_keys: tuple[str, ...]


@dataclass(frozen=True)
class Grant:
    agreement: str
    version: int
    provider: str
    recipient: str
    dataset: str
    columns: tuple[ColumnGrant, ...]
    row_scope: dict[str, Any] = field(default_factory=dict)
    aggregate_by: tuple[str, ...] | None = None
    suppress_at_or_below: int = SUPPRESS_AT_OR_BELOW
    round_to: int = ROUND_TO
    conditions: tuple[RowCondition, ...] = ()  # the agreement's row conditions on this dataset
    withheld: tuple[Withheld, ...] = ()  # residents' objections and opt-outs (rights/)


class ConditionOp(StrEnum):
    equals = "equals"
    one_of = "in"
    between = "between"
    is_null = "is_null"
    is_not_null = "is_not_null"


@dataclass(frozen=True)
class RowCondition:
    """A condition every delivered row meets, on one column of the dataset's contract. Values
    are JSON scalars as the agreement stores them; the data plane binds them typed."""

    column: str
    op: ConditionOp
    values: tuple[Any, ...] = ()  # equals: one value; in: the list
    low: Any = None  # between: either bound may be missing, both are inclusive
    high: Any = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RowCondition:
        return cls(
            column=data["column"],
            op=ConditionOp(data["op"]),
            values=tuple(data.get("values") or ()),
            low=data.get("low"),
            high=data.get("high"),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"column": self.column, "op": self.op.value}
        if self.values:
            data["values"] = list(self.values)
        if self.op == ConditionOp.between:
            data["low"], data["high"] = self.low, self.high
        return data

    def describe(self, label: str | None = None) -> str:
        """In plain words, for the agreement document and the public register."""
        name = label or self.column
        listed = ", ".join(str(v) for v in self.values)
        if self.op == ConditionOp.equals:
            return f"{name} is {listed}"
        if self.op == ConditionOp.one_of:
            return f"{name} is one of {listed}"
        if self.op == ConditionOp.is_null:
            return f"{name} is empty"
        if self.op == ConditionOp.is_not_null:
            return f"{name} is recorded"
        if self.low is not None and self.high is not None:
            return f"{name} is from {self.low} to {self.high}"
        if self.low is not None:
            return f"{name} is {self.low} or more"
        return f"{name} is {self.high} or less"


def conditions_for(row_scope: dict[str, Any] | None, provider: str, dataset: str):
    """The row conditions an agreement's row scope sets on one provider's dataset.

    Stored in the version's `row_scope` as `conditions`: a list of {provider, dataset, column,
    op, values | low, high}."""
    return tuple(
        RowCondition.from_json(c)
        for c in (row_scope or {}).get("conditions", [])
        if c.get("provider") == provider and c.get("dataset") == dataset
    )
