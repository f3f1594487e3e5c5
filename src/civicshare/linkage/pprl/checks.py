"""Per-field checks: a small encoding of one field on its own, so that the gateway can refuse a
pair whose record-level Dice is high only because the two records share a surname, address and
(for twins) a date of birth, while their given names, dates of birth or NHS numbers disagree.

Each check field is encoded, per record, into:

- for `name` and `identifier`, a filter of `check_bits` bits holding that field's q-grams only
  (CHECK_HASHES positions per q-gram, under a key of its own, salted as the record's filter
  is), compared by Dice;
- keyed 32-bit tokens for the variants a typo-tolerant Dice cannot see: for `name`, the
  nickname groups the given name belongs to (linkage/data/nicknames.csv; JIM and JAMES share
  the group JAMES) and its deletion neighbourhood (the name and the name less each one
  letter: two names one substitution, insertion, deletion or transposition of neighbours
  apart always share one, so DYLAN and DYLNA do, where their bigrams' Dice is only 0.5); for
  `date`, only tokens (bigram Dice cannot tell 1992-11-20 from 1990-12-11: 5 of 7 bigrams
  agree): the date with day and month in either order, the year and the year after with the
  day and month, the day and the day after with the year and month, and the date's deletion
  neighbourhood (one digit wrong).

A check only ever takes a pair away (it never links one), and only when both records hold the
field: a blank, or a given name of one letter (an initial), is no evidence. The rules, at the
gateway (a pair whose `identifier` check fields are identical on both sides is never refused:
the same NHS number outweighs a given name mistyped on both sides):

- `name`: disagree when the names' Dice is below NAME_DICE and they share no token (no
  nickname group, and more than one edit apart);
- `date`: disagree when the dates share no token: not equal, not day and month swapped, not
  a year apart with day and month equal, not a day apart within the month, and more than one
  digit (or one transposition of neighbours) apart;
- `identifier`: disagree when the Dice is below IDENTIFIER_DICE: more than one digit, or more
  than one transposition of neighbours, differs (one digit of ten: at least 7/9; a swap of
  neighbours: at least 6/9).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from functools import cache

import numpy as np

from civicshare.linkage.pprl.encoding import gram_bytes, keyed_positions, pack
from civicshare.linkage.pprl.scheme import FieldSpec, Scheme, derive_key

CHECK_HASHES = 4  # positions per q-gram in a check filter
NAME_GROUP_SLOTS = 4  # nickname groups kept per name (AL belongs to four)
NAME_DELETION_SLOTS = 16  # the name and its one-letter deletions (names up to 15 letters)
NAME_TOKEN_SLOTS = NAME_GROUP_SLOTS + NAME_DELETION_SLOTS
DATE_TOKENS = 14  # day/month either way, year and year after, day and day after, 9 edits
NAME_DICE = 0.7
IDENTIFIER_DICE = 0.6


def token_words(check: str) -> int:
    """64-bit words of tokens a check carries after its filter."""
    if check == "name":
        return (NAME_TOKEN_SLOTS * 32 + 63) // 64
    if check == "date":
        return (DATE_TOKENS * 32 + 63) // 64
    return 0


def filter_words(scheme: Scheme, check: str) -> int:
    """64-bit words of a check's filter (a date check has tokens only)."""
    return 0 if check == "date" else scheme.check_bits // 64


def check_words(scheme: Scheme) -> int:
    """Words per record of all the scheme's checks together (0 when it has none)."""
    return sum(
        filter_words(scheme, f.check or "") + token_words(f.check or "") for f in scheme.checks
    )


@cache
def _nickname_groups() -> dict[str, tuple[str, ...]]:
    from civicshare.linkage.standardised import nickname_groups

    table = nickname_groups()
    return {
        name: tuple(groups[:NAME_GROUP_SLOTS])
        for name, groups in zip(table["name"], table["groups"], strict=True)
    }


def _token(key: bytes, message: bytes) -> int:
    # 0 marks an empty slot, so a token is never 0.
    return int.from_bytes(hmac.digest(key, message, "sha256")[:4], "little") or 1


def _name_tokens(value: str) -> tuple[str, ...]:
    """Nickname groups, then the name and its one-letter deletions (kinds kept apart)."""
    groups = tuple(f"group {g}" for g in _nickname_groups().get(value, ()))
    letters = value.replace(" ", "")
    deletions = dict.fromkeys(
        [letters] + [letters[:x] + letters[x + 1 :] for x in range(len(letters))]
    )
    return groups + tuple(f"edit {d}" for d in list(deletions)[:NAME_DELETION_SLOTS])


def _date_tokens(text: str) -> tuple[str, ...]:
    """Two dates share one of these exactly when they agree as the date check allows."""
    year, month, day = text[:4], text[4:6], text[6:8]
    later = f"{int(year) + 1:04d}" if year.isdigit() else year
    # The day after as a number (the 31st and the 1st are not neighbours): 19 and 20 are
    # one keying slip apart but two digits.
    tomorrow = f"{int(day) + 1:02d}" if day.isdigit() else day
    edits = dict.fromkeys([text] + [text[:x] + text[x + 1 :] for x in range(len(text))])
    return (
        f"swap {year}{min(month, day)}{max(month, day)}",
        f"year {year}{month}{day}",
        f"year {later}{month}{day}",
        f"day {year}{month}{day}",
        f"day {year}{month}{tomorrow}",
        *(f"edit {e}" for e in list(edits)[: DATE_TOKENS - 5]),
    )


def encode_checks(
    scheme: Scheme, secret: bytes, values: dict[str, list[str | None]], salts: Sequence[str]
) -> np.ndarray:
    """(n, check_words) uint64: per check field, its filter's words then its tokens' words.

    Each distinct (salt, value) is encoded once, then copied to its records: names and dates
    repeat, so a file costs one HMAC per distinct q-gram and token, not per record.
    """
    n = len(salts)
    out = np.zeros((n, check_words(scheme)), dtype=np.uint64)
    word = 0
    for spec in scheme.checks:
        fw = filter_words(scheme, spec.check or "")
        tw = token_words(spec.check or "")
        index: dict[tuple[str, str], int] = {}
        setindex = index.setdefault
        codes = np.fromiter(
            (
                -1 if v is None or not _usable(spec, v) else setindex((salt, v), len(index))
                for salt, v in zip(salts, values[spec.name], strict=True)
            ),
            dtype=np.int64,
            count=n,
        )
        distinct = list(index)
        rows = np.flatnonzero(codes >= 0)
        if not distinct:
            word += fw + tw
            continue
        if fw:
            filters = _check_filters(scheme, secret, spec, distinct)
            out[rows, word : word + fw] = filters[codes[rows]]
        if tw:
            tokens = _check_tokens(secret, spec, distinct, tw * 2)
            out[rows, word + fw : word + fw + tw] = tokens.view(np.uint64)[codes[rows]]
        word += fw + tw
    return out


def _usable(spec: FieldSpec, value: str) -> bool:
    # A given name of one letter is an initial: it says nothing against another name.
    return not (spec.check == "name" and len(value.replace(" ", "")) < 2)


def _check_filters(
    scheme: Scheme, secret: bytes, spec: FieldSpec, distinct: list[tuple[str, str]]
) -> np.ndarray:
    """Packed check filters of each distinct (salt, value), salted as the record's filter."""
    bits = scheme.check_bits
    key = derive_key(secret, f"check {spec.name} block 0")
    salted = scheme.salt is not None
    gram_index: dict[bytes, int] = {}
    setgram = gram_index.setdefault
    owners: list[int] = []
    grams: list[int] = []
    for d, (salt, value) in enumerate(distinct):
        prefix = salt.encode() + b"\x1f" if salted else b""
        for gram in gram_bytes(spec.kind, value.encode(), spec.q):
            owners.append(d)
            grams.append(setgram(prefix + gram, len(gram_index)))
    positions = keyed_positions([key], list(gram_index), CHECK_HASHES, bits)
    filters = np.zeros((len(distinct), bits), dtype=np.bool_)
    filters[np.asarray(owners)[:, None], positions[np.asarray(grams)]] = True
    return pack(filters)


def _check_tokens(
    secret: bytes, spec: FieldSpec, distinct: list[tuple[str, str]], slots: int
) -> np.ndarray:
    """(distinct, slots) uint32 tokens of each distinct (salt, value); 0 = empty slot."""
    key = derive_key(secret, f"check {spec.name} tokens")
    out = np.zeros((len(distinct), slots), dtype=np.uint32)
    # Neighbouring values share tokens (1975-03-14 and 1975-03-15 share "the day after"
    # and a deletion), so each message is hashed once per file.
    tokens: dict[bytes, int] = {}
    for d, (salt, value) in enumerate(distinct):
        parts = _name_tokens(value) if spec.check == "name" else _date_tokens(value)
        prefix = salt.encode() + b"\x1f"
        row = []
        for part in parts:
            message = prefix + part.encode()
            token = tokens.get(message)
            if token is None:
                token = tokens[message] = _token(key, message)
            row.append(token)
        out[d, : len(row)] = row
    return out


def _share_a_token(ta: np.ndarray, tb: np.ndarray, chunk: int = 1 << 15) -> np.ndarray:
    """Per row, whether the two rows of 32-bit tokens have a (non-zero) token in common."""
    out = np.empty(len(ta), dtype=bool)
    for s in range(0, len(ta), chunk):
        a, b = ta[s : s + chunk, :, None], tb[s : s + chunk, None, :]
        out[s : s + chunk] = ((a == b) & (a != 0)).any(axis=(1, 2))
    return out


def checks_disagree(
    scheme: Scheme, a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray
) -> tuple[np.ndarray, dict[str, int]]:
    """Which pairs (rows i of a with rows j of b) a check refuses, and how many per check
    field (a pair refused by two checks counts under both)."""
    refused = np.zeros(len(i), dtype=bool)
    identical_identifier = np.zeros(len(i), dtype=bool)
    counts: dict[str, np.ndarray] = {}
    word = 0
    for spec in scheme.checks:
        fw = filter_words(scheme, spec.check or "")
        fa, fb = a[i, word : word + fw], b[j, word : word + fw]
        count_a = np.bitwise_count(fa).sum(axis=1, dtype=np.int64)
        count_b = np.bitwise_count(fb).sum(axis=1, dtype=np.int64)
        common = np.bitwise_count(fa & fb).sum(axis=1, dtype=np.int64)
        both = (count_a > 0) & (count_b > 0)
        dice = 2.0 * common / np.maximum(count_a + count_b, 1)
        extra = token_words(spec.check or "")
        ta = np.ascontiguousarray(a[i, word + fw : word + fw + extra])
        tb = np.ascontiguousarray(b[j, word + fw : word + fw + extra])
        ta, tb = ta.view(np.uint32), tb.view(np.uint32)
        if spec.check == "name":
            disagree = both & (dice < NAME_DICE) & ~_share_a_token(ta, tb)
        elif spec.check == "date":
            both = (ta[:, 0] != 0) & (tb[:, 0] != 0)
            disagree = both & ~_share_a_token(ta, tb)
        else:
            disagree = both & (dice < IDENTIFIER_DICE)
            identical_identifier |= both & (common == count_a) & (common == count_b)
        counts[spec.name] = disagree
        refused |= disagree
        word += fw + extra
    # The same NHS number on both sides outweighs a name or date typed wrongly on both.
    refused &= ~identical_identifier
    return refused, {name: int((d & refused).sum()) for name, d in counts.items()}
