"""Governance-store tables of incidents, break-glass grants and their review."""
