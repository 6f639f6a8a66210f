"""The EKS Kubernetes support calendar: which versions are in standard or extended support on a day.

One dated file, `cost/prices/eks-support-YYYY-MM-DD.json` (with its source), feeds both
the stack settings (which versions may be chosen, the plan's warning before standard
support ends) and the cost estimator (a control plane past standard support costs the
extended-support rate). The newest file is used unless a path is given.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

PRICES_DIR = Path(__file__).resolve().parent / "prices"
CALENDAR_NAME = re.compile(r"^eks-support-(\d{4}-\d{2}-\d{2})\.json$")

SupportPhase = Literal["standard", "extended", "ended"]


class CalendarError(ValueError):
    """A calendar file that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class VersionSupport:
    version: str
    released: date
    end_of_standard: date
    end_of_extended: date

    def phase(self, day: date) -> SupportPhase:
        """Standard support until its end date (exclusive), then extended, then ended."""
        if day < self.end_of_standard:
            return "standard"
        if day < self.end_of_extended:
            return "extended"
        return "ended"


@dataclass(frozen=True)
class SupportCalendar:
    date: str
    source: str
    versions: dict[str, VersionSupport]

    def get(self, version: str) -> VersionSupport | None:
        return self.versions.get(version)

    def in_standard_support(self, day: date) -> list[str]:
        """Versions in standard support on `day`, oldest first."""
        return [v for v, s in sorted(self.versions.items(), key=lambda i: _minor(i[0])) if s.phase(day) == "standard"]


def _minor(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def newest_calendar_path(directory: Path = PRICES_DIR) -> Path:
    dated = sorted(p for p in directory.glob("eks-support-*.json") if CALENDAR_NAME.match(p.name))
    if not dated:
        raise CalendarError(f"no eks-support-YYYY-MM-DD.json in {directory.name}/")
    return dated[-1]


@lru_cache(maxsize=8)
def load_calendar(path: Path | None = None) -> SupportCalendar:
    path = path or newest_calendar_path()
    try:
        document = json.loads(path.read_text())
        versions = {
            version: VersionSupport(
                version,
                date.fromisoformat(entry["released"]),
                date.fromisoformat(entry["endOfStandardSupport"]),
                date.fromisoformat(entry["endOfExtendedSupport"]),
            )
            for version, entry in document["versions"].items()
        }
        return SupportCalendar(str(document["date"]), str(document["source"]), versions)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CalendarError(f"{path.name}: not a usable support calendar ({error})") from None
