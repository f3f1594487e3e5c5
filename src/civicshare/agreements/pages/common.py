"""What every agreements page shares: an AgreementError as an HTTP error, a version the actor
may see, and a version's address."""

from __future__ import annotations

from fastapi import HTTPException

from civicshare.agreements import service


def or_http(error: service.AgreementError):
    raise HTTPException(error.status, error.message)


def version_or_404(session, actor, reference, number):
    try:
        return service.version_for(session, actor, reference, number)
    except service.AgreementError as error:
        or_http(error)


def url_of(version) -> str:
    return f"/agreements/{version.reference}/versions/{version.number}"
