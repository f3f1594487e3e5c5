"""The submitted form as a dependency, so page handlers that take it stay plain functions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from civicshare.core.errors import DomainError


async def form_data(request: Request) -> FormData:
    """Read on the event loop (reading the body is async; it touches no store), so the
    handler itself can be a plain `def` and do its database work in a worker thread."""
    return await request.form()


FormDep = Annotated[FormData, Depends(form_data)]


def field_errors(error: DomainError, default: str) -> dict[str, str]:
    """A refusal to show beside its field when a page shows its form again: keyed by the
    error's field, or by `default` when it names none. (A refusal a page does not catch is
    shown on the error page by `civicshare.errors`.)"""
    return {error.field or default: error.message}
