"""Units of work at the command line: the operator's, and one acting as an API token's
membership (the token's scopes apply)."""

from __future__ import annotations

import sys

import typer

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.config import get_settings
from civicshare.core.errors import DomainError


def token_option(scope: str) -> typer.Option:
    return typer.Option(
        ...,
        envvar="CIVICSHARE_TOKEN",
        help=f"An API token with scope {scope}.",
        show_default=False,
    )


class StoreRun:
    """A unit of work at the gateway's command line (the operator, no token):
    `with StoreRun() as run:` gives run.settings and run.session; the engine is closed after."""

    def __init__(self) -> None:
        self.settings = get_settings()
        self.scope = db.store_session(self.settings)

    def __enter__(self):
        self.session = self.scope.__enter__()
        return self

    def __exit__(self, *exc):
        return self.scope.__exit__(*exc)


class TokenRun(StoreRun):
    """A unit of work acting as the token's membership, which must carry `scope`:
    `with TokenRun(token, "works:write") as run:` gives run.settings, run.session, run.actor."""

    def __init__(self, token: str, scope: str) -> None:
        super().__init__()
        self.token = token
        self.needed = scope

    def __enter__(self):
        super().__enter__()
        try:
            self.actor = accounts.token_actor(self.session, self.token)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        if not self.actor.has_scope(self.needed):
            self.__exit__(None, None, None)
            raise DomainError(
                f"This API token does not have the scope {self.needed}.", field="token", status=403
            )
        return self
