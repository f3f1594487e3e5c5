"""Identity: gateway keys, keyed pseudonymous tokens and field encryption."""
