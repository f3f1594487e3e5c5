"""Signing in, acting as one membership, CSRF, and API tokens."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text, update

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.accounts.api import SESSION_COOKIE
from civicshare.accounts.models import ApiToken, SignInThrottle, ThrottleKind, WebSession
from civicshare.app import create_app
from civicshare.partners import service as partners
from tests.conftest import TEST_PASSWORD, post_sign_in, sign_in


def test_passwords_are_argon2_and_short_ones_refused(sessions, member):
    member("ana@county.example", {"county": ["viewer"]})
    with db.session_scope(sessions) as session:
        person = partners.get_person_by_email(session, "ana@county.example")
        with pytest.raises(accounts.AuthError, match="at least 12 characters"):
            accounts.set_password(session, person, "short")
        credential = session.execute(db.Base.metadata.tables["credentials"].select()).one()
        assert credential.secret_hash.startswith("$argon2id$")
        assert TEST_PASSWORD not in credential.secret_hash


STRANGER, REAL_USER, OTHER = "203.0.113.9", "198.51.100.20", "192.0.2.30"


def try_sign_in(sessions, email, password, address, now, monkeypatch=None):
    """(signed in?, message, was a password verified?) for one try at `now` from `address`."""
    checked = []
    if monkeypatch is not None:
        verify = accounts._verify
        monkeypatch.setattr(accounts, "_verify", lambda *args: checked.append(1) or verify(*args))
    try:
        with db.session_scope(sessions) as session:
            try:
                accounts.authenticate(session, email, password, address=address, now=now)
            except accounts.AuthError as error:
                message = str(error)
            else:
                message = None
    finally:
        if monkeypatch is not None:
            monkeypatch.setattr(accounts, "_verify", verify)
    return message is None, message, bool(checked)


def test_every_failed_sign_in_reads_the_same_even_a_throttled_real_account(
    sessions, member, monkeypatch
):
    member("ana@county.example", {"county": ["viewer"]})
    member("gone@county.example", {"county": ["viewer"]})
    with db.session_scope(sessions) as session:
        partners.get_person_by_email(session, "gone@county.example").active = False
    now = db.utcnow()
    messages = {
        "unknown e-mail": try_sign_in(sessions, "nobody@county.example", "x" * 12, OTHER, now),
        "wrong password": try_sign_in(sessions, "ana@county.example", "x" * 12, OTHER, now),
        "inactive person": try_sign_in(sessions, "gone@county.example", TEST_PASSWORD, OTHER, now),
    }
    for _ in range(accounts.THROTTLE_RULES[ThrottleKind.pair].free):
        try_sign_in(sessions, "ana@county.example", "still wrong!!", STRANGER, now)
    # Throttled: even the right password is refused, without being checked, in the same words.
    signed_in, message, checked = try_sign_in(
        sessions, "ana@county.example", TEST_PASSWORD, STRANGER, now, monkeypatch
    )
    assert not signed_in and not checked
    messages["throttled"] = (signed_in, message, False)
    assert {message for _, message, _ in messages.values()} == {accounts.SIGN_IN_FAILED}
    # An unknown e-mail is throttled exactly like a real one: throttling tells nothing either.
    for _ in range(accounts.THROTTLE_RULES[ThrottleKind.pair].free):
        try_sign_in(sessions, "nobody@county.example", "still wrong!!", STRANGER, now)
    assert not try_sign_in(sessions, "nobody@county.example", "x" * 12, STRANGER, now, monkeypatch)[
        2
    ]


def test_a_strangers_failures_do_not_stop_the_real_user_signing_in_from_elsewhere(
    sessions, member, monkeypatch
):
    member("ana@county.example", {"county": ["viewer"]})
    now = db.utcnow()
    # Far past the account-wide allowance, each try waiting out its back-off so all count.
    for n in range(accounts.THROTTLE_RULES[ThrottleKind.account].free + 5):
        now += accounts.THROTTLE_MAX_DELAY if n else timedelta(0)
        signed_in, _, checked = try_sign_in(
            sessions, "ana@county.example", "guess guess guess", STRANGER, now, monkeypatch
        )
        assert not signed_in and checked
    assert not try_sign_in(sessions, "ana@county.example", TEST_PASSWORD, STRANGER, now)[0]
    # Ana, from her own address with no recent failures, gets in with her password.
    assert try_sign_in(sessions, "ana@county.example", TEST_PASSWORD, REAL_USER, now)[0]
    # The account-wide limit still holds every address that has failed for Ana lately: a
    # third address gets one guess, then waits.
    assert try_sign_in(sessions, "ana@county.example", "another guess", OTHER, now, monkeypatch)[2]
    signed_in, _, checked = try_sign_in(
        sessions, "ana@county.example", TEST_PASSWORD, OTHER, now, monkeypatch
    )
    assert not signed_in and not checked


def _blocked_for(sessions, kind, now) -> timedelta | None:
    with db.session_scope(sessions) as session:
        (row,) = session.scalars(select(SignInThrottle).where(SignInThrottle.kind == kind))
        return accounts._aware(row.blocked_until) - now if row.blocked_until else None


def test_repeated_failures_from_one_address_are_throttled_with_growing_delay(
    sessions, member, monkeypatch
):
    """Password spraying: a different e-mail each time, so only the address count grows."""
    member("ana@county.example", {"county": ["viewer"]})
    now = db.utcnow()
    free = accounts.THROTTLE_RULES[ThrottleKind.address].free
    for n in range(free):
        try_sign_in(sessions, f"person{n}@county.example", "spray spray!", STRANGER, now)
    delays = []
    for n in range(7):
        delay = _blocked_for(sessions, ThrottleKind.address, now)
        delays.append(delay)
        # Within the back-off every try is refused unchecked, the right password included...
        almost = now + delay - timedelta(seconds=1)
        signed_in, _, checked = try_sign_in(
            sessions, "ana@county.example", TEST_PASSWORD, STRANGER, almost, monkeypatch
        )
        assert not signed_in and not checked
        # ...and refusals do not lengthen it: once it has passed, a password is checked again.
        now += delay
        signed_in, _, checked = try_sign_in(
            sessions, f"again{n}@county.example", "spray spray!", STRANGER, now, monkeypatch
        )
        assert not signed_in and checked
    assert delays == [
        timedelta(seconds=30),
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
        timedelta(minutes=8),
        timedelta(minutes=15),  # the cap
        timedelta(minutes=15),
    ]
    # Another address is not held up, and an hour's quiet forgets the failures.
    assert try_sign_in(sessions, "ana@county.example", TEST_PASSWORD, REAL_USER, now)[0]
    later = now + accounts.THROTTLE_MAX_DELAY + accounts.THROTTLE_FORGET_AFTER
    assert try_sign_in(sessions, "ana@county.example", TEST_PASSWORD, STRANGER, later)[0]


def test_the_same_email_from_one_address_backs_off_after_five_and_success_resets_it(
    sessions, member
):
    member("ana@county.example", {"county": ["viewer"]})
    now = db.utcnow()
    for _ in range(5):
        try_sign_in(sessions, "ana@county.example", "typo typo typo", REAL_USER, now)
    assert _blocked_for(sessions, ThrottleKind.pair, now) == timedelta(seconds=30)
    assert not try_sign_in(sessions, "ana@county.example", TEST_PASSWORD, REAL_USER, now)[0]
    now += timedelta(seconds=30)
    assert try_sign_in(sessions, "ana@county.example", TEST_PASSWORD, REAL_USER, now)[0]
    with db.session_scope(sessions) as session:
        kinds = set(session.scalars(select(SignInThrottle.kind)))
    assert kinds == {ThrottleKind.address, ThrottleKind.account}  # the pair count is cleared
    try_sign_in(sessions, "ana@county.example", "typo typo typo", REAL_USER, now)
    assert _blocked_for(sessions, ThrottleKind.pair, now) is None  # counting from one again


def test_only_failed_sign_ins_write_throttle_state(client, member, sessions):
    member("ana@county.example", {"county": ["viewer"]})
    writes = []

    def count_writes(_conn, _cursor, statement, *_args):
        if "sign_in_throttles" in statement.lower() and not statement.lstrip().upper().startswith(
            "SELECT"
        ):
            writes.append(statement)

    event.listen(client.app.state.engine, "before_cursor_execute", count_writes)
    csrf = sign_in(client, "ana@county.example")
    client.get("/api/me")
    client.post(
        "/api/tokens",
        json={"name": "n", "scopes": ["partners:read"]},
        headers={"x-csrf-token": csrf},
    )
    assert writes == []
    assert post_sign_in(client, "ana@county.example", "wrong wrong wrong").status_code == 400
    assert writes


def test_the_sign_in_page_gives_the_same_answer_for_unknown_and_throttled(client, member):
    member("ana@county.example", {"county": ["viewer"]})
    unknown = post_sign_in(client, "nobody@county.example", "wrong wrong wrong")
    for _ in range(5):
        post_sign_in(client, "ana@county.example", "wrong wrong wrong")
    throttled = post_sign_in(client, "ana@county.example")
    assert unknown.status_code == throttled.status_code == 400
    for response in (unknown, throttled):
        assert accounts.SIGN_IN_FAILED in html.unescape(response.text)
    # The address comes from the connection: Ana's own machine is not held up.
    elsewhere = TestClient(client.app, client=(REAL_USER, 50000))
    assert post_sign_in(elsewhere, "ana@county.example").status_code == 303


def test_sign_in_without_the_forms_csrf_token_is_refused(client, member, sessions):
    member("ana@county.example", {"county": ["viewer"]})
    data = {"email": "ana@county.example", "password": TEST_PASSWORD}
    missing = client.post("/sign-in", data=data, follow_redirects=False)
    assert missing.status_code == 403
    assert "did not come from this site" in missing.text
    # A token of its own making does not do either: it must match this browser's cookie.
    forged = post_sign_in(TestClient(client.app), "ana@county.example", csrf_token="x" * 43)
    assert forged.status_code == 403
    assert client.get("/api/me").status_code == 401
    with db.session_scope(sessions) as session:  # nothing counted, nobody signed in
        assert session.scalar(select(func.count(SignInThrottle.id))) == 0
        assert session.scalar(select(func.count(WebSession.id))) == 0
    # The refusal hands back a fresh form, so trying again works.
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', missing.text[missing.text.index('"/sign-in"') :]
    ).group(1)
    again = client.post("/sign-in", data={**data, "csrf_token": token}, follow_redirects=False)
    assert again.status_code == 303


def test_signing_in_replaces_the_session_and_the_old_one_stops_working(client, member, sessions):
    member("ana@county.example", {"county": ["viewer"]})
    # Session fixation: a cookie planted before sign-in is never the one signed in.
    client.cookies.set(SESSION_COOKIE, "planted-by-someone-else", domain="testserver.local")
    sign_in(client, "ana@county.example")
    first = client.cookies[SESSION_COOKIE]
    assert first != "planted-by-someone-else"
    sign_in(client, "ana@county.example")
    second = client.cookies[SESSION_COOKIE]
    assert second != first
    assert client.get("/api/me").status_code == 200
    old = TestClient(client.app, cookies={SESSION_COOKIE: first})
    assert old.get("/api/me").status_code == 401
    with db.session_scope(sessions) as session:
        assert session.scalar(select(func.count(WebSession.id))) == 1


def test_sign_in_with_two_memberships_asks_which_partner(client, member):
    member("jo@shared.example", {"bromsgrove": ["ig_lead"], "redditch": ["viewer"]})
    response = post_sign_in(client, "jo@shared.example", next="/partners")
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
    response = post_sign_in(client, "ana@county.example", next="//evil.example/")
    assert response.headers["location"] == "/"
