"""Delivery: decide, audit, execute, audit, receipt. The one door every read path uses.

    share(session, settings, request, via="api", output_format="json") -> Delivery

A denied decision is audited and raised as Denied. An allowed one is executed; the output is
hashed and the audit record written *before* any row is returned, so if the audit cannot be
written no data flows (fail closed). A file (csv, parquet) is written by share() too, its
digest the SHA-256 of the file as sent: to `out` (under a staging name until the audit record
and receipt are written), or kept in `Delivery.content`.
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
from sqlalchemy.orm import Session

from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.core.errors import DomainError
from civicshare.dataplane import output
from civicshare.dataplane import query as compiler
from civicshare.partners import service as partners
from civicshare.sharing.models import Receipt
from civicshare.sharing.service import MALFORMED, Decision, ShareRequest, decide

OUTPUT_FORMATS = ("json", "csv", "parquet")


class Denied(DomainError):
    """A denied decision, audited: 403 for a refusal by the rules, 422 for a request holding a
    resident's identifier; the clause in the X-Civicshare-Clause header."""

    def __init__(self, decision: Decision):
        super().__init__(decision.reason)
        self.decision = decision

    @property
    def status(self) -> int:  # type: ignore[override]
        return 422 if self.decision.clause in MALFORMED else 403

    def response_headers(self) -> dict[str, str]:
        return {"X-Civicshare-Clause": self.decision.clause}


@dataclass(frozen=True)
class Delivery:
    decision: Decision
    table: pa.Table
    receipt_id: int
    output_sha256: str
    snapshot_version: int
    # The file asked for (output_format csv or parquet) as it is to be sent, unless share()
    # wrote it to `out`; None for json.
    content: bytes | None = None


def output_digest(table: pa.Table) -> str:
    """SHA-256 of the delivered rows in Arrow IPC form, for rows not delivered as a file (JSON
    pages, in-process services). The stream is hashed as it is written, never held whole in
    memory."""
    sink = output.HashingWriter()
    with ipc.new_stream(pa.PythonFile(sink, mode="w"), table.schema) as writer:
        writer.write_table(table)
    return sink.digest.hexdigest()


@contextlib.contextmanager
def _staged(out: Path | None, output_format: str):
    """A staging name beside `out` for the file, moved onto `out` when the block ends well
    (after the audit record and receipt) and removed when it fails: no file appears
    unaudited. None when no file is to be written."""
    if out is None or output_format not in output.FILE_FORMATS:
        yield None
        return
    staging = out.with_name(f".{out.name}.{uuid.uuid4().hex}.partial")
    try:
        yield staging
        os.replace(staging, out)
    except BaseException:
        with contextlib.suppress(OSError):
            staging.unlink()
        raise


def _digest_and_file(table: pa.Table, output_format: str, staging: Path | None):
    """The output digest, and the file the recipient asked for (csv, parquet; else None):
    written to `staging` when given, else kept in memory.

    A file's digest is the SHA-256 of its bytes exactly as they are sent, hashed as they are
    written, which the receiver can check with any sha256 tool; rows delivered as JSON or in
    process are hashed as their Arrow IPC stream. Decision 0043."""
    if output_format not in output.FILE_FORMATS:
        return output_digest(table), None
    if staging is not None:
        with open(staging, "wb") as handle:
            return output.write_hashed(table, output_format, handle), None
    buffer = io.BytesIO()
    digest = output.write_hashed(table, output_format, buffer)
    return digest, buffer.getvalue()


def _named(name: str) -> str:
    """A name from the request as the audit log keeps it: REDACTED if it is an NHS number."""
    return audit.REDACTED if "an NHS number" in audit.identifiers_in(name) else name


def _audit_decision(session: Session, decision: Decision, via: str, **facts) -> None:
    request = decision.request
    # A purpose, a note or a name holding an identifier is refused by decide() and kept only as
    # REDACTED: the audit log never holds the identifier, and the denial is still recorded. The
    # purpose column holds the code the request named; the requester's note is in the details.
    dataset = f"{_named(request.provider)}/{_named(request.dataset)}"
    audit.record(
        session,
        request.actor,
        "share_allowed" if decision.allowed else "share_denied",
        "dataset",
        dataset,
        reason=decision.reason,
        purpose=audit.redacted(request.purpose),
        agreement_ref=decision.agreement,
        agreement_version=decision.version,
        dataset=dataset,
        columns=[c.column for c in decision.grant.columns]
        if decision.grant
        else [_named(c) for c in request.columns or []],
        outcome="allowed" if decision.allowed else "denied",
        details={
            "clause": decision.clause,
            "via": via,
            **({"note": audit.redacted(request.note)} if request.note else {}),
            **facts.pop("details", {}),
        },
        **facts,
    )


def share(
    session: Session,
    settings: Settings,
    request: ShareRequest,
    *,
    via: str,
    output_format: str = "json",
    out: Path | None = None,
    today: date | None = None,
) -> Delivery:
    from civicshare.datasets import service as datasets
    from civicshare.identity import service as identity

    decision = decide(session, request, today)
    if not decision.allowed:
        _audit_decision(session, decision, via)
        session.commit()  # the denial is evidence too; it must survive the error response
        raise Denied(decision)
    grant = decision.grant
    snapshot = datasets.current_snapshot(session, grant.provider, grant.dataset, settings)
    if snapshot is None:
        denied = Decision(
            False,
            f"{grant.provider} has not pushed {grant.dataset} yet.",
            "no snapshot",
            request,
            agreement=grant.agreement,
            version=grant.version,
        )
        _audit_decision(session, denied, via)
        session.commit()
        raise Denied(denied)
    view = compiler.snapshot_view(settings, snapshot)
    recipient = partners.get_by_key(session, grant.recipient)
    try:
        compiled = compiler.compile_grant(
            grant, view, recipient_district=recipient.district, today=today
        )
    except compiler.CannotExecute as error:
        denied = Decision(
            False,
            str(error),
            "cannot execute",
            request,
            agreement=grant.agreement,
            version=grant.version,
        )
        _audit_decision(session, denied, via)
        session.commit()
        raise Denied(denied) from None
    withheld: dict[str, int] = {}
    table = compiler.run(
        compiled,
        view,
        agreement_key=identity.agreement_key(settings, grant.agreement),
        recipient_district=recipient.district,
        withheld_counts=withheld,
        **compiler.snapshot_readers(settings, snapshot),
    )
    with _staged(out, output_format) as staging:
        digest, content = _digest_and_file(table, output_format, staging)
        # Fail closed: the audit record and receipt are written before any row leaves.
        _audit_decision(
            session,
            decision,
            via,
            row_count=table.num_rows,
            output_sha256=digest,
            details={
                "snapshot": snapshot.version,
                "format": output_format,
                # Rows of people who objected or opted out, counted per reason, never named.
                **({"withheld": withheld} if withheld else {}),
            },
        )
        receipt = Receipt(
            membership_id=request.actor.membership_id,
            recipient=grant.recipient,
            provider=grant.provider,
            dataset=grant.dataset,
            snapshot_version=snapshot.version,
            agreement=grant.agreement,
            agreement_version=grant.version,
            purpose=request.purpose,
            purpose_note=request.note,
            columns=[c.column for c in grant.columns],
            row_count=table.num_rows,
            output_format=output_format,
            output_sha256=digest,
            via=via,
        )
        session.add(receipt)
        session.flush()
    return Delivery(decision, table, receipt.id, digest, snapshot.version, content)


def deliveries_of(session: Session, sources: set[str]) -> list[dict]:
    """Every delivery of these datasets ("provider/dataset"), oldest first, from the receipts:
    when, to whom (partner and person), under which agreement and version, for which purpose,
    from which snapshot, how many rows. Subject access reads (the statutory grant, not an
    agreement) are the gateway answering the person, not sharing: left out."""
    from sqlalchemy import select

    from civicshare.partners.models import Membership
    from civicshare.sharing.service import SUBJECT_ACCESS_GRANT

    out = []
    receipts = session.scalars(
        select(Receipt)
        .where(Receipt.agreement != SUBJECT_ACCESS_GRANT)
        .order_by(Receipt.at, Receipt.id)
    )
    for receipt in receipts:
        source = f"{receipt.provider}/{receipt.dataset}"
        if source not in sources:
            continue
        membership = session.get(Membership, receipt.membership_id)
        out.append(
            {
                "receipt": receipt.id,
                "at": receipt.at.isoformat(timespec="seconds"),
                "source": source,
                "provider": receipt.provider,
                "dataset": receipt.dataset,
                "snapshot_version": receipt.snapshot_version,
                "recipient": receipt.recipient,
                "recipient_name": membership.partner.name if membership else receipt.recipient,
                "received_by": membership.person.display_name if membership else "",
                "agreement": receipt.agreement,
                "agreement_version": receipt.agreement_version,
                "purpose": receipt.purpose,
                "columns": ", ".join(receipt.columns or []),
                "rows": receipt.row_count,
                "via": receipt.via,
            }
        )
    return out
