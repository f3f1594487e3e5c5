"""Row conditions as an author writes them, one a line, and the dataset contracts they are
checked against.

An agreement's row scope holds its conditions as JSON (`row_scope["conditions"]`: a list of
{provider, dataset, column, op, values | low, high}); decide() hands those on one dataset to the
data plane, which delivers only the rows that meet every one (`dataplane.grant.RowCondition`).
The page writes them in a small syntax, one a line:

    worcs-acute/acute-admissions: DISCH_PATHWAY in 1, 2, 3
    worcs-acute/acute-admissions: SEX = F
    worcs-acute/acute-admissions: CFS_SCORE between 5 and 9
    worcs-acute/acute-admissions: LOS_DAYS at least 3          (or: at most 3)
    worcs-acute/acute-admissions: DISCH_DT is recorded          (or: is empty)

`provider/dataset:` may be left out when the agreement's data items come from one dataset.
A value holding a comma is written in double quotes."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session, object_session

from civicshare.dataplane.grant import ConditionOp
from civicshare.datasets import service as datasets
from civicshare.datasets.contracts import Column

# (provider key, dataset name) -> the columns of that dataset's current contract, by name.
ContractColumns = Mapping[tuple[str, str], Mapping[str, Column]]

SYNTAX_HELP = (
    "Write one condition a line, such as “worcs-acute/acute-admissions: DISCH_PATHWAY in 1, 2, "
    "3”, “COLUMN = value”, “COLUMN between 1 and 5”, “COLUMN at least 1”, “COLUMN at most 5”, "
    "“COLUMN is empty” or “COLUMN is recorded”"
)

_PREFIX = re.compile(r"^([a-z0-9][a-z0-9-]*)/([a-z0-9][a-z0-9-]*)\s*:\s*(.*)$")
_COLUMN = r"(?P<column>\S.*?)"
_FORMS: list[tuple[re.Pattern[str], ConditionOp, str]] = [
    (re.compile(rf"^{_COLUMN}\s+is\s+empty$", re.I), ConditionOp.is_null, ""),
    (re.compile(rf"^{_COLUMN}\s+is\s+recorded$", re.I), ConditionOp.is_not_null, ""),
    (
        re.compile(rf"^{_COLUMN}\s+between\s+(?P<low>.+?)\s+and\s+(?P<high>.+)$", re.I),
        ConditionOp.between,
        "both",
    ),
    (re.compile(rf"^{_COLUMN}\s+at\s+least\s+(?P<low>.+)$", re.I), ConditionOp.between, "low"),
    (re.compile(rf"^{_COLUMN}\s+at\s+most\s+(?P<high>.+)$", re.I), ConditionOp.between, "high"),
    (re.compile(rf"^{_COLUMN}\s+in(?:\s+(?P<values>.*))?$", re.I), ConditionOp.one_of, ""),
    (re.compile(r"^(?P<column>[^=]*?)\s*=\s*(?P<values>.*)$"), ConditionOp.equals, ""),
]


class ConditionSyntaxError(ValueError):
    """A line of the page's row conditions that cannot be read; the message names the line."""


def _values(text: str) -> list[str]:
    """Comma-separated values; a value holding a comma is written in double quotes."""
    row = next(csv.reader([text], skipinitialspace=True), [])
    return [value.strip() for value in row]


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text


def parse_line(line: str, number: int, default: tuple[str, str] | None) -> dict[str, Any]:
    """One line of the syntax as a stored condition; refused naming the line."""
    where = f"Line {number} (“{line.strip()}”)"
    text = line.strip()
    prefix = _PREFIX.match(text)
    if prefix:
        provider, dataset, text = prefix.group(1), prefix.group(2), prefix.group(3).strip()
    elif default is not None:
        provider, dataset = default
    else:
        raise ConditionSyntaxError(
            f"{where}: start with the provider and dataset, such as "
            "“worcs-acute/acute-admissions:”, because the data items come from more than one "
            "dataset (or none yet)"
        )
    for pattern, op, bounds in _FORMS:
        found = pattern.match(text)
        if not found or not found.group("column").strip():
            continue
        condition: dict[str, Any] = {
            "provider": provider,
            "dataset": dataset,
            "column": found.group("column").strip(),
            "op": op.value,
        }
        if op == ConditionOp.between:
            condition["low"] = _unquote(found.group("low")) if bounds in ("both", "low") else None
            condition["high"] = (
                _unquote(found.group("high")) if bounds in ("both", "high") else None
            )
            if "" in (condition["low"], condition["high"]):
                raise ConditionSyntaxError(f"{where}: give a value for each bound")
        elif op in (ConditionOp.equals, ConditionOp.one_of):
            given = found.group("values") or ""
            values = [_unquote(given)] if op == ConditionOp.equals else _values(given)
            if not values or "" in values:
                raise ConditionSyntaxError(
                    f"{where}: give "
                    + (
                        "a value after ="
                        if op == ConditionOp.equals
                        else "the values after “in”, separated by commas"
                    )
                )
            condition["values"] = values
        return condition
    raise ConditionSyntaxError(f"{where} is not a condition. {SYNTAX_HELP}")


def parse_text(text: str, default: tuple[str, str] | None) -> tuple[list[dict], list[str]]:
    """The conditions in a text (one a line, blank lines ignored) and a message per bad line."""
    conditions, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            conditions.append(parse_line(line, number, default))
        except ConditionSyntaxError as error:
            problems.append(str(error))
    return conditions, problems


def _shown(value: Any) -> str:
    text = "" if value is None else str(value)
    if "," in text or '"' in text or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def condition_line(condition: Mapping[str, Any]) -> str:
    """A stored condition in the page's syntax (what parse_line reads back)."""
    head = f"{condition.get('provider')}/{condition.get('dataset')}: {condition.get('column')}"
    op = condition.get("op")
    values = condition.get("values") or []
    if op == ConditionOp.is_null:
        return f"{head} is empty"
    if op == ConditionOp.is_not_null:
        return f"{head} is recorded"
    if op == ConditionOp.equals:
        return f"{head} = {_shown(values[0]) if values else ''}"
    if op == ConditionOp.one_of:
        return f"{head} in {', '.join(_shown(v) for v in values)}"
    low, high = condition.get("low"), condition.get("high")
    if low is not None and high is not None:
        return f"{head} between {_shown(low)} and {_shown(high)}"
    if low is not None:
        return f"{head} at least {_shown(low)}"
    return f"{head} at most {_shown(high)}"


def conditions_text(row_scope: Mapping[str, Any] | None) -> str:
    return "\n".join(condition_line(c) for c in (row_scope or {}).get("conditions") or [])


def item_datasets(version) -> list[tuple[str, str]]:
    """The (provider key, dataset) pairs the version's data items come from, in order."""
    seen: dict[tuple[str, str], None] = {}
    for item in version.data_items:
        if item.provider is not None:
            seen[(item.provider.key, item.dataset)] = None
    return list(seen)


def contract_columns(session: Session, pairs: Iterable[tuple[str, str]]) -> ContractColumns:
    """The current contract's columns of each (provider, dataset) that has one registered."""
    found: dict[tuple[str, str], dict[str, Column]] = {}
    for provider, dataset in set(pairs):
        row = datasets.get_dataset(session, provider, dataset)
        contract = datasets.current_contract(session, row) if row is not None else None
        if contract is not None:
            found[(provider, dataset)] = {c.name: c for c in contract.columns}
    return found


def columns_of(version) -> ContractColumns:
    """The contracts a version's data items and row conditions name, from the version's own
    session (none for a version that is not in the store)."""
    session = object_session(version)
    if session is None:
        return {}
    conditions = (version.row_scope or {}).get("conditions") or []
    pairs = [*item_datasets(version)]
    pairs += [(str(c.get("provider")), str(c.get("dataset"))) for c in conditions]
    return contract_columns(session, pairs)


def plain_name(columns: ContractColumns, provider: str, dataset: str, column: str) -> str:
    """A column in plain words: its contract description when it has one, else its name."""
    found = columns.get((provider, dataset), {}).get(column)
    return (found.description.strip() if found else "") or column
