"""The dated price snapshot: load it, check it, and answer price look-ups from memory.

Snapshots live in `cost/prices/aws-YYYY-MM-DD.json`; the newest one is used unless a
file is named. Every look-up is an in-memory dictionary read (no network at pricing
time), counted so the benchmark can show how many a diff made.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRICES_DIR = Path(__file__).resolve().parent / "prices"
SNAPSHOT_NAME = re.compile(r"^aws-(\d{4}-\d{2}-\d{2})\.json$")
SCHEMA = 1


class SnapshotError(ValueError):
    """A snapshot that cannot be used; the message is one line naming the file and the fix."""


class RegionNotInSnapshot(LookupError):
    """A resource lives in a region the snapshot has no prices for."""

    def __init__(self, region: str, snapshot: "PriceSnapshot") -> None:
        self.region = region
        super().__init__(
            f"region {region} is not in price snapshot {snapshot.date} (it has {', '.join(sorted(snapshot.regions))}); "
            f"run `python -m cost refresh-prices --region {region}`"
        )


@dataclass
class PriceSnapshot:
    date: str
    currency: str
    hours_per_month: float
    regions: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    source: str = ""
    lookups: int = 0

    def region(self, region: str) -> dict[str, Any]:
        self.lookups += 1
        try:
            return self.regions[region]
        except KeyError:
            raise RegionNotInSnapshot(region, self) from None

    def instance_hour(self, region: str, instance_type: str, capacity_type: str) -> float | None:
        """Hourly price of one instance, or None when the snapshot lacks it."""
        table = "spotHour" if capacity_type == "SPOT" else "onDemandHour"
        return self.region(region)[table].get(instance_type)

    def hourly(self, region: str, key: str) -> float:
        """A fixed hourly price such as `eksClusterHour` or `natGatewayHour`."""
        return float(self.region(region)[key])

    def optional(self, region: str, key: str) -> float | None:
        """A price only some snapshots carry (the usage prices: `natGatewayGb`, `s3StandardGbMonth` …)."""
        value = self.region(region).get(key)
        return None if value is None else float(value)

    def spot_measured(self, region: str, instance_type: str) -> dict[str, Any] | None:
        """The measurement behind a Spot price (`refresh-prices --spot`), or None for an estimate."""
        return self.regions.get(region, {}).get("spotMeasured", {}).get(instance_type)

    def spot_source(self, region: str) -> str:
        return str(self.regions.get(region, {}).get("spotSource", "not stated"))

    def ebs_gb_month(self, region: str, volume_type: str) -> float | None:
        return self.region(region)["ebsGbMonth"].get(volume_type)

    def region_date(self, region: str) -> str:
        return str(self.regions.get(region, {}).get("date", self.date))


_REGION_KEYS = ("eksClusterHour", "eksExtendedClusterHour", "natGatewayHour", "publicIpv4Hour", "ebsGbMonth", "onDemandHour", "spotHour")
# Prices of usage-based items: optional, since they matter only with a usage file.
USAGE_PRICE_KEYS = ("natGatewayGb", "s3StandardGbMonth", "s3PutPer1000", "s3GetPer1000", "logsIngestGb")


def _price(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def snapshot_from_json(document: Any, source: str) -> PriceSnapshot:
    """Validate a parsed snapshot document; raise SnapshotError naming the first bad field."""
    if not isinstance(document, dict):
        raise SnapshotError(f"{source}: a price snapshot must be a JSON object")
    if document.get("schema") != SCHEMA:
        raise SnapshotError(f"{source}: schema must be {SCHEMA} (got {document.get('schema')!r}); regenerate it with `python -m cost refresh-prices`")
    date = document.get("date")
    if not isinstance(date, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise SnapshotError(f"{source}: date must be YYYY-MM-DD (got {date!r})")
    regions = document.get("regions")
    if not isinstance(regions, dict) or not regions:
        raise SnapshotError(f"{source}: regions must map at least one region to its prices")
    for region, prices in regions.items():
        if not isinstance(prices, dict):
            raise SnapshotError(f"{source}: regions.{region} must be an object")
        for key in _REGION_KEYS:
            if key not in prices:
                raise SnapshotError(f"{source}: regions.{region}.{key} is missing")
        for table in ("ebsGbMonth", "onDemandHour", "spotHour"):
            values = prices[table]
            if not isinstance(values, dict) or not all(_price(v) for v in values.values()):
                raise SnapshotError(f"{source}: regions.{region}.{table} must map names to non-negative numbers")
        for key in ("eksClusterHour", "eksExtendedClusterHour", "natGatewayHour", "publicIpv4Hour",
                    *(k for k in USAGE_PRICE_KEYS if k in prices)):
            if not _price(prices[key]):
                raise SnapshotError(f"{source}: regions.{region}.{key} must be a non-negative number")
        measured = prices.get("spotMeasured", {})
        if not isinstance(measured, dict) or not all(
            isinstance(m, dict) and all(_price(m.get(k)) for k in ("mean", "min", "max")) for m in measured.values()
        ):
            raise SnapshotError(f"{source}: regions.{region}.spotMeasured must map types to {{mean, min, max}} prices")
    hours = document.get("hoursPerMonth", 730)
    if not isinstance(hours, (int, float)) or hours <= 0:
        raise SnapshotError(f"{source}: hoursPerMonth must be a positive number")
    return PriceSnapshot(
        date=date,
        currency=str(document.get("currency", "USD")),
        hours_per_month=float(hours),
        regions=regions,
        notes=[str(n) for n in document.get("notes", [])],
        source=source,
    )


def latest_snapshot_path(directory: Path = PRICES_DIR) -> Path:
    """The newest `aws-YYYY-MM-DD.json` in `directory`."""
    dated = sorted(
        (match.group(1), path)
        for path in directory.glob("aws-*.json")
        if (match := SNAPSHOT_NAME.match(path.name))
    )
    if not dated:
        raise SnapshotError(f"no aws-YYYY-MM-DD.json price snapshot in {directory.name}/; run `python -m cost refresh-prices`")
    return dated[-1][1]


def load_snapshot(path: Path | None = None) -> PriceSnapshot:
    """Load the named snapshot, or the newest committed one."""
    path = path or latest_snapshot_path()
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise SnapshotError(f"{path}: no such price snapshot; pass an existing file to --prices") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SnapshotError(f"{path}: cannot read it ({error.__class__.__name__})") from None
    except json.JSONDecodeError as error:
        raise SnapshotError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    return snapshot_from_json(document, path.name)
