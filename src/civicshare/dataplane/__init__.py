"""The data plane: the one owner of snapshots on disk.

`ingest`     streaming a partner's file through validation, tokenisation and encryption into a
             staged version (readers, spool, storage plan, staging)
`snapshots`  the layout of a version, installing a staged version as the current one, the
             one-writer lock, rewriting a version keeping some rows (retention, erasure),
             evidence of files before deletion, removing a version
`grant`      what decide() allows: columns and treatments, row scope and row conditions
`query`      compiling a grant to DuckDB SQL with bound parameters, and running it
`store`      where versions live: the data directory, or S3-compatible object storage where
             a version is published by writing its manifest last (decision 0037)

Governance (which version is current, who may push, what an agreement allows) lives in the
governance store; nothing outside this package opens a snapshot's files (tests/test_architecture.py
and the import rules in pyproject.toml hold that).
"""
