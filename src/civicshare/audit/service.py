"""Recording who did what, as which membership, and why."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.audit.models import AuditRecord

SYSTEM = "system"


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    entity_type: str,
    entity_id: Any = None,
    *,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one record in the caller's unit of work: it commits or rolls back with the change.

    `actor` None means the gateway itself or an operator at the server's command line."""
    entry = AuditRecord(
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        person_id=actor.person_id if actor else None,
        membership_id=actor.membership_id if actor else None,
        actor_label=actor.label if actor else SYSTEM,
        reason=reason,
        details=details or {},
    )
    session.add(entry)
    session.flush()
    return entry


def history(session: Session, entity_type: str, entity_id: Any) -> list[AuditRecord]:
    return list(
        session.scalars(
            select(AuditRecord)
            .where(AuditRecord.entity_type == entity_type, AuditRecord.entity_id == str(entity_id))
            .order_by(AuditRecord.id)
        )
    )
