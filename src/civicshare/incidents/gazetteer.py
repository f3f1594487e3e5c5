"""The address gazetteer incidents match records against: every property with its UPRN, first
address line, postcode and National Grid location, an index of address -> property, postcode
centroids and a k-d tree. Built from the county's reference properties, which only
civicshare.maps.reference reads."""

from __future__ import annotations

import re
import threading
from typing import Any

import numpy as np

from civicshare.config import Settings
from civicshare.incidents.errors import IncidentError
from civicshare.incidents.geometry import PointIndex
from civicshare.maps import reference
from civicshare.maps.errors import MapError


def _norm(text: Any) -> str:
    return re.sub(r"[^A-Z0-9]+", " ", str(text or "").upper()).strip()


def norm_postcode(text: Any) -> str:
    return re.sub(r"\s+", "", str(text or "").upper())


class Gazetteer:
    """Properties by UPRN with their location, an index of address -> property, postcode
    centroids, and a k-d tree over every property."""

    COLUMNS = ["uprn", "address_line_1", "postcode", "easting", "northing"]

    def __init__(self, table) -> None:
        """`table`: the properties file's COLUMNS (maps.reference.read_properties)."""
        self.uprn = table.column("uprn").to_numpy().astype(np.int64)
        self.index = PointIndex(
            table.column("easting").to_numpy(), table.column("northing").to_numpy()
        )
        self.address = table.column("address_line_1").to_pylist()
        self.postcode = table.column("postcode").to_pylist()
        self._order = np.argsort(self.uprn, kind="stable")
        self._sorted = self.uprn[self._order]
        self.by_address: dict[tuple[str, str], int] = {}
        sums: dict[str, list[float]] = {}
        x, y = self.index.x, self.index.y
        for i, (line, postcode) in enumerate(zip(self.address, self.postcode, strict=True)):
            pc = norm_postcode(postcode)
            self.by_address.setdefault((_norm(line), pc), i)
            s = sums.setdefault(pc, [0.0, 0.0, 0])
            s[0] += x[i]
            s[1] += y[i]
            s[2] += 1
        self.centroids = {pc: (s[0] / s[2], s[1] / s[2]) for pc, s in sums.items()}

    def __len__(self) -> int:
        return len(self.uprn)

    def find_uprn(self, uprn: Any) -> int | None:
        try:
            value = int(str(uprn).strip())
        except (TypeError, ValueError):
            return None
        at = int(np.searchsorted(self._sorted, value))
        if at < len(self._sorted) and self._sorted[at] == value:
            return int(self._order[at])
        return None

    def find_address(self, line: Any, postcode: Any) -> int | None:
        first = str(line or "").split(",")[0]
        return self.by_address.get((_norm(first), norm_postcode(postcode)))


_cache_lock = threading.Lock()
_gazetteers: dict[tuple[str, float], Gazetteer] = {}


def gazetteer(settings: Settings) -> Gazetteer:
    path = reference.reference_path(settings, reference.PROPERTIES)
    key = (str(path), path.stat().st_mtime if path.is_file() else 0.0)
    with _cache_lock:
        found = _gazetteers.get(key)
        if found is None:
            try:
                table = reference.read_properties(settings, Gazetteer.COLUMNS)
            except MapError as error:  # incidents answer their own error, with its status
                raise IncidentError(error.message, status=error.status) from error
            found = Gazetteer(table)
            _gazetteers.clear()
            _gazetteers[key] = found
        return found
