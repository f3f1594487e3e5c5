"""Registration files: a batch of registrations read and checked against the registration
dataset's contract (every problem by row and field, before anything is stored), the dataset's
current rows read back for the provider itself, and the next snapshot written as CSV.

Rows are compared in their canonical form (identifiers normalised as the snapshot keeps them,
dates as ISO), so an entry published again unchanged is recognised as the same entry.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.core.errors import DomainError
from civicshare.datasets.contracts import ColumnType, Contract

# The provider reading its own dataset back to add to it: named so in the audit log.
OWN_DATA_GRANT = "provider-own-data"


class RegistrationFileError(DomainError):
    """A registrations file refused whole: every problem, by row and field."""

    status = 422

    def __init__(self, message: str, problems: list[str] | None = None, field: str = "file"):
        super().__init__(message, field=field)
        self.problems = problems or []

    def problem_members(self) -> dict[str, Any]:
        return {**super().problem_members(), "problems": self.problems[:200]}


@dataclass
class RegistrationRows:
    """The rows of a file as given (text) and canonical, with the file row number of each."""

    raw: list[dict[str, str | None]] = field(default_factory=list)
    canonical: list[dict[str, str]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)


def canon(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def read_registrations(contract: Contract, data: bytes, file_name: str) -> RegistrationRows:
    """Every row of the file checked against the contract; RegistrationFileError naming each
    problem (row, field, what is wrong; never a personal value) when any row fails."""
    from civicshare.dataplane import ingest
    from civicshare.datasets import validation

    read = RegistrationRows()
    problems: list[str] = []
    try:
        file_format = ingest.guess_format(file_name, contract)
        source = ingest.open_source(contract, io.BytesIO(data), file_format, len(data))
        first = 1
        for batch in source.batches:
            checked = validation.validate_batch(contract, batch, first, source.extra_formats)
            problems += [f"row {p.row}, {p.column}: {p.message}" for p in checked.problems]
            texts = {name: batch.column(name).to_pylist() for name in batch.schema.names}
            typed = {k: v.to_pylist() for k, v in checked.typed.items()}
            normal = {k: v.to_pylist() for k, v in checked.normalised.items()}
            for i in range(batch.num_rows):
                read.raw.append({c.name: texts.get(c.name, [None] * batch.num_rows)[i]
                                 for c in contract.columns})  # fmt: skip
                read.canonical.append(
                    {
                        c.name: canon((normal if c.name in normal else typed)[c.name][i])
                        for c in contract.columns
                    }
                )
                read.rows.append(first + i)
            first += batch.num_rows
    except ingest.FileProblem as problem:
        raise RegistrationFileError(f"{file_name}: {problem}. Nothing was stored.") from None
    if contract.record_id:
        seen: dict[str, int] = {}
        for row, values in zip(read.rows, read.canonical, strict=True):
            reference = values[contract.record_id]
            if reference and reference in seen:
                problems.append(
                    f"row {row}, {contract.record_id}: repeats the entry of row {seen[reference]}"
                )
            seen.setdefault(reference, row)
    if not read.raw and not problems:
        problems.append(f"{file_name} has no rows")
    if problems:
        raise RegistrationFileError(
            f"{file_name} has {len(problems)} problem(s); nothing was stored. "
            + "; ".join(problems[:20]),
            problems,
        )
    return read


def rows_from_json(contract: Contract, body: Any) -> bytes:
    """JSON registrations ({"registrations": [{column: value}, ...]} or the bare list) as a CSV
    in the contract's columns: the same checks then apply as to an uploaded file."""
    rows = body.get("registrations") if isinstance(body, dict) else body
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise RegistrationFileError(
            'Send {"registrations": [{"column": "value", ...}, ...]}.', field="registrations"
        )
    names = [c.name for c in contract.columns]
    problems = []
    for index, row in enumerate(rows, start=1):
        unknown = sorted(set(row) - set(names))
        if unknown:
            problems.append(f"row {index}, {unknown[0]}: is not a column of {contract.name}")
    if problems:
        raise RegistrationFileError(
            f"{len(problems)} problem(s); nothing was stored. " + "; ".join(problems[:20]),
            problems,
            field="registrations",
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow(["" if row.get(n) is None else str(row.get(n)) for n in names])
    return out.getvalue().encode()


def own_rows(
    session: Session, settings: Settings, actor: Actor | None, snapshot
) -> list[dict[str, Any]]:
    """Every row of the provider's current snapshot, read back for the provider itself (to add
    new entries to), through the data plane's compiler; audited."""
    names = [c.name for c in snapshot.contract.columns]
    table = _read_own(settings, snapshot, names)
    audit.record(
        session,
        actor,
        "events.registrations_read_back",
        "dataset",
        f"{snapshot.partner_key}/{snapshot.dataset_name}",
        reason="The registration service's own entries, read to add new ones to them.",
        dataset=f"{snapshot.partner_key}/{snapshot.dataset_name}",
        columns=names,
        row_count=table.num_rows,
        outcome="allowed",
        details={"snapshot": snapshot.version, "grant": OWN_DATA_GRANT},
    )
    return table.to_pylist()


def _read_own(settings: Settings, snapshot, names: list[str]):
    """The named columns of every row of a snapshot, for its own partner, through the data
    plane's compiler (an arrow table). The caller audits."""
    from civicshare.agreements.models import Treatment
    from civicshare.dataplane import query as compiler
    from civicshare.dataplane.grant import ColumnGrant, Grant

    view = compiler.snapshot_view(settings, snapshot)
    grant = Grant(
        agreement=OWN_DATA_GRANT,
        version=1,
        provider=snapshot.partner_key,
        recipient=snapshot.partner_key,
        dataset=snapshot.dataset_name,
        columns=tuple(ColumnGrant(name, Treatment.identifiable) for name in names),
    )
    compiled = compiler.compile_grant(grant, view)
    return compiler.run(
        compiled, view, agreement_key=None, **compiler.snapshot_readers(settings, snapshot)
    )


def joint_accounts(
    session: Session, settings: Settings, actor: Actor | None, snapshot, record_ids: set[str]
) -> dict[str, bool] | None:
    """Which of these council tax accounts name another liable person (a joint account: the
    contract's full-name columns, beside the lead's forename and surname): record id -> True
    when joint, False when the deceased was the only liable person. Read for the account's
    own partner (the reference and those columns only; nothing but yes or no is kept) to say
    which action a death needs; audited. None when the contract has no such column or no
    record id (the gateway cannot tell)."""
    contract = snapshot.contract
    others = [c.name for c in contract.columns if c.identifier.value == "full_name"]
    if not others or not contract.record_id:
        return None
    table = _read_own(settings, snapshot, [contract.record_id, *others])
    wanted = {canon(r) for r in record_ids}
    joint = {}
    for row in table.to_pylist():
        reference = canon(row[contract.record_id])
        if reference in wanted:
            joint[reference] = any(canon(row[name]) for name in others)
    audit.record(
        session,
        actor,
        "events.accounts_read",
        "dataset",
        f"{snapshot.partner_key}/{snapshot.dataset_name}",
        reason="Whether the deceased's accounts name another liable person (close the account "
        "or remove the deceased), read for the account holder's own notifications.",
        dataset=f"{snapshot.partner_key}/{snapshot.dataset_name}",
        columns=[contract.record_id, *others],
        row_count=len(joint),
        outcome="allowed",
        details={"snapshot": snapshot.version, "grant": OWN_DATA_GRANT},
    )
    return joint


def _cell(contract: Contract, column, value: Any) -> str:
    if value is None:
        return ""
    if column.type in (ColumnType.date, ColumnType.datetime):
        if isinstance(value, str):
            value = date.fromisoformat(value[:10])
        return value.strftime(contract.formats_for(column)[0])
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def snapshot_csv(
    contract: Contract, earlier: list[dict[str, Any]], new: list[dict[str, str | None]]
) -> bytes:
    """The next snapshot: the earlier rows (as read back) and the new rows (as given)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in contract.columns])
    for row in earlier:
        writer.writerow([_cell(contract, c, row.get(c.name)) for c in contract.columns])
    for row in new:
        writer.writerow(["" if row.get(c.name) is None else row[c.name] for c in contract.columns])
    return out.getvalue().encode()


def parse_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise RegistrationFileError("The body is not JSON.", field="body") from None
