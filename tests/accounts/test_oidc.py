"""Signing in with a partner's own OpenID provider, against a real one started here.

`oidc-provider-mock` is a real OpenID Connect provider (Authlib's authorisation server behind
Flask) served by werkzeug on a free port of this machine: discovery, the authorisation form,
the token endpoint and signed ID tokens are all real HTTP. The gateway runs under uvicorn, and
the test is the browser: an HTTP client with a cookie jar, following redirects."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx2
import oidc_provider_mock
import pytest
import werkzeug.serving
from sqlalchemy import select
from typer.testing import CliRunner

from civicshare import db
from civicshare.accounts import oidc
from civicshare.accounts.models import Credential, CredentialKind, OidcSignInAttempt
from civicshare.app import create_app
from civicshare.audit.models import AuditRecord
from civicshare.cli import app as cli_app
from civicshare.partners import service as partners
from tests.browser import serve_in_thread
from tests.conftest import TEST_PASSWORD, post_sign_in

CLIENT_ID = "civicshare-gateway"
SECRET_ENV = "CIVICSHARE_TEST_OIDC_SECRET"


class RecordingProvider:
    """WSGI middleware in front of the provider that keeps what the gateway sent it: the
    authorisation requests' PKCE challenges and the token requests' forms."""

    def __init__(self, app):
        self.app = app
        self.authorizations: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.token_auth: list[str | None] = []

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == "/oauth2/authorize" and method == "GET":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            self.authorizations.append({k: v[0] for k, v in query.items()})
        if path == "/oauth2/token" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            self.token_requests.append({k: v[0] for k, v in parse_qs(body.decode()).items()})
            self.token_auth.append(environ.get("HTTP_AUTHORIZATION"))
        return self.app(environ, start_response)


@pytest.fixture
def provider():
    """A real OpenID provider on localhost; yields (issuer, recorder)."""
    oidc.forget_cached_metadata()
    recorder = RecordingProvider(oidc_provider_mock.app(require_nonce=True))
    server = werkzeug.serving.make_server("localhost", 0, recorder, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}", recorder
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
        oidc.forget_cached_metadata()


@pytest.fixture
def gateway(settings, engine, monkeypatch):
    """The gateway under uvicorn on a free port, on this test's store; yields its URL."""
    monkeypatch.setenv(SECRET_ENV, "the-client-secret")
    # Both servers are on this machine: never through a proxy a CI environment may name.
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    with serve_in_thread(create_app(settings), log_level="warning") as url:
        yield url


@pytest.fixture
def county(sessions, provider):
    """The partner `county`, whose people sign in at the provider."""
    issuer, _ = provider
    with db.session_scope(sessions) as session:
        partner = partners.upsert(
            session,
            [
                {
                    "key": "county",
                    "name": "Shire County Council",
                    "type": "county_council",
                    "status": "endorsed",
                }
            ],
        )[0]
        oidc.configure(
            session,
            partner,
            issuer=issuer,
            client_id=CLIENT_ID,
            client_secret_env=SECRET_ENV,
            group_roles={"civicshare-ig": ["ig_lead"], "civicshare-users": ["viewer"]},
        )
    return "county"


def browser() -> httpx2.Client:
    return httpx2.Client(follow_redirects=True, timeout=20)


def set_user(issuer: str, sub: str, **claims) -> None:
    """What the provider will say about `sub` (its admin API)."""
    response = httpx2.put(f"{issuer}/users/{sub}", json=claims, timeout=10)
    assert response.status_code == 204, response.text


def authorise(client: httpx2.Client, gateway: str, partner: str, sub: str) -> httpx2.Response:
    """Start at the gateway, sign in at the provider as `sub`; the provider's redirect back to
    the gateway's callback, not yet followed."""
    form = client.get(f"{gateway}/sign-in/oidc/{partner}")
    assert form.status_code == 200 and form.url.path == "/oauth2/authorize", form.text
    back = client.post(str(form.url), data={"sub": sub}, follow_redirects=False)
    assert back.status_code == 302, back.text
    assert back.headers["location"].startswith(f"{gateway}/sign-in/oidc/callback?")
    return back


def me(client: httpx2.Client, gateway: str) -> dict:
    response = client.get(f"{gateway}/api/me")
    assert response.status_code == 200, response.text
    return response.json()


def audited(sessions, action: str) -> list[AuditRecord]:
    with db.session_scope(sessions) as session:
        rows = session.scalars(select(AuditRecord).where(AuditRecord.action == action)).all()
        session.expunge_all()
        return list(rows)


def with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_sign_in_with_the_provider_maps_groups_to_roles(gateway, provider, county, sessions):
    issuer, recorder = provider
    set_user(
        issuer,
        "u-1001",
        email="Ana@Shire.example",
        email_verified=True,
        name="Ana Shire",
        groups=["civicshare-ig", "civicshare-users", "unrelated"],
    )
    with browser() as client:
        page = client.get(f"{gateway}/sign-in")
        assert "Sign in with Shire County Council's account" in page.text
        assert 'name="password"' in page.text  # the password form stays
        back = authorise(client, gateway, county, "u-1001")
        landed = client.get(back.headers["location"])
        assert landed.status_code == 200 and landed.url.path == "/"
        assert me(client, gateway) == {
            "person": "Ana Shire",
            "partner": "Shire County Council",
            "partner_key": "county",
            "roles": ["ig_lead", "viewer"],
            "via": "session",
            "scopes": None,
        }
    # PKCE: the challenge was S256 of the verifier the gateway later sent with the code.
    (asked,) = recorder.authorizations
    (exchanged,) = recorder.token_requests
    assert asked["code_challenge_method"] == "S256"
    digest = hashlib.sha256(exchanged["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == asked["code_challenge"]
    assert asked["nonce"] and asked["state"] and asked["scope"] == "openid email profile"
    assert recorder.token_auth[0].startswith("Basic ")  # client_secret_basic
    assert "client_secret" not in exchanged
    with db.session_scope(sessions) as session:
        credential = session.scalars(
            select(Credential).where(Credential.kind == CredentialKind.oidc)
        ).one()
        assert (credential.issuer, credential.subject) == (issuer, "u-1001")
        assert session.scalars(select(OidcSignInAttempt)).all() == []  # used once
        person = partners.get_person_by_email(session, "ana@shire.example")
        assert person.id == credential.person_id
    (signed_in,) = audited(sessions, "signed_in")
    assert signed_in.details["via"] == "oidc" and signed_in.details["partner"] == "county"


def test_changed_groups_change_the_roles_at_the_next_sign_in(gateway, provider, county, sessions):
    issuer, _ = provider
    set_user(issuer, "u-2", email="bo@shire.example", email_verified=True, groups=["civicshare-ig"])
    with browser() as client:
        client.get(authorise(client, gateway, county, "u-2").headers["location"])
        assert me(client, gateway)["roles"] == ["ig_lead"]
    set_user(
        issuer, "u-2", email="bo@shire.example", email_verified=True, groups=["civicshare-users"]
    )
    with browser() as client:
        client.get(authorise(client, gateway, county, "u-2").headers["location"])
        assert me(client, gateway)["roles"] == ["viewer"]  # ig_lead taken away
    changes = audited(sessions, "roles_changed")
    assert [(c.details["before"], c.details["after"]) for c in changes] == [
        ([], ["ig_lead"]),
        (["ig_lead"], ["viewer"]),
    ]


def test_a_person_in_no_mapped_group_is_refused_and_it_is_audited(
    gateway, provider, county, sessions
):
    issuer, _ = provider
    set_user(issuer, "u-3", email="cy@shire.example", email_verified=True, groups=["payroll"])
    with browser() as client:
        refused = client.get(authorise(client, gateway, county, "u-3").headers["location"])
        assert refused.status_code == 400
        assert "not in any group that gives access" in refused.text
        assert client.get(f"{gateway}/api/me").status_code == 401
    (record,) = audited(sessions, "sign_in_refused")
    assert "not in any group" in record.details["reason"]
    with db.session_scope(sessions) as session:
        assert partners.get_person_by_email(session, "cy@shire.example") is None


def test_a_wrong_state_or_another_browser_is_refused(gateway, provider, county):
    issuer, _ = provider
    set_user(
        issuer, "u-4", email="di@shire.example", email_verified=True, groups=["civicshare-users"]
    )
    with browser() as client:
        callback = authorise(client, gateway, county, "u-4").headers["location"]
        forged = client.get(with_query(callback, state="not-the-state"))
        assert forged.status_code == 400 and "Start again" in forged.text
        assert client.get(f"{gateway}/api/me").status_code == 401
    with browser() as client:
        callback = authorise(client, gateway, county, "u-4").headers["location"]
        with browser() as other:  # the right state, in a browser that did not start it
            stolen = other.get(callback)
            assert stolen.status_code == 400 and "another browser" in stolen.text
            assert other.get(f"{gateway}/api/me").status_code == 401


def test_a_replayed_code_is_refused(gateway, provider, county):
    issuer, _ = provider
    set_user(
        issuer, "u-5", email="ed@shire.example", email_verified=True, groups=["civicshare-users"]
    )
    with browser() as client:
        callback = authorise(client, gateway, county, "u-5").headers["location"]
        assert client.get(callback).url.path == "/"
        client.cookies.clear()
        again = client.get(callback)  # the same state and code once more
        assert again.status_code == 400 and "already used" in again.text
        # And the code under a fresh state of this browser: the provider refuses it.
        fresh = authorise(client, gateway, county, "u-5").headers["location"]
        code = parse_qs(urlsplit(callback).query)["code"][0]
        replayed = client.get(with_query(fresh, code=code))
        assert replayed.status_code == 400 and "refused to finish" in replayed.text
        assert client.get(f"{gateway}/api/me").status_code == 401


def test_the_id_token_nonce_is_checked(gateway, provider, county, sessions):
    """A code obtained for another sign-in (its own nonce) injected into this one."""
    issuer, _ = provider
    set_user(
        issuer, "u-6", email="fi@shire.example", email_verified=True, groups=["civicshare-users"]
    )
    with browser() as victim, browser() as attacker:
        victims = authorise(victim, gateway, county, "u-6").headers["location"]
        attackers = authorise(attacker, gateway, county, "u-6").headers["location"]
        injected = with_query(victims, code=parse_qs(urlsplit(attackers).query)["code"][0])
        refused = victim.get(injected)
        assert refused.status_code == 400 and "nonce" in refused.text
        assert victim.get(f"{gateway}/api/me").status_code == 401
    assert "nonce" in audited(sessions, "sign_in_refused")[0].details["reason"]


def test_an_existing_person_is_joined_only_by_a_confirmed_e_mail(
    gateway, provider, county, member, sessions
):
    issuer, _ = provider
    member("gus@shire.example", {"elsewhere": ["analyst"]})
    set_user(issuer, "u-7", email="gus@shire.example", groups=["civicshare-users"])
    with browser() as client:
        refused = client.get(authorise(client, gateway, county, "u-7").headers["location"])
        assert refused.status_code == 400 and "did not confirm your e-mail" in refused.text
    set_user(
        issuer, "u-7", email="gus@shire.example", email_verified=True, groups=["civicshare-users"]
    )
    with browser() as client:
        client.get(authorise(client, gateway, county, "u-7").headers["location"])
        # Signed in through the county's provider: acting for the county, not "elsewhere".
        assert me(client, gateway)["partner_key"] == "county"
    with db.session_scope(sessions) as session:
        person = partners.get_person_by_email(session, "gus@shire.example")
        kinds = sorted(
            c.kind.value
            for c in session.scalars(select(Credential).where(Credential.person_id == person.id))
        )
        assert kinds == ["oidc", "password"]


def test_password_sign_in_still_works_beside_a_provider(client, county, member):
    member("hal@shire.example", {"county": ["viewer"]})
    assert post_sign_in(client, "hal@shire.example", TEST_PASSWORD).status_code == 303
    assert client.get("/api/me").json()["roles"] == ["viewer"]


def test_an_unknown_partner_has_no_provider(client):
    response = client.get("/sign-in/oidc/nobody", follow_redirects=False)
    assert response.status_code == 404
    assert "does not sign in with its own" in response.text


def test_the_cli_sets_shows_and_removes_a_provider_and_audits_each(operator_env, sessions):
    with db.session_scope(sessions) as session:
        partners.upsert(
            session,
            [{"key": "district", "name": "Vale District Council", "type": "district_council"}],
        )
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(cli_app, ["partners", "oidc", *args])
        return result.exit_code, result.output

    code, output = run(
        "set",
        "district",
        "--issuer",
        "https://login.microsoftonline.com/tenant-1/v2.0/",
        "--client-id",
        "app-1",
        "--client-secret-env",
        "VALE_OIDC_SECRET",
        "--group",
        "civicshare-ig=ig_lead",
        "--group",
        "civicshare-ig=viewer",
        "--group",
        "analysts=analyst",
        "--trust-email",
    )
    assert code == 0, output
    assert "group civicshare-ig -> ig_lead, viewer" in output
    code, output = run("show")
    assert code == 0 and "tenant-1/v2.0" in output and "$VALE_OIDC_SECRET" in output
    code, output = run(
        "set",
        "district",
        "--issuer",
        "http://idp.example",
        "--client-id",
        "x",
        "--client-secret-env",
        "S",
        "--group",
        "g=viewer",
    )
    assert code == 2 and "must use https" in output
    code, output = run(
        "set",
        "district",
        "--issuer",
        "https://idp.example",
        "--client-id",
        "x",
        "--client-secret-env",
        "S",
        "--group",
        "g=owner",
    )
    assert code == 2 and "'owner' is not a role" in output
    code, output = run("remove", "district")
    assert code == 0 and "removed" in output
    (configured,) = audited(sessions, "oidc_configured")
    assert configured.details["after"]["client_secret_env"] == "VALE_OIDC_SECRET"
    assert configured.details["after"]["group_roles"] == {
        "analysts": ["analyst"],
        "civicshare-ig": ["ig_lead", "viewer"],
    }
    assert len(audited(sessions, "oidc_removed")) == 1
