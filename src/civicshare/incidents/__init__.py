"""Incident response: vulnerable households near an incident, break-glass detail, the responder's map."""
