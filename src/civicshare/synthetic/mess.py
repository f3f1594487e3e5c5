"""Real-world mess, injected at documented, configurable rates and recorded in the truth.

Each kind of error is applied independently to each eligible record with probability equal to
its rate (a Bernoulli draw), so the realised rate is close to, not exactly, the setting. The
``eligible`` set of each kind is written to the manifest so a test can compare realised and set
rates: e.g. a nickname can only replace a forename that has one, a day/month swap only changes a
date whose day is 12 or less and differs from its month.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from . import names
from .common import UNIT_LETTERS, make_dates, year_month_day


@dataclass(frozen=True)
class MessRates:
    """Probability that each eligible record gets each kind of error (see docs/synthetic-county)."""

    typo: float = 0.02  # one-character edit in the forename or the surname
    nickname: float = (
        0.05  # forename replaced by a nickname (Bob for Robert); eligible if one exists
    )
    old_surname: float = 0.30  # recently married resident still held under the old surname
    hyphenated_surname: float = 0.10  # recently married resident held as Old-New
    date_swap: float = 0.01  # day and month of the date of birth swapped (day <= 12, day != month)
    missing_nhs: float = 0.03  # NHS number left blank
    wrong_nhs: float = 0.005  # NHS number mistyped (one digit; fails the check) or another's
    out_of_date_address: float = 0.25  # a resident who moved is still held at the old address
    postcode_typo: float = 0.01  # one character of the postcode wrong
    case_noise: float = 0.05  # a name field in unexpected case (SMITH, smith, sMITH)
    whitespace_noise: float = 0.03  # leading, trailing or doubled spaces in a name field
    duplicate: float = 0.01  # the record appears twice in the source
    deceased_retained: float = 0.15  # a resident who died is still held by a list of the living

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not (0.0 <= float(v) <= 1.0):
                raise ValueError(f"mess rate {f.name}={v} must be between 0 and 1")
        if self.old_surname + self.hyphenated_surname > 1.0:
            raise ValueError("old_surname + hyphenated_surname must not exceed 1")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def parse(cls, items: list[str] | None) -> MessRates:
        """Build from ``["typo=0.05", "duplicate=0"]``; unknown names are an error."""
        known = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for item in items or []:
            if "=" not in item:
                raise ValueError(f"rate {item!r} must look like name=value")
            k, v = item.split("=", 1)
            k = k.strip().replace("-", "_")
            if k not in known:
                raise ValueError(f"unknown mess rate {k!r}; known: {', '.join(sorted(known))}")
            values[k] = float(v)
        return cls(**values)


KINDS = [f.name for f in fields(MessRates)]

_NICK_KEYS = set(names.NICKNAMES)
_LOWER = "abcdefghijklmnopqrstuvwxyz"


def make_typo(s: str, r: float, r2: float, r3: float) -> str:
    """One character edit of s, chosen by uniform numbers r, r2, r3; always changes s."""
    if not s:
        return "x"
    n = len(s)
    i = int(r2 * n)
    op = int(r * 4)
    if op == 0 and n > 1:  # deletion
        out = s[:i] + s[i + 1 :]
    elif op == 1:  # duplicate a letter (e.g. Philip -> Phillip)
        out = s[: i + 1] + s[i] + s[i + 1 :]
    elif op == 2 and n > 1:  # transpose with the next character
        j = min(i, n - 2)
        out = s[:j] + s[j + 1] + s[j] + s[j + 2 :]
    else:  # substitute
        c = _LOWER[int(r3 * 26)]
        if s[i].isupper():
            c = c.upper()
        out = s[:i] + c + s[i + 1 :]
    if out == s:
        out = s[:i] + ("e" if s[i].lower() != "e" else "a") + s[i + 1 :]
    return out


class Mess:
    """Applies mess to the canonical columns of one dataset's records and keeps the score."""

    def __init__(self, rng: np.random.Generator, rates: MessRates, n: int):
        self.rng = rng
        self.rates = rates
        self.n = n
        self.flags: dict[str, np.ndarray] = {}
        self.eligible: dict[str, int] = {}

    # -- bookkeeping ------------------------------------------------------------------
    def _draw(self, kind: str, eligible: np.ndarray, rate: float | None = None) -> np.ndarray:
        rate = getattr(self.rates, kind) if rate is None else rate
        hit = eligible & (self.rng.random(self.n) < rate)
        self.flags[kind] = self.flags.get(kind, np.zeros(self.n, bool)) | hit
        self.eligible[kind] = self.eligible.get(kind, 0) + int(eligible.sum())
        return hit

    def note(self, kind: str, flags: np.ndarray, eligible: int) -> None:
        """Record an error kind applied elsewhere (e.g. deceased retained at selection)."""
        self.flags[kind] = flags.astype(bool)
        self.eligible[kind] = int(eligible)

    def extend(self, idx: np.ndarray) -> None:
        """Rows were re-indexed (e.g. duplicates appended): reorder every flag with them."""
        self.flags = {k: v[idx] for k, v in self.flags.items()}
        self.n = len(idx)

    def summary(self) -> tuple[dict, dict]:
        rates = {k: getattr(self.rates, k) for k in self.flags}
        counts = {
            k: {"applied": int(self.flags[k].sum()), "eligible": int(self.eligible[k])}
            for k in self.flags
        }
        return rates, counts

    # -- kinds ------------------------------------------------------------------------
    def duplicate(self, cols: dict[str, np.ndarray]) -> np.ndarray:
        """Append copies of ~rate of the rows; returns for each row the row it copies (or -1)."""
        hit = self.rng.random(self.n) < self.rates.duplicate
        extra = np.flatnonzero(hit)
        idx = np.concatenate([np.arange(self.n), extra])
        for k in cols:
            cols[k] = cols[k][idx]
        dup_of = np.concatenate([np.full(self.n, -1), extra])
        n0 = self.n
        self.extend(idx)
        flags = np.zeros(self.n, bool)
        flags[n0:] = True
        self.note("duplicate", flags, n0)
        return dup_of

    def surnames(self, surname: np.ndarray, maiden: np.ndarray, recent: np.ndarray) -> np.ndarray:
        u = self.rng.random(self.n)
        r = self.rates
        old = recent & (u < r.old_surname)
        hyph = recent & (u >= r.old_surname) & (u < r.old_surname + r.hyphenated_surname)
        self.note("old_surname", old, int(recent.sum()))
        self.note("hyphenated_surname", hyph, int(recent.sum()))
        out = surname.copy()
        out[old] = maiden[old]
        out[hyph] = maiden[hyph] + "-" + surname[hyph]
        return out

    def address(self, prop: np.ndarray, prev: np.ndarray) -> np.ndarray:
        hit = self._draw("out_of_date_address", prev >= 0)
        out = prop.copy()
        out[hit] = prev[hit]
        return out

    def nickname(self, forename: np.ndarray) -> np.ndarray:
        elig = np.fromiter((f in _NICK_KEYS for f in forename), bool, len(forename))
        hit = self._draw("nickname", elig)
        out = forename.copy()
        idx = np.flatnonzero(hit)
        picks = self.rng.random(len(idx))
        for j, i in enumerate(idx):
            opts = names.NICKNAMES[forename[i]]
            out[i] = opts[int(picks[j] * len(opts))]
        return out

    def typo(self, forename: np.ndarray, surname: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hit = self._draw("typo", np.ones(self.n, bool))
        idx = np.flatnonzero(hit)
        u = self.rng.random((len(idx), 4))
        f, s = forename.copy(), surname.copy()
        for j, i in enumerate(idx):
            if u[j, 0] < 0.5 and f[i]:
                f[i] = make_typo(f[i], u[j, 1], u[j, 2], u[j, 3])
            else:
                s[i] = make_typo(s[i], u[j, 1], u[j, 2], u[j, 3])
        return f, s

    def date_swap(self, dates: np.ndarray) -> np.ndarray:
        valid = ~np.isnat(dates)
        y, m, d = year_month_day(np.where(valid, dates, np.datetime64("2000-01-01")))
        elig = valid & (d <= 12) & (d != m)
        hit = self._draw("date_swap", elig)
        out = dates.copy()
        out[hit] = make_dates(y[hit], d[hit], m[hit])
        return out

    def nhs(self, nhs: np.ndarray) -> np.ndarray:
        """int64 NHS numbers -> int64 with -1 for missing; wrong ones mostly fail the check."""
        out = nhs.copy()
        miss = self._draw("missing_nhs", out >= 0)
        out[miss] = -1
        wrong = self._draw("wrong_nhs", out >= 0)
        idx = np.flatnonzero(wrong)
        other = self.rng.random(len(idx)) < 0.2
        pos = self.rng.integers(1, 10, len(idx))  # any digit but the leading 9
        delta = self.rng.integers(1, 10, len(idx))
        p10 = 10 ** (9 - pos)
        digit = (out[idx] // p10) % 10
        newdigit = (digit + delta) % 10
        typoed = out[idx] + (newdigit - digit) * p10
        swapped = out[idx][self.rng.permutation(len(idx))] if len(idx) > 1 else typoed
        same = swapped == out[idx]
        out[idx] = np.where(other & ~same, swapped, typoed)
        return out

    def postcode(self, pcs: np.ndarray) -> np.ndarray:
        elig = pcs != ""
        hit = self._draw("postcode_typo", elig)
        out = pcs.copy()
        idx = np.flatnonzero(hit)
        u = self.rng.random((len(idx), 2))
        for j, i in enumerate(idx):
            s = out[i]
            if u[j, 0] < 0.6 or s[-1] == s[-2]:
                c = UNIT_LETTERS[int(u[j, 1] * len(UNIT_LETTERS))]
                if c == s[-1]:
                    c = UNIT_LETTERS[(UNIT_LETTERS.index(c) + 1) % len(UNIT_LETTERS)]
                out[i] = s[:-1] + c
            elif u[j, 0] < 0.8:
                out[i] = s[:-2] + s[-1] + s[-2]
            else:
                digit = int(s[-3])
                out[i] = s[:-3] + str((digit + 1 + int(u[j, 1] * 8)) % 10) + s[-2:]
        return out

    def case(self, cols: list[np.ndarray]) -> None:
        """In place: for hit rows, one of the given string columns changes case."""
        self._string_noise("case_noise", cols, change_case)

    def whitespace(self, cols: list[np.ndarray]) -> None:
        self._string_noise("whitespace_noise", cols, change_spacing)

    def _string_noise(self, kind, cols, fn):
        elig = np.zeros(self.n, bool)
        for c in cols:
            elig |= np.fromiter((bool(v) for v in c), bool, self.n)
        hit = self._draw(kind, elig)
        idx = np.flatnonzero(hit)
        u = self.rng.random((len(idx), 2))
        for j, i in enumerate(idx):
            opts = [c for c in cols if c[i]]
            c = opts[int(u[j, 0] * len(opts))]
            c[i] = fn(c[i], u[j, 1])


def change_case(s: str, r: float) -> str:
    """s in another case (upper, lower or swapped, chosen by uniform r); always changes s."""
    opts = [v for v in (s.upper(), s.lower(), s.swapcase()) if v != s]
    return opts[int(r * len(opts))] if opts else s + " "


def change_spacing(s: str, r: float) -> str:
    """s with a space added before or after, or a doubled inner space (by uniform r); always
    changes s and keeps its words."""
    if r < 0.4:
        return s + " "
    if r < 0.7:
        return " " + s
    k = s.find(" ")
    return s[:k] + "  " + s[k + 1 :] if k > 0 else s + "  "
