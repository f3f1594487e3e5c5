"""Residents' rights: the public register, objections and subject access."""
