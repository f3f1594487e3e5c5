"""`civicshare partners`, `people` and `charter`: the operator's view at the server.

Changes made here are recorded in the audit log as made by the operator (the OS user)."""

from __future__ import annotations

import getpass
import os
import sys
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from civicshare import db
from civicshare.accounts import oidc
from civicshare.accounts import service as accounts
from civicshare.accounts.models import TokenAuth
from civicshare.audit import service as audit
from civicshare.config import get_settings
from civicshare.core.errors import DomainError
from civicshare.partners import service
from civicshare.partners.models import PartnerStatus, PartnerType, Role

partners_app = typer.Typer(
    help="The partners of the partnership.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
people_app = typer.Typer(
    help="People, their memberships and roles.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
charter_app = typer.Typer(
    help="The data sharing charter.", no_args_is_help=True, pretty_exceptions_show_locals=False
)
tokens_app = typer.Typer(
    help="API tokens for automation.", no_args_is_help=True, pretty_exceptions_show_locals=False
)
oidc_app = typer.Typer(
    help="Signing in with a partner's own OpenID provider (Entra ID or another).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
partners_app.add_typer(oidc_app, name="oidc")
console = Console()


def _operator() -> dict:
    return {"via": "cli", "os_user": getpass.getuser()}


def _partner(session, key: str, field: str = "partner"):
    return service.require(session, key, field=field)


@partners_app.command("list")
def list_partners() -> None:
    """Every partner, its type, status and charter endorsement."""
    with db.store_session(get_settings()) as session:
        charter = service.current_charter(session)
        states = {s.partner.id: s for s in service.endorsement_states(session)}
        table = Table(
            "key",
            "name",
            "type",
            "ODS",
            "status",
            f"charter v{charter.version}" if charter else "charter",
        )
        for partner in service.list_partners(session):
            state = states.get(partner.id)
            if charter is None or state is None:
                endorsed = "-"
            else:
                endorsed = "endorsed" if state.current else "NOT endorsed"
            table.add_row(
                partner.key,
                partner.name,
                partner.type.label,
                partner.ods_code or "",
                partner.status.value,
                endorsed,
            )
        console.print(table)


@partners_app.command("add")
def add_partner(
    key: str = typer.Argument(..., help="Short key, e.g. wyre_forest."),
    name: str = typer.Option(..., help="Full name of the organisation."),
    type: PartnerType = typer.Option(..., help="Kind of organisation."),
    ods_code: str | None = typer.Option(None, help="ODS code, where it has one."),
    ico_registration: str | None = typer.Option(None, help="ICO registration number."),
) -> None:
    """Invite a partner into the partnership."""
    with db.store_session(get_settings()) as session:
        service.invite(
            session,
            None,
            key=key,
            name=name,
            type=type,
            ods_code=ods_code,
            ico_registration=ico_registration,
            operator=_operator(),
        )
    console.print(f"Invited {name} ({key}).")


@partners_app.command("dpo")
def set_dpo(
    key: str = typer.Argument(..., help="Partner key."),
    name: str | None = typer.Option(None, help="The DPO's name or role, as residents see it."),
    email: str | None = typer.Option(None, help="The DPO's e-mail address."),
    address: str | None = typer.Option(None, help="Postal address (optional)."),
) -> None:
    """Show or set the partner's data protection officer contact (public on the register;
    needed before an agreement naming the partner can be activated)."""
    with db.store_session(get_settings()) as session:
        partner = _partner(session, key, field="key")
        changes = {
            field: value.strip() or None
            for field, value in (("dpo_name", name), ("dpo_email", email), ("dpo_address", address))
            if value is not None
        }
        changed = service.update_details(session, None, partner, changes, operator=_operator())
        console.print(
            f"{partner.name}: data protection officer {partner.dpo_name or '(not recorded)'}, "
            f"{partner.dpo_email or '(no e-mail)'}"
            + (f", {partner.dpo_address}" if partner.dpo_address else "")
            + (f" (changed: {', '.join(changed)})" if changed else "")
        )


@partners_app.command("status")
def partner_status(
    key: str,
    status: PartnerStatus,
    reason: str = typer.Option(..., help="Why; kept in the audit log."),
) -> None:
    """Suspend, reinstate, or mark a partner as having left (ends its memberships)."""
    with db.store_session(get_settings()) as session:
        partner = _partner(session, key, field="key")
        before = partner.status
        service.change_status(
            session, None, partner, status, reason=reason, on=date.today(), operator=_operator()
        )
    console.print(f"{key}: {before.value} -> {status.value}")


@people_app.command("add")
def add_person(
    email: str,
    name: str = typer.Option(..., help="Display name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read a password from standard input."
    ),
) -> None:
    """Add a person (an identity). Without a password they cannot sign in yet."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with db.store_session(get_settings()) as session:
        person = service.create_person(session, email=email, display_name=name)
        if password is not None:
            accounts.set_password(session, person, password)
        audit.record(session, None, "person_added", "person", person.id, details=_operator())
    console.print(f"Added {name} <{email.lower()}>.")


@people_app.command("grant")
def grant(
    email: str,
    partner: str = typer.Argument(..., help="Partner key."),
    role: list[Role] = typer.Option(..., "--role", help="A role there; repeat for several."),
    job_title: str = typer.Option("", help="Their job title at this partner."),
) -> None:
    """Make a person a member of a partner with exactly these roles."""
    with db.store_session(get_settings()) as session:
        person = service.get_person_by_email(session, email)
        if person is None:
            raise DomainError(
                f"No one has the e-mail address {email}; add them with `civicshare people add`.",
                field="email",
                status=404,
            )
        service.grant_membership(
            session,
            None,
            _partner(session, partner),
            email=email,
            roles=role,
            job_title=job_title,
            operator=_operator(),
        )
    console.print(f"{email} is now {', '.join(sorted(r.label for r in role))} at {partner}.")


@people_app.command("list")
def list_people(
    partner: str | None = typer.Option(None, help="Only this partner's members."),
) -> None:
    """People and the memberships they hold."""
    with db.store_session(get_settings()) as session:
        table = Table("name", "e-mail", "partner", "roles", "job title")
        partners = [_partner(session, partner)] if partner else service.list_partners(session)
        for each in partners:
            for membership in service.memberships_of_partner(session, each.id):
                table.add_row(
                    membership.person.display_name,
                    membership.person.email,
                    each.key,
                    ", ".join(sorted(r.label for r in membership.roles)),
                    membership.job_title,
                )
        console.print(table)


@charter_app.command("publish")
def publish(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The charter text."),
    title: str = typer.Option(..., help="Title of this version."),
    changes: str = typer.Option("", help="What changed since the last version."),
) -> None:
    """Publish a new charter version; every partner must then re-endorse it."""
    with db.store_session(get_settings()) as session:
        version = service.publish_charter(
            session,
            title=title,
            body=file.read_text(),
            summary_of_changes=changes,
            on=date.today(),
            operator=_operator(),
        )
    console.print(f"Published charter version {version.version}.")


@charter_app.command("status")
def charter_status() -> None:
    """Who has endorsed the current charter, and who has not yet re-endorsed it."""
    with db.store_session(get_settings()) as session:
        charter = service.current_charter(session)
        if charter is None:
            raise DomainError("No charter has been published yet.", status=409)
        table = Table(
            "partner",
            f"version {charter.version}",
            "signed by",
            "on",
            title=f"Charter version {charter.version}: {charter.title}",
        )
        for state in service.endorsement_states(session):
            if state.current:
                e = state.endorsement
                table.add_row(
                    state.partner.name,
                    "endorsed",
                    f"{e.signatory_name}, {e.signatory_role}",
                    e.endorsed_on.isoformat(),
                )
            else:
                was = f" (endorsed v{state.latest_version})" if state.latest_version else ""
                table.add_row(state.partner.name, f"[red]not yet[/]{was}", "", "")
        console.print(table)


@tokens_app.command("create")
def create_token(
    email: str,
    partner: str = typer.Argument(..., help="The partner the token acts for."),
    name: str = typer.Option(..., help="What it is for."),
    scope: list[str] = typer.Option(..., "--scope", help="Repeat for several."),
    days: int = typer.Option(90, help="Days until it expires (at most 365)."),
) -> None:
    """Create an API token acting as EMAIL's membership of PARTNER; prints it once."""
    with db.store_session(get_settings()) as session:
        person = service.get_person_by_email(session, email)
        target = _partner(session, partner)
        membership = (
            next(
                (
                    m
                    for m in accounts.active_memberships(session, person.id)
                    if m.partner_id == target.id
                ),
                None,
            )
            if person
            else None
        )
        if membership is None:
            raise DomainError(f"{email} is not an active member of {partner}.", status=404)
        secret, token = accounts.create_api_token(
            session, membership, name=name, scopes=scope, days=days
        )
        audit.record(
            session,
            None,
            "token_created",
            "api_token",
            token.id,
            details={**_operator(), "scopes": token.scopes},
        )
    console.print(f"Token for {email} at {partner} (shown once):")
    print(secret)


# -- signing in with a partner's own provider ----------------------------------------------


@oidc_app.command("set")
def oidc_set(
    partner: str = typer.Argument(..., help="Partner key."),
    issuer: str = typer.Option(
        ...,
        help="The provider's issuer URL; its discovery document is "
        "ISSUER/.well-known/openid-configuration. Entra ID: "
        "https://login.microsoftonline.com/TENANT-ID/v2.0",
    ),
    client_id: str = typer.Option(..., help="The gateway's client (application) id there."),
    client_secret_env: str | None = typer.Option(
        None,
        help="Name of the server's environment variable holding the client secret (the "
        "secret itself is never stored).",
    ),
    token_auth: TokenAuth = typer.Option(
        TokenAuth.client_secret_basic, help="How the gateway authenticates at the token endpoint."
    ),
    scopes: str = typer.Option(oidc.DEFAULT_SCOPES, help="Scopes to ask for; must have openid."),
    groups_claim: str = typer.Option(
        "groups", help="The ID token claim listing the person's groups (Entra ID app roles: roles)."
    ),
    group: list[str] = typer.Option(
        ..., "--group", help="GROUP=ROLE: members of GROUP get ROLE here; repeat for more."
    ),
    trust_email: bool = typer.Option(
        False,
        "--trust-email/--no-trust-email",
        help="Take the provider's email claim as confirmed even without email_verified "
        "(Entra ID sends none): it may then join an existing person with that e-mail address.",
    ),
) -> None:
    """Let PARTNER's people sign in with their own organisation's account (replaces earlier
    settings)."""
    with db.store_session(get_settings()) as session:
        config = oidc.configure(
            session,
            _partner(session, partner),
            issuer=issuer,
            client_id=client_id,
            client_secret_env=client_secret_env,
            token_auth=token_auth,
            scopes=scopes,
            groups_claim=groups_claim,
            group_roles=oidc.parse_group_roles(group),
            trust_email=trust_email,
            operator=_operator(),
        )
        shown = oidc.shown(config)
    console.print(f"{partner} signs in with {shown['issuer']}.")
    for name, roles in shown["group_roles"].items():
        console.print(f"  group {name} -> {', '.join(roles)}")
    if client_secret_env and client_secret_env not in os.environ:
        console.print(
            f"[yellow]{client_secret_env} is not set in this shell: set it in the server's "
            "environment before anyone signs in.[/]"
        )


@oidc_app.command("show")
def oidc_show(partner: str | None = typer.Argument(None, help="Only this partner.")) -> None:
    """Which partners sign in with their own provider, and how."""
    with db.store_session(get_settings()) as session:
        partners = [_partner(session, partner)] if partner else service.list_partners(session)
        table = Table("partner", "issuer", "client id", "secret from", "groups claim", "groups")
        for each in partners:
            config = oidc.config_for(session, each.id)
            if config is None:
                continue
            shown = oidc.shown(config)
            table.add_row(
                each.key,
                shown["issuer"],
                shown["client_id"],
                f"${shown['client_secret_env']}" if shown["client_secret_env"] else "(public)",
                shown["groups_claim"] + (" (e-mail trusted)" if shown["trust_email"] else ""),
                "\n".join(f"{g} -> {', '.join(r)}" for g, r in shown["group_roles"].items()),
            )
    console.print(table)


@oidc_app.command("remove")
def oidc_remove(partner: str = typer.Argument(..., help="Partner key.")) -> None:
    """Stop PARTNER's people signing in with their provider (passwords keep working)."""
    with db.store_session(get_settings()) as session:
        removed = oidc.remove(session, _partner(session, partner), operator=_operator())
    console.print(f"{partner}: " + ("removed." if removed else "had no provider set up."))
