"""An event's match status after a re-check (events.service.match)."""

from __future__ import annotations


def test_an_event_already_told_stays_matched_when_a_re_check_finds_nobody_new(monkeypatch):
    """After a reviewer's rejection a re-check may find no sure recipient left; the partners
    told earlier were told, so the event is not shown as unmatched."""
    from types import SimpleNamespace

    from civicshare.events import service
    from civicshare.events.models import EventNotification, LifeEvent, MatchStatus
    from civicshare.linkage.person_index import confidence

    monkeypatch.setattr(
        confidence, "record_match", lambda *a, **k: confidence.RecordMatch("P-1", [], 0)
    )
    monkeypatch.setattr(service, "registration_sources", lambda session: set())
    settings = SimpleNamespace(events_match_probability=0.99)
    told = LifeEvent(provider="worcestershire-cc", dataset="death-registrations", reference="D1")
    told.notifications.append(EventNotification(recipient="hw-icb"))
    fresh = LifeEvent(provider="worcestershire-cc", dataset="death-registrations", reference="D2")
    assert service.match(None, settings, told) == {}
    assert service.match(None, settings, fresh) == {}
    assert told.status == MatchStatus.matched
    assert fresh.status == MatchStatus.unmatched
