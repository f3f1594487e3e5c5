"""Accounts: how people prove who they are (passwords, later OIDC), web sessions, API tokens."""
