"""The submitted form as a dependency, so page handlers that take it stay plain functions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData


async def form_data(request: Request) -> FormData:
    """Read on the event loop (reading the body is async; it touches no store), so the
    handler itself can be a plain `def` and do its database work in a worker thread."""
    return await request.form()


FormDep = Annotated[FormData, Depends(form_data)]
