"""Which datasets hold people, and what linkage reads of them (through the data plane)."""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.agreements.models import Treatment
from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.core.errors import DomainError
from civicshare.datasets import service as datasets
from civicshare.partners.models import PartnerStatus, Role

PURPOSE = (
    "Maintain the partnership's person index: link records about the same resident across "
    "datasets and give each a stable pseudonymous person key."
)  # at most 200 characters: the audit log's purpose column
REVIEW_PURPOSE = "Clerical review of a pair of records the person index could not decide."
# The internal grant's name in audit records; it is not an agreement between partners.
INTERNAL_GRANT = "person-index"
# The grey zone: pairs from this match probability up to the model's threshold go to review.
DEFAULT_REVIEW_LOWER = 0.3
INDEX_DIR = "person-index"
MAPPING_FILE = f"{INDEX_DIR}/mapping.parquet"
MAPPING_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("snapshot", pa.string()),  # "<partner>/<dataset>/v<N>": what the compiler joins on
        ("record_id", pa.string()),
        ("person_key", pa.string()),
    ]
)

# Contract identifier kinds -> canonical linkage columns (engine.CANONICAL_COLUMNS).
CANONICAL_OF = {
    "nhs_number": "nhs_number",
    "given_name": "given_name",
    "family_name": "surname",
    "full_name": "full_name",
    "date_of_birth": "date_of_birth",
    "postcode": "postcode",
    "address": "address",
    "uprn": "uprn",
    "other_id": "other_id",
}
SEX_COLUMNS = ("sex", "gender", "sex_code")
REVIEWER_ROLES = (Role.ig_lead, Role.admin)
FIELD_LABELS = {
    "given_name": "Given name",
    "surname": "Surname",
    "date_of_birth": "Date of birth",
    "sex": "Sex",
    "nhs_number": "NHS number",
    "other_id": "Other identifier",
    "address": "Address",
    "postcode": "Postcode",
    "uprn": "UPRN",
}


class LinkageError(DomainError):
    """A request of the person index that cannot be met; the message says why. Unless a
    subclass or the raise says otherwise, it conflicts with the index's state (409)."""

    status = 409


class NotAllowed(LinkageError):
    status = 403


class NotFound(LinkageError):
    status = 404


# -- which datasets hold people, and what linkage reads of them ----------------------------


@dataclass(frozen=True)
class SourcePlan:
    """What the person index reads of one snapshot: decided from its contract alone."""

    source: str  # partner/dataset
    snapshot: Any  # datasets.SnapshotInfo
    columns: dict[str, tuple[str, ...]]  # canonical column -> contract columns (in order)
    record_id: str  # contract column, or "_row" when the contract names none

    @property
    def read_columns(self) -> list[str]:
        wanted = [c for names in self.columns.values() for c in names]
        return list(dict.fromkeys(wanted))


def plan_for(snapshot) -> SourcePlan | None:
    """The columns linkage needs, or None when the dataset does not hold people (it needs a
    name and a date of birth or an NHS number)."""
    columns: dict[str, list[str]] = {}
    for column in snapshot.contract.columns:
        kind = column.identifier.value
        if kind in CANONICAL_OF:
            columns.setdefault(CANONICAL_OF[kind], []).append(column.name)
        elif column.name.lower() in SEX_COLUMNS and not column.is_identifier:
            columns.setdefault("sex", []).append(column.name)
    named = {"given_name", "surname", "full_name"} & set(columns)
    if not named or not ({"date_of_birth", "nhs_number"} & set(columns)):
        return None
    record_id = snapshot.contract.record_id or "_row"
    if record_id != "_row":
        stored = snapshot.storage.get(record_id, {})
        if not stored.get("plain"):  # an identifier as record id: use the row number instead
            record_id = "_row"
    return SourcePlan(
        source=f"{snapshot.partner_key}/{snapshot.dataset_name}",
        snapshot=snapshot,
        columns={k: tuple(v) for k, v in columns.items()},
        record_id=record_id,
    )


def person_sources(session: Session, settings: Settings) -> list[SourcePlan]:
    """Every dataset whose current snapshot holds people, from an active partner."""
    return current_plans(session, settings, plan_for)


def current_plans(
    session: Session, settings: Settings, plan_of: Callable[[Any], SourcePlan | None]
) -> list[SourcePlan]:
    """`plan_of` each active partner's current snapshot, where it gives a plan."""
    from civicshare.partners import service as partners

    plans = []
    for row in datasets.list_datasets(session):
        if row.current_version is None:
            continue
        partner = partners.get_by_key(session, row.partner_key)
        if partner is None or partner.status in (PartnerStatus.suspended, PartnerStatus.left):
            continue
        snapshot = datasets.current_snapshot(session, row.partner_key, row.dataset.name, settings)
        plan = plan_of(snapshot) if snapshot else None
        if plan is not None:
            plans.append(plan)
    return plans


def read_source(
    session: Session,
    settings: Settings,
    plan: SourcePlan,
    *,
    actor: Actor | None,
    action: str,
    purpose: str,
    record_ids: Iterable[str] | None = None,
    details: dict | None = None,
) -> pa.Table:
    """The plan's columns of its snapshot, through the data plane's compiler (the one executor),
    decrypted; audited. With `record_ids`, only those records."""
    from civicshare.dataplane import query as compiler
    from civicshare.dataplane.grant import ColumnGrant, Grant

    snapshot = plan.snapshot
    view = compiler.snapshot_view(settings, snapshot)
    if plan.record_id == "_row":
        columns = {**view.columns, "_row": compiler.StoredColumn(name="_row", plain="_row")}
        view = dataclasses.replace(view, columns=columns)
    wanted = list(dict.fromkeys([plan.record_id, *plan.read_columns]))
    grant = Grant(
        agreement=INTERNAL_GRANT,
        version=1,
        provider=snapshot.partner_key,
        recipient=settings.host_partner,
        dataset=snapshot.dataset_name,
        columns=tuple(ColumnGrant(c, Treatment.identifiable) for c in wanted),
    )
    compiled = compiler.compile_grant(grant, view)
    if record_ids is not None:
        quoted = '"' + plan.record_id.replace('"', '""') + '"'
        compiled = dataclasses.replace(
            compiled,
            sql=(
                f"SELECT * FROM ({compiled.sql}) "
                f"WHERE list_contains(CAST($record_ids AS VARCHAR[]), CAST({quoted} AS VARCHAR))"
            ),
            params={**compiled.params, "record_ids": [str(r) for r in record_ids]},
        )
    table = compiler.run(
        compiled,
        view,
        agreement_key=None,
        **compiler.snapshot_readers(settings, snapshot),
    )
    audit.record(
        session,
        actor,
        action,
        "dataset",
        plan.source,
        reason=f"Read under the internal {INTERNAL_GRANT} grant: identifier columns only.",
        purpose=purpose,
        dataset=plan.source,
        columns=wanted,
        row_count=table.num_rows,
        outcome="allowed",
        details={"snapshot": snapshot.version, "grant": INTERNAL_GRANT, **(details or {})},
    )
    return table


def _text(values: list) -> list[str | None]:
    out = []
    for value in values:
        if value is None:
            out.append(None)
        else:
            text = str(value).strip()
            out.append(text or None)
    return out


def canonical(plan: SourcePlan, table: pa.Table) -> pd.DataFrame:
    """The engine's canonical records (engine.CANONICAL_COLUMNS) from the columns read."""
    data = {name: _text(table.column(name).to_pylist()) for name in table.column_names}
    n = table.num_rows
    frame: dict[str, list] = {
        "source": [plan.source] * n,
        "record_id": [str(v) for v in table.column(plan.record_id).to_pylist()],
    }

    def first(kind: str) -> list:
        names = plan.columns.get(kind, ())
        if not names:
            return [None] * n
        return data[names[0]]

    def joined(kind: str) -> list:
        names = plan.columns.get(kind, ())
        rows = zip(*(data[name] for name in names), strict=True) if names else [()] * n
        return [" ".join(v for v in row if v) or None for row in rows]

    given, surname = joined("given_name"), first("surname")
    if "full_name" in plan.columns:
        for i, full in enumerate(first("full_name")):
            parts = (full or "").split()
            if parts and surname[i] is None:
                surname[i] = parts[-1]
                given[i] = given[i] or (" ".join(parts[:-1]) or None)
    frame.update(
        given_name=given,
        surname=surname,
        date_of_birth=[v[:10] if v else None for v in first("date_of_birth")],
        sex=first("sex"),
        nhs_number=first("nhs_number"),
        other_id=first("other_id"),
        address=joined("address"),
        postcode=first("postcode"),
        uprn=first("uprn"),
    )
    records = pd.DataFrame(frame)
    return records.drop_duplicates(subset=["record_id"], keep="first", ignore_index=True)


def _evidence_key(settings: Settings) -> bytes:
    from civicshare.identity import service as identity

    return identity.agreement_key(settings, INTERNAL_GRANT)


def evidence(settings: Settings, records: pd.DataFrame) -> list[str]:
    """A keyed hash (HMAC-SHA256) of each record's identifiers: the same only when nothing the
    linkage looks at has changed. Keyed, so it cannot be tested against guessed values."""
    key = _evidence_key(settings)
    fields = [c for c in FIELD_LABELS if c in records.columns]
    out = []
    for row in records[fields].itertuples(index=False):
        text = "\x1f".join("" if v is None or v != v else str(v) for v in row)
        out.append(hmac.digest(key, text.encode(), "sha256").hex())
    return out
