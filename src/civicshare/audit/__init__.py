"""Audit: every governance change and every decision, with who, as which membership, and why."""
