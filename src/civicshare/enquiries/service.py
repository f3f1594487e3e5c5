"""Members' enquiries: a councillor raises one under the membership (the hat) they act as; it is
routed by topic and district to the responsible partner and team with a due date from that
partner's service level; the team answers, asks for more or transfers it; reminders go before
and after the due date.

Hats are kept apart by the acting membership alone: the councillor who raised an enquiry sees
it only while acting as the membership it was raised under; the team sees it only while acting
for the partner it is routed to, as a caseworker. A resident's details are sealed at rest
(`seal`) and reach the team only when the resident consented. The partnership's topics, the
routing table and service levels are reference data an admin loads (`load_topics`,
`load_routes`, `set_service_levels`). Reminders, the retention purge and the monthly counts are
in `upkeep`; the parts that read other domains (where an enquiry is, what other services know
there) in `places`.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.core.identity import Actor, Role
from civicshare.db import utcnow
from civicshare.enquiries import places
from civicshare.enquiries.errors import EnquiryError
from civicshare.enquiries.models import (
    ANY_DISTRICT,
    Enquiry,
    EnquiryEvent,
    EnquiryRoute,
    EnquiryServiceLevel,
    EnquiryStatus,
    EnquiryTopic,
)
from civicshare.enquiries.places import KnownHere, known_here  # noqa: F401  (re-exported)
from civicshare.identity import service as identity
from civicshare.notifications import service as notifications
from civicshare.partners import service as partners
from civicshare.partners.models import Membership, Partner

DEFAULT_SERVICE_DAYS = 10
MAX_SERVICE_DAYS = 90
MIN_SUMMARY = 10
MAX_TEXT = 4000
RESIDENT_FIELDS = ("name", "contact", "address")
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
REFERENCE_PATTERN = re.compile(r"^ENQ-[0-9]{4,9}$")


@dataclass(frozen=True)
class Resident:
    """A resident's details as the councillor took them: personal data, sealed at rest."""

    name: str = ""
    contact: str = ""
    address: str = ""

    def given(self) -> bool:
        return any(getattr(self, name).strip() for name in RESIDENT_FIELDS)


@dataclass(frozen=True)
class Loaded:
    """What a CSV load did."""

    added: int
    changed: int
    unchanged: int


# -- the acting hat ---------------------------------------------------------------------------


def hat(actor: Actor) -> str:
    """Which hat is on, in words for the page."""
    if actor.has_role(Role.elected_member):
        return f"You are acting as a councillor for {actor.partner_name}."
    return f"You are acting for {actor.partner_name}."


def is_raiser(actor: Actor, enquiry: Enquiry) -> bool:
    """The councillor, wearing the hat the enquiry was raised under (never another)."""
    return actor.membership_id == enquiry.membership_id


def is_team(actor: Actor, enquiry: Enquiry) -> bool:
    """A caseworker acting for the partner the enquiry is routed to now."""
    return actor.partner_id == enquiry.routed_to_id and actor.has_role(Role.caseworker)


def may_see(actor: Actor, enquiry: Enquiry) -> bool:
    return is_raiser(actor, enquiry) or is_team(actor, enquiry)


def may_see_resident(actor: Actor, enquiry: Enquiry) -> bool:
    """The councillor always; the team only with the resident's consent."""
    return is_raiser(actor, enquiry) or (is_team(actor, enquiry) and enquiry.consent)


# -- the partnership's topics, routing table and service levels -------------------------------


def topics(session: Session, active_only: bool = True) -> list[EnquiryTopic]:
    query = select(EnquiryTopic).order_by(EnquiryTopic.name)
    if active_only:
        query = query.where(EnquiryTopic.active.is_(True))
    return list(session.scalars(query))


def get_topic(session: Session, key: str, field: str = "topic") -> EnquiryTopic:
    key = key or ""
    found = None
    if KEY_PATTERN.match(key):  # anything else is no topic, and never reaches the store
        found = session.scalars(select(EnquiryTopic).where(EnquiryTopic.key == key)).one_or_none()
    if found is None or not found.active:
        known = ", ".join(t.key for t in topics(session)) or "none yet"
        raise EnquiryError(f"There is no topic {key!r}; topics are: {known}.", field)
    return found


def routes(session: Session) -> list[EnquiryRoute]:
    return list(
        session.scalars(
            select(EnquiryRoute)
            .join(EnquiryTopic)
            .order_by(EnquiryTopic.key, EnquiryRoute.district)
        )
    )


def read_csv(text: str, columns: Iterable[str]) -> list[dict[str, str]]:
    """Rows of a CSV with a header naming at least `columns`; refused naming what is missing."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise EnquiryError(f"The CSV has no column {', '.join(missing)} (row 1, the header).")
    return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


def _row_error(number: int, field: str, message: str) -> EnquiryError:
    # Row 1 is the header: the first record is row 2, as a spreadsheet shows it.
    return EnquiryError(f"Row {number + 1}, {field}: {message}", field)


def load_topics(session: Session, rows: Iterable[Mapping[str, str]]) -> Loaded:
    """Add or rename topics (`key`, `name`, optional `active` yes/no). Every row is checked
    before any is stored: one bad row refuses the whole file, naming its row and field."""
    checked = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        key, name = row.get("key", ""), row.get("name", "")
        if not KEY_PATTERN.match(key):
            raise _row_error(number, "key", f"{key!r} is not a key (lower case, digits, -).")
        if key in seen:
            raise _row_error(number, "key", f"{key!r} is listed twice.")
        if not name or len(name) > 200:
            raise _row_error(number, "name", "give the topic's name (up to 200 characters).")
        active = row.get("active", "yes").lower() or "yes"
        if active not in ("yes", "no"):
            raise _row_error(number, "active", f"{active!r} is not yes or no.")
        seen.add(key)
        checked.append((key, name, active == "yes"))
    existing = {t.key: t for t in topics(session, active_only=False)}
    added = changed = 0
    for key, name, active in checked:
        topic = existing.get(key)
        if topic is None:
            session.add(EnquiryTopic(key=key, name=name, active=active))
            added += 1
        elif (topic.name, topic.active) != (name, active):
            topic.name, topic.active = name, active
            changed += 1
    session.flush()
    audit.record(session, None, "enquiry_topics_loaded", "enquiry_topics",
                 details={"added": added, "changed": changed})  # fmt: skip
    return Loaded(added, changed, len(checked) - added - changed)


def load_routes(session: Session, rows: Iterable[Mapping[str, str]]) -> Loaded:
    """Set routes (`topic`, `district` or `*` for any, `partner` key, `team`). Every row is
    checked before any is stored; one bad row refuses the file, naming its row and field."""
    by_topic = {t.key: t for t in topics(session, active_only=False)}
    by_partner = {p.key: p for p in partners.list_partners(session)}
    checked = []
    seen: set[tuple[str, str]] = set()
    for number, row in enumerate(rows, start=1):
        topic = by_topic.get(row.get("topic", ""))
        if topic is None:
            raise _row_error(number, "topic", f"{row.get('topic', '')!r} is not a topic.")
        district = row.get("district", "") or ANY_DISTRICT
        if district != ANY_DISTRICT and not KEY_PATTERN.match(district):
            raise _row_error(number, "district", f"{district!r} is not a district key or *.")
        if (topic.key, district) in seen:
            raise _row_error(number, "district", f"{topic.key} in {district} is listed twice.")
        partner = by_partner.get(row.get("partner", ""))
        if partner is None:
            raise _row_error(number, "partner", f"{row.get('partner', '')!r} is not a partner.")
        team = row.get("team", "")
        if not team or len(team) > 200:
            raise _row_error(number, "team", "name the team (up to 200 characters).")
        seen.add((topic.key, district))
        checked.append((topic, district, partner, team))
    existing = {(r.topic_id, r.district): r for r in routes(session)}
    added = changed = 0
    for topic, district, partner, team in checked:
        route = existing.get((topic.id, district))
        if route is None:
            session.add(
                EnquiryRoute(topic_id=topic.id, district=district, partner_id=partner.id, team=team)
            )
            added += 1
        elif (route.partner_id, route.team) != (partner.id, team):
            route.partner_id, route.team = partner.id, team
            changed += 1
    session.flush()
    audit.record(session, None, "enquiry_routes_loaded", "enquiry_routes",
                 details={"added": added, "changed": changed})  # fmt: skip
    return Loaded(added, changed, len(checked) - added - changed)


def set_service_levels(session: Session, levels: Mapping[str, int]) -> None:
    """Days each partner (by key) has to answer a member's enquiry."""
    for key, days in levels.items():
        partner = partners.require(session, key, field="partner")
        if not 1 <= int(days) <= MAX_SERVICE_DAYS:
            raise EnquiryError(f"A service level is 1 to {MAX_SERVICE_DAYS} days.", "days")
        found = session.get(EnquiryServiceLevel, partner.id)
        if found is None:
            session.add(EnquiryServiceLevel(partner_id=partner.id, days=int(days)))
        else:
            found.days = int(days)
    session.flush()


def service_days(session: Session, partner_id: int) -> int:
    found = session.get(EnquiryServiceLevel, partner_id)
    return found.days if found is not None else DEFAULT_SERVICE_DAYS


def route_for(session: Session, topic: EnquiryTopic, district: str) -> EnquiryRoute:
    """The route for the topic in the district, else the topic's route for any district."""
    for where in (district, ANY_DISTRICT):
        found = session.scalars(
            select(EnquiryRoute).where(
                EnquiryRoute.topic_id == topic.id, EnquiryRoute.district == where
            )
        ).one_or_none()
        if found is not None:
            return found
    raise EnquiryError(
        f"No partner answers {topic.name} enquiries in {district}: an admin adds a route with "
        "`civicshare enquiries load-routes`.",
        "topic",
        status=422,
    )


# -- sealing a resident's details -------------------------------------------------------------


def _aad(reference: str) -> bytes:
    return f"civicshare/enquiry/{reference}/resident".encode()


def seal(settings: Settings, reference: str, resident: Resident) -> tuple[str, str]:
    """(ciphertext, wrapped data key), both text: AES-256-GCM under a fresh data key."""
    data_key, wrapped = identity.new_data_key(settings)
    nonce = os.urandom(12)
    plain = json.dumps(asdict(resident)).encode()
    sealed = nonce + AESGCM(data_key).encrypt(nonce, plain, _aad(reference))
    return base64.b64encode(sealed).decode(), wrapped


def unseal(settings: Settings, enquiry: Enquiry) -> Resident | None:
    if not enquiry.resident_sealed or not enquiry.resident_key:
        return None
    data_key = identity.unwrap_data_key(settings, enquiry.resident_key)
    raw = base64.b64decode(enquiry.resident_sealed)
    try:
        plain = AESGCM(data_key).decrypt(raw[:12], raw[12:], _aad(enquiry.reference))
    except Exception:
        raise identity.DecryptionError("the resident's details did not decrypt") from None
    return Resident(**json.loads(plain))


def resident_for(settings: Settings, actor: Actor, enquiry: Enquiry) -> Resident | None:
    """The resident's details when this actor may have them (see may_see_resident), else None."""
    if not may_see_resident(actor, enquiry):
        return None
    return unseal(settings, enquiry)


# -- raising and reading ----------------------------------------------------------------------


def _text(value: str, field: str, what: str, minimum: int = 1) -> str:
    value = (value or "").strip()
    if "\x00" in value:
        raise EnquiryError(f"{what}: remove the NUL character.", field)
    if len(value) < minimum:
        raise EnquiryError(f"{what}: write at least {minimum} characters.", field)
    if len(value) > MAX_TEXT:
        raise EnquiryError(f"{what}: write at most {MAX_TEXT} characters.", field)
    refusal = audit.identifier_refusal(what, value)
    if refusal:
        raise EnquiryError(f"{refusal}.", field, status=422)
    return value


def log_event(session, enquiry, actor: Actor | None, action: str, note: str = "", **details):
    event = EnquiryEvent(
        enquiry_id=enquiry.id,
        membership_id=actor.membership_id if actor else None,
        action=action,
        note=note,
        details=details,
        at=utcnow(),
    )
    session.add(event)
    return event


def audit_enquiry(session, actor: Actor | None, action: str, enquiry: Enquiry, **details) -> None:
    """The audit record names the acting membership (the hat) and the partner it acts for."""
    audit.record(
        session,
        actor,
        action,
        "enquiry",
        enquiry.reference,
        details={
            "enquiry": enquiry.reference,
            "acting_for": actor.partner_key if actor else None,
            "routed_to": enquiry.routed_to.key,
            **details,
        },
    )


def raise_enquiry(
    session: Session,
    settings: Settings,
    actor: Actor,
    *,
    topic: str,
    summary: str,
    postcode: str | None = None,
    easting: float | None = None,
    northing: float | None = None,
    consent: bool,
    resident: Resident | None = None,
    now: datetime | None = None,
) -> Enquiry:
    """Raise an enquiry under the acting membership (an elected member's), route it and notify
    the team. The location is a postcode or a point (BNG metres); the district comes from it."""
    if not actor.has_role(Role.elected_member):
        raise EnquiryError(
            f"Acting for {actor.partner_name}, you are not an elected member: only councillors "
            "raise members' enquiries.",
            status=403,
        )
    chosen = get_topic(session, topic)
    summary = _text(summary, "summary", "The enquiry", MIN_SUMMARY)
    where = places.locate(settings, postcode=postcode, easting=easting, northing=northing)
    route = route_for(session, chosen, where.district)
    now = now or utcnow()
    number = (session.scalar(select(func.max(Enquiry.id))) or 0) + 1
    enquiry = Enquiry(
        reference=f"ENQ-{number:04d}",
        membership_id=actor.membership_id,
        raised_for_id=actor.partner_id,
        topic_id=chosen.id,
        summary=summary,
        postcode=where.postcode,
        easting=where.easting,
        northing=where.northing,
        district=where.district,
        consent=bool(consent),
        consent_recorded_at=now,
        routed_to_id=route.partner_id,
        team=route.team,
        status=EnquiryStatus.with_team,
        due_on=now.date() + timedelta(days=service_days(session, route.partner_id)),
        raised_at=now,
        answer="",
    )
    if resident is not None and resident.given():
        enquiry.resident_sealed, enquiry.resident_key = seal(settings, enquiry.reference, resident)
    session.add(enquiry)
    session.flush()
    session.refresh(enquiry, ["routed_to", "topic"])
    facts = {"topic": chosen.key, "district": where.district, "team": route.team,
             "consent": enquiry.consent, "due_on": enquiry.due_on.isoformat()}  # fmt: skip
    log_event(session, enquiry, actor, "raised", f"Raised by {actor.label}", **facts)
    audit_enquiry(session, actor, "enquiry_raised", enquiry, **facts)
    _tell_team(session, settings, enquiry, "routed to you")
    return enquiry


def _tell_team(session, settings, enquiry: Enquiry, what: str) -> None:
    """Notify the caseworkers of the partner the enquiry is routed to. The message names the
    enquiry, topic, district and due date: never the resident, whose details are behind the
    link for those who may see them."""
    notifications.notify(
        session, settings, to_partner=enquiry.routed_to, role=Role.caseworker,
        subject=f"Enquiry {enquiry.reference} {what}",
        body=f"{enquiry.topic.name} in {enquiry.district}, for {enquiry.team}; due "
        f"{enquiry.due_on:%-d %B %Y}.",
        link=f"/enquiries/{enquiry.reference}",
    )  # fmt: skip


def _tell_councillor(session, settings, enquiry: Enquiry, what: str) -> None:
    notifications.notify(
        session, settings, to_membership=enquiry.membership_id,
        subject=f"Enquiry {enquiry.reference} {what}",
        body=f"{enquiry.topic.name}: {enquiry.routed_to.name} ({enquiry.team}).",
        link=f"/enquiries/{enquiry.reference}",
    )  # fmt: skip


def get_enquiry(session: Session, reference: str) -> Enquiry:
    found = session.scalars(select(Enquiry).where(Enquiry.reference == reference)).one_or_none()
    if found is None:
        raise EnquiryError(f"There is no enquiry {reference}.", status=404)
    return found


def get_for(session: Session, actor: Actor, reference: str) -> Enquiry:
    """The enquiry, if this hat may see it. Another hat's enquiry is answered as not found, so
    one council's membership learns nothing of another's casework."""
    enquiry = None
    if REFERENCE_PATTERN.match(reference or ""):
        query = select(Enquiry).where(Enquiry.reference == reference)
        enquiry = session.scalars(query).one_or_none()
    if enquiry is None or not may_see(actor, enquiry):
        raise EnquiryError(
            f"Acting for {actor.partner_name}, you have no enquiry {reference}.", status=404
        )
    return enquiry


def raised_by(session: Session, actor: Actor) -> list[Enquiry]:
    """The enquiries raised under the acting membership: the councillor's list for this hat."""
    return list(
        session.scalars(
            select(Enquiry)
            .where(Enquiry.membership_id == actor.membership_id)
            .order_by(Enquiry.id.desc())
        )
    )


def queue_for(session: Session, actor: Actor, open_only: bool = False) -> list[Enquiry]:
    """The team's queue: enquiries routed to the acting partner (caseworkers only)."""
    if not actor.has_role(Role.caseworker):
        return []
    query = select(Enquiry).where(Enquiry.routed_to_id == actor.partner_id)
    if open_only:
        query = query.where(Enquiry.status != EnquiryStatus.answered)
    return list(session.scalars(query.order_by(Enquiry.due_on, Enquiry.id)))


def visible_to(session: Session, actor: Actor) -> list[Enquiry]:
    """What `GET /api/enquiries` lists: raised under this membership, then routed to its team."""
    mine = raised_by(session, actor)
    seen = {e.id for e in mine}
    return mine + [e for e in queue_for(session, actor) if e.id not in seen]


def events(session: Session, enquiry: Enquiry) -> list[EnquiryEvent]:
    return list(
        session.scalars(
            select(EnquiryEvent)
            .where(EnquiryEvent.enquiry_id == enquiry.id)
            .order_by(EnquiryEvent.id)
        )
    )


def membership_label(session: Session, membership_id: int | None) -> str:
    if membership_id is None:
        return "the gateway"
    membership = session.get(Membership, membership_id)
    return f"{membership.person.display_name} ({membership.partner.name})"


# -- the team's actions and the councillor's reply --------------------------------------------


def _require_team(actor: Actor, enquiry: Enquiry) -> None:
    if not is_team(actor, enquiry):
        raise EnquiryError(
            f"Acting for {actor.partner_name}, you are not a caseworker of the partner "
            f"{enquiry.reference} is routed to.",
            status=403,
        )


def _require_open(enquiry: Enquiry) -> None:
    if enquiry.status == EnquiryStatus.answered:
        raise EnquiryError(f"{enquiry.reference} is already answered.", status=409)


def answer(session, settings, actor: Actor, enquiry: Enquiry, text: str) -> Enquiry:
    """The team's answer: the councillor sees it and is notified."""
    _require_team(actor, enquiry)
    _require_open(enquiry)
    enquiry.answer = _text(text, "answer", "The answer", MIN_SUMMARY)
    enquiry.status = EnquiryStatus.answered
    enquiry.answered_at = utcnow()
    log_event(session, enquiry, actor, "answered", enquiry.answer)
    audit_enquiry(session, actor, "enquiry_answered", enquiry)
    _tell_councillor(session, settings, enquiry, "answered")
    return enquiry


def ask_for_more(session, settings, actor: Actor, enquiry: Enquiry, question: str) -> Enquiry:
    _require_team(actor, enquiry)
    _require_open(enquiry)
    question = _text(question, "question", "The question", MIN_SUMMARY)
    enquiry.status = EnquiryStatus.more_info
    log_event(session, enquiry, actor, "asked_for_more", question)
    audit_enquiry(session, actor, "enquiry_more_info_requested", enquiry)
    _tell_councillor(session, settings, enquiry, "needs more information")
    return enquiry


def reply(session, settings, actor: Actor, enquiry: Enquiry, text: str) -> Enquiry:
    """The councillor adds what the team asked for; the enquiry goes back to the team."""
    if not is_raiser(actor, enquiry):
        raise EnquiryError(
            f"Only the councillor who raised {enquiry.reference}, acting for "
            f"{enquiry.raised_for.name}, replies to it.",
            status=403,
        )
    _require_open(enquiry)
    text = _text(text, "reply", "The reply", 2)
    enquiry.status = EnquiryStatus.with_team
    log_event(session, enquiry, actor, "replied", text)
    audit_enquiry(session, actor, "enquiry_replied", enquiry)
    _tell_team(session, settings, enquiry, "has more information from the councillor")
    return enquiry


def transfer(
    session, settings, actor: Actor, enquiry: Enquiry, *, to_partner: str, team: str, reason: str
) -> Enquiry:
    """Send the enquiry to another partner and team, with the reason; the history keeps where it
    was. The due date restarts from the new partner's service level, and reminders with it."""
    _require_team(actor, enquiry)
    _require_open(enquiry)
    key = (to_partner or "").strip()
    target = partners.get_by_key(session, key) if KEY_PATTERN.match(key) else None
    if target is None:
        raise EnquiryError(f"There is no partner {to_partner!r}.", "to_partner")
    if target.id == enquiry.routed_to_id:
        raise EnquiryError(f"{enquiry.reference} is already with {target.name}.", "to_partner")
    team = (team or "").strip()
    if not team or len(team) > 200 or "\x00" in team:
        raise EnquiryError("Name the team it goes to (up to 200 characters).", "team")
    reason = _text(reason, "reason", "The reason", MIN_SUMMARY)
    before = {"partner": enquiry.routed_to.key, "team": enquiry.team}
    enquiry.routed_to_id = target.id
    enquiry.routed_to = target
    enquiry.team = team
    enquiry.status = EnquiryStatus.with_team
    enquiry.due_on = utcnow().date() + timedelta(days=service_days(session, target.id))
    enquiry.reminded_before_at = enquiry.reminded_after_at = None
    after = {"partner": target.key, "team": team}
    log_event(session, enquiry, actor, "transferred", reason, before=before, after=after)
    audit_enquiry(session, actor, "enquiry_transferred", enquiry, before=before, after=after)
    _tell_team(session, settings, enquiry, "transferred to you")
    _tell_councillor(session, settings, enquiry, f"transferred to {target.name}")
    return enquiry


def partners_for_transfer(session: Session, actor: Actor) -> list[Partner]:
    return [p for p in partners.list_partners(session) if p.id != actor.partner_id]


def is_overdue(enquiry: Enquiry, today: date | None = None) -> bool:
    today = today or utcnow().date()
    return enquiry.status != EnquiryStatus.answered and enquiry.due_on < today
