from __future__ import annotations

from http import HTTPStatus

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    PrefixLoader,
    select_autoescape,
)

from civicshare.web import WEB_DIR

environment = Environment(
    loader=ChoiceLoader(
        [
            FileSystemLoader(WEB_DIR / "templates"),
            PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
        ]
    ),
    autoescape=select_autoescape(["html"]),
)
templates = Jinja2Templates(env=environment)


def render(request: Request, template: str, status_code: int = 200, **context):
    settings = request.app.state.settings
    context.setdefault("partnership_name", settings.partnership_name)
    context.setdefault("csp_nonce", getattr(request.state, "csp_nonce", None))
    # Set by accounts.api.optional_actor when the page asked who is signed in.
    context.setdefault("actor", getattr(request.state, "actor", None))
    context.setdefault("signed_in", getattr(request.state, "web_session", None) is not None)
    # Copied when the session was read, so an error page rendered after its unit of work
    # was rolled back still carries it.
    context.setdefault("csrf_token", getattr(request.state, "csrf_token", ""))
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def error_page(request: Request, status: int, detail: str | None):
    return render(
        request,
        "error.html",
        status_code=status,
        status=status,
        title=HTTPStatus(status).phrase,
        detail=detail,
    )
