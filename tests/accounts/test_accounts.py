"""Signing in, acting as one membership, CSRF, and API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from sqlalchemy import event, text, update

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.accounts.models import ApiToken, WebSession
from civicshare.app import create_app
from civicshare.partners import service as partners
from tests.conftest import TEST_PASSWORD, sign_in


def test_passwords_are_argon2_and_short_ones_refused(sessions, member):
    member("ana@county.example", {"county": ["viewer"]})
    with db.session_scope(sessions) as session:
        person = partners.get_person_by_email(session, "ana@county.example")
        with pytest.raises(accounts.AuthError, match="at least 12 characters"):
            accounts.set_password(session, person, "short")
        credential = session.execute(db.Base.metadata.tables["credentials"].select()).one()
        assert credential.secret_hash.startswith("$argon2id$")
        assert TEST_PASSWORD not in credential.secret_hash


def test_wrong_email_and_wrong_password_read_the_same_and_lock_after_five(sessions, member):
    member("ana@county.example", {"county": ["viewer"]})
    messages = set()
    for email in ("nobody@county.example", "ana@county.example"):
        with db.session_scope(sessions) as session, pytest.raises(accounts.AuthError) as error:
            accounts.authenticate(session, email, "not the password")
        messages.add(str(error.value))
    assert len(messages) == 1
    for _ in range(4):  # five wrong in all
        with db.session_scope(sessions) as session, pytest.raises(accounts.AuthError):
            accounts.authenticate(session, "ana@county.example", "still wrong!!")
    with db.session_scope(sessions) as session, pytest.raises(accounts.AuthError, match="locked"):
        accounts.authenticate(session, "ana@county.example", TEST_PASSWORD)


def test_sign_in_with_two_memberships_asks_which_partner(client, member):
    member("jo@shared.example", {"bromsgrove": ["ig_lead"], "redditch": ["viewer"]})
    response = client.post(
        "/sign-in",
        data={"email": "jo@shared.example", "password": TEST_PASSWORD, "next": "/partners"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/choose-membership?next=/partners"
    # Signed in but acting for no one: the API says so instead of guessing.
    me = client.get("/api/me")
    assert me.status_code == 403 and "Choose which partner" in me.json()["detail"]
    page = client.get("/choose-membership")
    assert "Bromsgrove" in page.text and "Redditch" in page.text


def test_a_person_acts_as_one_membership_at_a_time(client, member):
    member("jo@shared.example", {"bromsgrove": ["ig_lead"], "redditch": ["viewer"]})
    sign_in(client, "jo@shared.example", "redditch")
    me = client.get("/api/me").json()
    assert me["partner_key"] == "redditch" and me["roles"] == ["viewer"]
    csrf = sign_in(client, "jo@shared.example", "bromsgrove")
    me = client.get("/api/me").json()
    assert me["partner_key"] == "bromsgrove" and me["roles"] == ["ig_lead"]
    assert csrf


def test_forms_without_the_csrf_token_are_refused(client, member):
    member("ana@county.example", {"county": ["viewer"]})
    csrf = sign_in(client, "ana@county.example")
    refused = client.post("/api/tokens", json={"name": "x", "scopes": ["partners:read"]})
    assert refused.status_code == 403 and "did not come from this site" in refused.json()["detail"]
    made = client.post(
        "/api/tokens",
        json={"name": "nightly", "scopes": ["partners:read"], "days": 30},
        headers={"x-csrf-token": csrf},
    )
    assert made.status_code == 201


def test_api_tokens_act_as_their_membership_within_their_scopes(client, member, sessions):
    member("ana@county.example", {"county": ["analyst"]})
    csrf = sign_in(client, "ana@county.example")
    made = client.post(
        "/api/tokens",
        json={"name": "nightly", "scopes": ["agreements:read"], "days": 30},
        headers={"x-csrf-token": csrf},
    ).json()
    assert made["token"].startswith("cs_") and made["prefix"] == made["token"][:10]
    client.cookies.clear()
    bearer = {"authorization": f"Bearer {made['token']}"}
    me = client.get("/api/me", headers=bearer).json()
    assert me == {
        "person": "Ana",
        "partner": "County",
        "partner_key": "county",
        "roles": ["analyst"],
        "via": "token",
        "scopes": ["agreements:read"],
    }
    # Outside its scopes.
    assert client.get("/api/partners", headers=bearer).status_code == 403
    # Only the digest is stored.
    with db.session_scope(sessions) as session:
        stored = session.get(ApiToken, made["id"])
        assert made["token"] not in stored.token_hash
        stored.expires_at = db.utcnow() - timedelta(seconds=1)
    expired = client.get("/api/me", headers=bearer)
    assert expired.status_code == 401 and expired.headers["www-authenticate"] == "Bearer"


def test_revoked_tokens_and_ended_memberships_stop_working(client, member, sessions):
    member("ana@county.example", {"county": ["analyst"]})
    csrf = sign_in(client, "ana@county.example")
    made = client.post(
        "/api/tokens",
        json={"name": "a", "scopes": ["partners:read"]},
        headers={"x-csrf-token": csrf},
    ).json()
    second = client.post(
        "/api/tokens",
        json={"name": "b", "scopes": ["partners:read"]},
        headers={"x-csrf-token": csrf},
    ).json()
    assert client.delete(f"/api/tokens/{made['id']}", headers={"x-csrf-token": csrf}).json()[
        "revoked_at"
    ]
    client.cookies.clear()
    assert (
        client.get("/api/me", headers={"authorization": f"Bearer {made['token']}"}).status_code
        == 401
    )
    bearer = {"authorization": f"Bearer {second['token']}"}
    assert client.get("/api/me", headers=bearer).status_code == 200
    with db.session_scope(sessions) as session:
        partner = partners.get_by_key(session, "county")
        partners.set_status(session, partner, "left", db.utcnow().date())
    assert client.get("/api/me", headers=bearer).status_code == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x", "scopes": ["everything"]}, "Unknown scope everything"),
        ({"name": "x", "scopes": []}, "at least one scope"),
        ({"name": "x", "scopes": ["partners:read"], "days": 400}, "within 1 to 365 days"),
    ],
)
def test_bad_token_requests_are_refused_with_the_reason(client, member, body, message):
    member("ana@county.example", {"county": ["analyst"]})
    csrf = sign_in(client, "ana@county.example")
    response = client.post("/api/tokens", json=body, headers={"x-csrf-token": csrf})
    assert response.status_code == 422 and message in response.json()["detail"]


def test_idle_sessions_expire(client, member, sessions):
    member("ana@county.example", {"county": ["viewer"]})
    sign_in(client, "ana@county.example")
    assert client.get("/api/me").status_code == 200
    with db.session_scope(sessions) as session:
        session.execute(
            update(WebSession).values(last_seen_at=db.utcnow() - accounts.SESSION_IDLE_TIMEOUT)
        )
    assert client.get("/api/me").status_code == 401


def test_last_seen_is_written_at_most_once_a_minute_and_keeps_a_session_alive(
    client, member, sessions
):
    member("ana@county.example", {"county": ["viewer"]})
    sign_in(client, "ana@county.example")
    recent = db.utcnow() - timedelta(seconds=20)
    idle = db.utcnow() - accounts.SESSION_IDLE_TIMEOUT + timedelta(minutes=5)

    def last_seen_after_a_request(value):
        with db.session_scope(sessions) as session:
            session.execute(update(WebSession).values(last_seen_at=value))
        assert client.get("/api/me").status_code == 200
        with db.session_scope(sessions) as session:
            return accounts._aware(session.query(WebSession).one().last_seen_at)

    # Within the minute: no write, so concurrent requests do not contend for the writer.
    assert abs(last_seen_after_a_request(recent) - recent) < timedelta(seconds=1)
    # Older: the request moves it to now, so activity still keeps the session alive.
    assert last_seen_after_a_request(idle) > db.utcnow() - timedelta(minutes=1)


def test_token_last_use_is_written_at_most_once_a_minute_and_outside_the_request(
    client, member, sessions
):
    """A write on every request held SQLite's one writer (and PostgreSQL's row lock) for the
    whole request: concurrent token requests queued behind it and failed."""
    member("ana@county.example", {"county": ["analyst"]})
    with db.session_scope(sessions) as session:
        person = partners.get_person_by_email(session, "ana@county.example")
        secret, token = accounts.create_api_token(
            session, person.memberships[0], name="t", scopes=["agreements:read"], days=1
        )
        token_id = token.id
    bearer = {"authorization": f"Bearer {secret}"}
    writes = []

    def count_writes(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS"):
            writes.append(statement)

    event.listen(client.app.state.engine, "before_cursor_execute", count_writes)
    for _ in range(5):
        assert client.get("/api/me", headers=bearer).status_code == 200
    assert len(writes) == 1

    def last_used():
        with db.session_scope(sessions) as session:
            return accounts._aware(session.get(ApiToken, token_id).last_used_at)

    first = last_used()
    assert first > db.utcnow() - timedelta(minutes=1)
    # Older than the minute: the next request moves it on, even one refused for its scope,
    # whose own unit of work is rolled back.
    old = db.utcnow() - timedelta(minutes=3)
    with db.session_scope(sessions) as session:
        session.execute(update(ApiToken).values(last_used_at=old))
    assert client.get("/api/partners", headers=bearer).status_code == 403
    assert last_used() > first - timedelta(seconds=1)
    assert len(writes) == 2


def test_a_database_call_on_the_event_loop_is_refused(settings, engine):
    """A blocking call there stalls every request the server holds: it is a bug, refused
    loudly, never a silent stall. Plain `def` routes run in worker threads and may."""
    app = create_app(settings)
    router = APIRouter()

    @router.get("/api/on-the-loop")
    async def on_the_loop(request: Request) -> dict:
        with request.app.state.engine.connect() as connection:
            return {"one": connection.execute(text("SELECT 1")).scalar_one()}

    @router.get("/api/in-a-thread")
    def in_a_thread(request: Request) -> dict:
        with request.app.state.engine.connect() as connection:
            return {"one": connection.execute(text("SELECT 1")).scalar_one()}

    app.include_router(router)
    with TestClient(app, raise_server_exceptions=True) as client:
        assert client.get("/api/in-a-thread").json() == {"one": 1}
        with pytest.raises(db.BlockingCallOnEventLoop, match="event loop"):
            client.get("/api/on-the-loop")


def test_browsers_without_a_session_are_sent_to_sign_in(client):
    response = client.get("/partners", headers={"accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/partners"


def test_sign_in_never_redirects_off_site(client, member):
    member("ana@county.example", {"county": ["viewer"]})
    response = client.post(
        "/sign-in",
        data={"email": "ana@county.example", "password": TEST_PASSWORD, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"
