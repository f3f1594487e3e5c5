"""Residents' rights: the public register in plain English, objections and the national data
opt-out honoured by decide() (this package), and subject access, rectification and erasure
(`rights.access`)."""
