"""Incident response: vulnerable households near an incident, break-glass, a map."""
