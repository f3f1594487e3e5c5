"""Benchmark: life events from registration to every partner that needs to know, against the
same payloads POSTed straight to the receivers.

    python benchmarks/events.py                  # 200 deaths
    python benchmarks/events.py --events 1000    # the run in docs/benchmarks.md

Setup (not timed): the demo partnership on a synthetic county big enough for the deaths (at
least 1,500 residents, three per death), its person index built, a signed local webhook
receiver (events.receiver.ReceiverServer) for every recipient party of the death notification
agreement and for one partner without an agreement (Mercia Water), and N living residents aged
40+ chosen with a fixed seed.

Timed: the deaths are published in batches (`--batches`, default 2: checked, pushed, linked,
matched, one read per recipient per batch, the outbox written); a truth-knowing clerical
reviewer decides the pairs the index was unsure of for these people, and then what the re-check
asks next (an accepted pair can lead one hop further), until nothing new is asked (at most five
rounds: a person's work, done at once here); the worker delivers after each batch. The ICB's
receiver is stopped after the first batch's delivery and started again after the last batch's
first delivery pass, so its notifications wait, retry with back-off and arrive in order. The
run ends when the outbox has nothing pending for a receiver (or after 10 minutes).

Ground truth: for each death, the partners whose datasets truly hold the person (the county's
truth files), that are recipient parties of the agreement, and whose record of the person the
gateway holds: accepted into the dataset's current snapshot (a row quarantined at ingest, say
for an NHS number failing its check digit, is not held; such pairs are counted apart as
`not_held_quarantined`), nor is a record of a dataset the person index does not hold (a care
package names its client's record). A record the index cannot match with high precision (an
elector registered at another address, with no date of birth) is still expected: the gateway
must put it to clerical review, and the truth-knowing reviewer decides it, as ADR 0033 sets
out. `delivered` counts (death, partner) pairs applied by a receiver, `wrong_recipient` those
applied to a partner the truth does not call for, `duplicates_applied` pairs applied more than
once, `lost` pairs called for and never applied. `p95_delivery_ms`: from a notification being
written to its receiver answering. The baseline POSTs the same signed payloads straight to the
receivers (no gateway), one thread per recipient, in the same process.
The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx2  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from rich.console import Console  # noqa: E402
from sqlalchemy import select  # noqa: E402

from civicshare import db, demo  # noqa: E402
from civicshare.accounts.service import actor_for  # noqa: E402
from civicshare.agreements import service as agreements  # noqa: E402
from civicshare.config import Settings  # noqa: E402
from civicshare.datasets import service as datasets  # noqa: E402
from civicshare.events import keys as event_keys  # noqa: E402
from civicshare.events import outbox, service  # noqa: E402
from civicshare.events.models import DeliveryStatus, EventNotification  # noqa: E402
from civicshare.events.receiver import ReceiverServer, sign  # noqa: E402
from civicshare.linkage.models import IndexedSource  # noqa: E402
from civicshare.partners import service as partners  # noqa: E402
from civicshare.synthetic import registrations  # noqa: E402

REGISTRAR = "streetworks@worcestershire-cc.example"
ADMIN = "admin@worcestershire-cc.example"
NOT_A_PARTY = "mercia-water"
STOPPED = "hw-icb"
DEADLINE_SECONDS = 600
REVIEW_ROUNDS = 5


def acting(session, email):
    return actor_for(partners.get_person_by_email(session, email).memberships[0], "benchmark")


def setup(work: Path, people: int, events: int, strict: float):
    data = work / "data"
    settings = Settings(
        data_dir=data,
        database_url=f"sqlite:///{work / 'store.db'}",
        events_retry_base_seconds=0.25,
        events_retry_max_seconds=2,
        events_timeout_seconds=2,
        audit_checkpoint_every=0,
        events_match_probability=strict,
    )
    demo.prepare(settings, people=people, seed=1, console=Console(file=io.StringIO()))
    county = data / "synthetic"
    chosen = registrations.living_residents(county, events, seed=7)
    body, entries = registrations.death_registrations(county, chosen, first_entry=800_001)
    truth = registrations.holders(county, set(entries.values()))
    return settings, body, entries, truth


def accepted_records(session, settings, county: Path, people: set[int]) -> dict:
    """(partner, dataset) -> the person ids whose records the gateway accepted into the
    dataset's current snapshot. A row quarantined at ingest (an NHS number failing its check
    digit) is not held: the partner's quarantine report, not a notification, deals with it.
    Nor is a record of a dataset the person index does not hold: a care package names its
    client's record, and reaches the council through it (if that was quarantined, nothing
    ties the package to anyone)."""
    manifest = json.loads((county / "manifest.json").read_text())
    indexed = set(session.scalars(select(IndexedSource.source)))
    held: dict[tuple[str, str], set[int]] = {}
    for entry in manifest["datasets"]:
        truth_file = county / (entry.get("truth") or "-")
        if not truth_file.is_file() or entry["name"] == "death-registrations":
            continue
        if f"{entry['partner']}/{entry['name']}" not in indexed:
            continue  # holds no person of its own (care packages name a client record)
        snapshot = datasets.current_snapshot(session, entry["partner"], entry["name"], settings)
        if snapshot is None:
            continue
        truth = pq.read_table(truth_file)
        if "person_id" not in truth.column_names:
            continue
        plain = snapshot.storage.get(snapshot.contract.record_id or "", {}).get("plain")
        stored = (
            {
                str(v)
                for v in pq.read_table(snapshot.data_path, columns=[plain]).column(0).to_pylist()
            }
            if plain
            else None  # no plain record id: every truth record counts as held
        )
        held[(entry["partner"], entry["name"])] = {
            person
            for record_id, person in zip(
                truth.column("record_id").to_pylist(), truth.column("person_id").to_pylist(),
                strict=True,
            )
            if person in people and (stored is None or str(record_id) in stored)
        }  # fmt: skip
    return held


def expected_pairs(session, settings, entries, truth) -> tuple[set, set[str], set]:
    """The (entry, partner) pairs the truth calls for, the recipient parties, and the pairs
    left out because the partner's only records of the person were quarantined at ingest."""
    parties = set()
    for version in agreements.active_versions(session):
        if service.PURPOSE in version.purpose_codes():
            parties = {p.partner.key for p in version.parties if p.role.receives}
    held = accepted_records(
        session, settings, Path(settings.data_dir) / "synthetic", set(entries.values())
    )
    pairs, quarantined = set(), set()
    for reference, person in entries.items():
        for partner, names in truth.get(person, {}).items():
            names = [n for n in names if (partner, n) in held]
            if partner not in parties or not names:
                continue
            if any(person in held[(partner, n)] for n in names):
                pairs.add((reference, partner))
            else:
                quarantined.add((reference, partner))
    return pairs, parties, quarantined


def explain(session, reference: str) -> None:
    """The links from the event's record outwards (source, ids, probability, origin)."""
    from sqlalchemy import or_

    from civicshare.linkage.models import IndexedLink

    start = ("worcestershire-cc/death-registrations", reference)
    seen, frontier = {start}, [start]
    while frontier:
        node = frontier.pop()
        for link in session.scalars(
            select(IndexedLink).where(
                or_(
                    (IndexedLink.source_l == node[0]) & (IndexedLink.record_id_l == node[1]),
                    (IndexedLink.source_r == node[0]) & (IndexedLink.record_id_r == node[1]),
                )
            )
        ):
            ends = [(link.source_l, link.record_id_l), (link.source_r, link.record_id_r)]
            other = ends[1] if ends[0] == node else ends[0]
            print(
                f"    {node[0]} {node[1]} -- {link.match_probability:.5f} {link.origin.value} "
                f"-- {other[0]} {other[1]}",
                file=sys.stderr,
            )
            if other not in seen:
                seen.add(other)
                frontier.append(other)


def explain_records(session, settings, partner: str, person: int) -> None:
    """The partner's records of the person (truth), each with its person key, links and the
    reviews and decisions on it: why a lost pair was not reached."""
    from sqlalchemy import or_

    from civicshare.linkage.models import IndexedLink, IndexedRecord, LinkageDecision, ReviewItem

    county = Path(settings.data_dir) / "synthetic"
    manifest = json.loads((county / "manifest.json").read_text())
    for entry in manifest["datasets"]:
        truth_file = county / (entry.get("truth") or "-")
        if entry["partner"] != partner or not truth_file.is_file():
            continue
        truth = pq.read_table(truth_file, columns=["record_id", "person_id"]).to_pylist()
        source = f"{partner}/{entry['name']}"
        for row in (r for r in truth if r["person_id"] == person):
            node = (source, str(row["record_id"]))
            indexed = session.scalars(
                select(IndexedRecord).where(
                    IndexedRecord.source == node[0], IndexedRecord.record_id == node[1]
                )
            ).one_or_none()
            key = indexed.person_key if indexed else "not indexed"
            print(f"    record {node[0]} {node[1]}: {key}", file=sys.stderr)
            for table in (IndexedLink, ReviewItem, LinkageDecision):
                for row_ in session.scalars(
                    select(table).where(
                        or_(
                            (table.source_l == node[0]) & (table.record_id_l == node[1]),
                            (table.source_r == node[0]) & (table.record_id_r == node[1]),
                        )
                    )
                ):
                    ends = [(row_.source_l, row_.record_id_l), (row_.source_r, row_.record_id_r)]
                    other = ends[1] if ends[0] == node else ends[0]
                    what = {
                        IndexedLink: lambda r: f"link {r.match_probability:.5f} {r.origin.value}",
                        ReviewItem: lambda r: (
                            f"review {r.status.value} "
                            f"({(r.waterfall or {}).get('asked_by', 'the index')})"
                        ),
                        LinkageDecision: lambda r: f"decision {r.label.value}",
                    }[table](row_)
                    print(f"      {what} -- {other[0]} {other[1]}", file=sys.stderr)


def batches(body: bytes, count: int) -> list[bytes]:
    header, *rows = body.decode().splitlines()
    size = -(-len(rows) // count)
    return [
        ("\n".join([header, *rows[i : i + size]]) + "\n").encode()
        for i in range(0, len(rows), size)
    ]


def review_until_settled(session, settings, events, entries) -> int:
    """The truth-knowing reviewer decides what these events wait for, and again what the
    re-check asks next (an acceptance can reach a record one hop further, which is a new
    question), as a clerk works the queue down; at most REVIEW_ROUNDS rounds. Returns how many
    pairs were decided."""
    decided = 0
    for _ in range(REVIEW_ROUNDS):
        unsure = {e.person_key for e in events if e.status.value == "held" or e.awaiting_review}
        done = registrations.review_by_truth(
            session, settings, unsure, entries, acting(session, ADMIN)
        )
        if not done:
            break
        decided += done
        service.recheck_held(session, settings)
    return decided


def run_gateway(settings, sessions, body, entries, receivers, count: int) -> dict:
    started = time.perf_counter()
    reviews = 0
    publishing = 0.0
    parts = batches(body, count)
    for number, batch in enumerate(parts, start=1):
        began = time.perf_counter()
        with db.session_scope(sessions) as session:
            published = service.publish(
                session, settings, acting(session, REGISTRAR), batch, via="benchmark"
            )
            reviews += review_until_settled(session, settings, published.events, entries)
        publishing += time.perf_counter() - began
        with db.session_scope(sessions) as session:
            outbox.deliver_due(session, settings)
        if number == 1:
            receivers[STOPPED].stop()  # down for the next batches
        if number == max(2, len(parts) - 1):
            receivers[STOPPED].start()
    while time.perf_counter() - started < DEADLINE_SECONDS:
        with db.session_scope(sessions) as session:
            tick = outbox.deliver_due(session, settings)
            pending = session.scalar(
                select(EventNotification.id).where(
                    EventNotification.status == DeliveryStatus.pending,
                    EventNotification.recipient.in_(list(receivers)),
                )
            )
        if pending is None:
            break
        if not tick.attempted:
            time.sleep(0.1)
    seconds = time.perf_counter() - started
    with db.session_scope(sessions) as session:
        rows = session.scalars(select(EventNotification)).all()
        latency = [
            (n.delivered_at - n.created_at).total_seconds() * 1000
            for n in rows
            if n.delivered_at is not None
        ]
        dead = sum(1 for n in rows if n.status == DeliveryStatus.dead)
        retried = sum(1 for n in rows if n.attempts > 1)
    return {
        "seconds": seconds,
        "latency": latency,
        "dead": dead,
        "retried": retried,
        "reviews": reviews,
        "publishing": publishing,
    }


def run_baseline(receivers: dict[str, ReceiverServer], payloads: dict[str, list[dict]], key):
    """The same payloads, signed, POSTed straight to the receivers (new delivery ids)."""

    def send(partner: str) -> int:
        sent = 0
        with httpx2.Client(timeout=5) as client:
            for payload in payloads[partner]:
                body = json.dumps(
                    {**payload, "delivery_id": "b-" + payload["delivery_id"]}
                ).encode()
                headers = sign(body, "b-" + payload["delivery_id"], [key[partner]])
                if client.post(receivers[partner].url, content=body, headers=headers).is_success:
                    sent += 1
        return sent

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        sent = sum(pool.map(send, [p for p in payloads if payloads[p]]))
    return time.perf_counter() - started, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200, help="Deaths to publish.")
    parser.add_argument("--people", type=int, default=None, help="County size (default 3/death).")
    parser.add_argument("--batches", type=int, default=2, help="Publish in this many batches.")
    parser.add_argument("--explain", action="store_true", help="Print each wrong pair's links.")
    parser.add_argument(
        "--match-probability", type=float, default=0.99, help="events_match_probability."
    )
    args = parser.parse_args()
    people = args.people or max(1500, 3 * args.events)
    with tempfile.TemporaryDirectory(prefix="civicshare-events-") as tmp:
        work = Path(tmp)
        prepared = time.perf_counter()
        settings, body, entries, truth = setup(work, people, args.events, args.match_probability)
        print(
            f"county of {people:,} prepared in {time.perf_counter() - prepared:.0f} s",
            file=sys.stderr,
        )
        engine = db.make_engine(settings.effective_database_url)
        sessions = db.make_sessionmaker(engine)
        receivers: dict[str, ReceiverServer] = {}
        keys = {}
        with db.session_scope(sessions) as session:
            expected, parties, quarantined = expected_pairs(session, settings, entries, truth)
            for partner in sorted(parties | {NOT_A_PARTY}):
                receiver = ReceiverServer({}).start()
                _, made = event_keys.set_endpoint(session, settings, None, partner, receiver.url)
                receiver.receiver.keys[made[0]] = made[1]
                receivers[partner], keys[partner] = receiver, made
        try:
            gateway = run_gateway(settings, sessions, body, entries, receivers, args.batches)
            applied = Counter(
                (payload["event"]["reference"], partner)
                for partner, receiver in receivers.items()
                for payload in receiver.applied
            )
            delivered = {pair for pair in applied if pair in expected}
            wrong = {pair for pair in applied if pair not in expected}
            for label, pairs in (("wrong recipient", wrong), ("lost", expected - delivered)):
                for reference, partner in sorted(pairs)[:20]:
                    person = entries[reference]
                    print(
                        f"{label}: {reference} (person {person}) -> {partner}; truth holds "
                        f"{ {k: sorted(v) for k, v in truth.get(person, {}).items()} }",
                        file=sys.stderr,
                    )
                    if args.explain:
                        with db.session_scope(sessions) as session:
                            explain(session, reference)
                            explain_records(session, settings, partner, person)
            payloads = {p: list(r.applied) for p, r in receivers.items()}
            baseline_seconds, baseline_sent = run_baseline(receivers, payloads, keys)
        finally:
            for receiver in receivers.values():
                receiver.stop()
            engine.dispose()
    latency = sorted(gateway["latency"])
    p95 = latency[int(0.95 * (len(latency) - 1))] if latency else None
    result = {
        "events": args.events,
        "people": people,
        "match_probability": args.match_probability,
        "expected": len(expected),
        "not_held_quarantined": len(quarantined),
        "delivered": len(delivered),
        "wrong_recipient": len(wrong),
        "duplicates_applied": sum(1 for n in applied.values() if n > 1),
        "lost": len(expected - delivered),
        "p95_delivery_ms": round(p95, 1) if p95 is not None else None,
        "median_delivery_ms": round(statistics.median(latency), 1) if latency else None,
        "retried": gateway["retried"],
        "dead": gateway["dead"],
        "reviews_decided": gateway["reviews"],
        "gateway_seconds": round(gateway["seconds"], 2),
        "publishing_seconds": round(gateway["publishing"], 2),
        "baseline_seconds": round(baseline_seconds, 3),
        "baseline_posts": baseline_sent,
        "ratio": round(gateway["seconds"] / baseline_seconds, 1) if baseline_seconds else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
