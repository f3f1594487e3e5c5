"""Problem details (RFC 9457) for every 4xx and 5xx; HTML error pages for browsers."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from civicshare.core.errors import DomainError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(request: Request, status: int, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def wants_html(request: Request) -> bool:
    """Browsers asking for a page get an HTML error page; API clients always get JSON."""
    path = request.url.path
    if path.startswith(("/api/", "/healthz", "/openapi.json")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _respond(
    request: Request, status: int, detail: str | None, headers: dict | None = None, **extra: Any
) -> Response:
    if wants_html(request) and status == 401:
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/sign-in?next={target}", status_code=303)
    if wants_html(request) and extra.get("choose_membership"):
        return RedirectResponse("/choose-membership", status_code=303)
    if wants_html(request):
        from civicshare.web.templating import error_page

        response = error_page(request, status, detail)
    else:
        response = problem(request, status, detail, **extra)
    if headers:
        response.headers.update(headers)
    return response


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    detail = exc.detail if isinstance(exc.detail, str) else None
    if detail == HTTPStatus(exc.status_code).phrase:
        detail = None
    extra = {"choose_membership": True} if getattr(exc, "choose_membership", False) else {}
    return _respond(request, exc.status_code, detail, getattr(exc, "headers", None), **extra)


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = [
        {"location": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
        for error in exc.errors()
    ]
    summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors)
    return _respond(request, 422, f"The request is not valid: {summary}", errors=errors)


async def _domain_error(request: Request, exc: DomainError) -> Response:
    """A refusal no route answered itself: its status, its message and the field at fault."""
    headers = exc.response_headers() or None
    return _respond(request, exc.status, exc.message, headers, **exc.problem_members())


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _respond(request, 500, "Something went wrong on the gateway; it has been logged.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(Exception, _unexpected_error)
