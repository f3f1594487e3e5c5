"""Governance-store tables of the person index and clerical review."""
