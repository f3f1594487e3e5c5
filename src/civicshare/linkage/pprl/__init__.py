"""Privacy-preserving record linkage (PPRL) with hardened Bloom-filter encodings.

Partners encode identifiers locally into record-level Bloom filters (cryptographic long-term
keys, CLKs): every q-gram of every field is hashed with a field key derived from a secret the
gateway never holds, optionally salted by a stable attribute (year of birth), and sets `k`
bit positions in one filter of `bits` bits. Optional hardening: balancing (filter plus its
complement, permuted by a keyed permutation) and random bit flipping (BLIP). Each record also
carries keyed blocking keys. The gateway reads two encoding files, compares the records that
share a blocking key by Dice similarity, keeps pairs at or above a threshold and resolves them
one-to-one.
Fields marked with a `check` are also encoded on their own, so the gateway can refuse a pair
whose given names, dates of birth or NHS numbers disagree (twins, a parent and child).

This package is the logic only (``scheme``: the shared parameters, the secret and its keys;
``encoding``: normalisation, q-grams, Bloom filters; ``checks``: per-field checks that refuse
pairs of relatives; ``files``: encoding files; ``dice``:
Dice similarity and candidate pairs; ``link``: one-to-one resolution, pairs file, report),
its public names re-exported here; `pprl_cli.py` is the command line over it. Design and
limits: docs/pprl.md and docs/decisions/0010-pprl.md.
"""

from __future__ import annotations

from civicshare.linkage.pprl.checks import (
    CHECK_HASHES,
    DATE_TOKENS,
    IDENTIFIER_DICE,
    NAME_DICE,
    check_words,
    checks_disagree,
    encode_checks,
)
from civicshare.linkage.pprl.dice import (
    CHOOSE_MIN_PAIRS,
    LARGE_BLOCK_PAIRS,
    PAIRS_PER_CHUNK,
    RECOUNT_COST_BITS,
    SECOND_BOUND_COST_BITS,
    Candidates,
    compare,
    dice_above,
    dice_of_pairs,
    dice_reference,
    popcounts,
)
from civicshare.linkage.pprl.encoding import (
    ENCODE_CHUNK,
    Encodings,
    blocking_keys,
    encode,
    flip_mask,
    normalise,
    pack,
    qgrams,
    read_identifiers,
    soundex,
    unpack,
)
from civicshare.linkage.pprl.files import (
    check_compatible,
    read_encodings,
    scheme_fingerprint,
    write_encodings,
)
from civicshare.linkage.pprl.link import (
    LinkResult,
    link,
    report,
    solve_greedy,
    solve_optimal,
    write_pairs,
)
from civicshare.linkage.pprl.scheme import (
    BLOCKING_TRANSFORMS,
    CHECK_KINDS,
    CHECKS,
    FIELD_KINDS,
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_HASHES,
    SALT_PARTS,
    SECRET_BYTES,
    SOLVERS,
    BlockingSpec,
    FieldSpec,
    PprlError,
    SaltSpec,
    Scheme,
    derive_key,
    generate_secret,
    key_check,
    load_scheme,
    parse_scheme,
    read_secret,
    write_secret,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SECRET_BYTES",
    "FIELD_KINDS",
    "SALT_PARTS",
    "BLOCKING_TRANSFORMS",
    "SOLVERS",
    "CHECKS",
    "CHECK_KINDS",
    "CHECK_HASHES",
    "NAME_DICE",
    "DATE_TOKENS",
    "IDENTIFIER_DICE",
    "check_words",
    "encode_checks",
    "checks_disagree",
    "MAX_HASHES",
    "PprlError",
    "FieldSpec",
    "SaltSpec",
    "BlockingSpec",
    "Scheme",
    "parse_scheme",
    "load_scheme",
    "generate_secret",
    "write_secret",
    "read_secret",
    "derive_key",
    "key_check",
    "ENCODE_CHUNK",
    "normalise",
    "qgrams",
    "soundex",
    "Encodings",
    "read_identifiers",
    "encode",
    "pack",
    "unpack",
    "flip_mask",
    "blocking_keys",
    "write_encodings",
    "read_encodings",
    "scheme_fingerprint",
    "check_compatible",
    "popcounts",
    "dice_reference",
    "dice_above",
    "SECOND_BOUND_COST_BITS",
    "RECOUNT_COST_BITS",
    "CHOOSE_MIN_PAIRS",
    "LARGE_BLOCK_PAIRS",
    "PAIRS_PER_CHUNK",
    "Candidates",
    "dice_of_pairs",
    "compare",
    "solve_greedy",
    "solve_optimal",
    "LinkResult",
    "link",
    "write_pairs",
    "report",
]
