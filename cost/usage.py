"""The usage file: what the bill depends on besides the declared resources (like Infracost's
`infracost-usage.yml`), checked into the repository and read with `--usage FILE`.

    version: 1
    nodeGroups:              # by the node group's logical name, as the comment shows it
      nodegroups-executors: {averageNodes: 6}
    s3Buckets:               # by the bucket's logical name
      storage-data: {storageGb: 500, putRequests: 200000, getRequests: 2000000}
    network:
      natDataProcessedGb: 50 # GB/month through the NAT gateways, S3 traffic excluded
      s3TrafficGb: 2000      # GB/month between the nodes and S3 (and ECR layers, which S3 serves)
    cloudWatchLogs:
      ingestedGb: 20         # GB/month ingested (control-plane logs and anything else)

S3 traffic goes through the S3 gateway endpoint when the stack has one (free), otherwise
through the NAT gateways at their per-GB price: that is how the endpoint's saving shows in
a diff. Every figure is per month. Loading is strict: one line names a bad field and the fix.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from cli_common import yaml_error
from cost.inputs import InputError
from cost.pricing import BucketUsage

VERSION = 1
SECTIONS: dict[str, dict[str, str] | None] = {
    "version": None,
    "nodeGroups": {"averageNodes": "average nodes running over the month"},
    "s3Buckets": {"storageGb": "GB stored (S3 Standard)", "putRequests": "PUT, COPY, POST, LIST requests",
                  "getRequests": "GET, SELECT and other requests"},
    "network": {"natDataProcessedGb": "GB through the NAT gateways, S3 traffic excluded",
                "s3TrafficGb": "GB between the nodes and S3"},
    "cloudWatchLogs": {"ingestedGb": "GB ingested into CloudWatch Logs"},
}
PER_NAME = ("nodeGroups", "s3Buckets")


@dataclass(frozen=True)
class Usage:
    source: str
    node_groups: dict[str, float] = field(default_factory=dict)
    buckets: dict[str, BucketUsage] = field(default_factory=dict)
    nat_data_gb: float | None = None
    s3_traffic_gb: float | None = None
    logs_ingested_gb: float | None = None
    given: str = ""  # the path as the user gave it, for errors found after loading


class UsageFileError(InputError):
    """A usage file that cannot be used; one line naming the file, the field and the fix."""


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"


def _amount(value: Any, where: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise UsageFileError(f"{source}: {where} must be a number of zero or more (got {value!r})")
    return float(value)


def _fields(raw: Any, section: str, where: str, source: str) -> dict[str, float]:
    allowed = SECTIONS[section] or {}
    if not isinstance(raw, dict):
        raise UsageFileError(f"{source}: {where} must be a mapping of {', '.join(allowed)}")
    values = {}
    for key, value in raw.items():
        if key not in allowed:
            raise UsageFileError(f"{source}: {where}.{key} is not a usage field{_suggest(str(key), list(allowed))}")
        values[key] = _amount(value, f"{where}.{key}", source)
    return values


def usage_from_document(document: Any, source: str) -> Usage:
    """Validate a parsed usage file."""
    if not isinstance(document, dict):
        raise UsageFileError(f"{source}: a usage file is a YAML mapping with `version: {VERSION}` (see cost-usage.example.yml)")
    if document.get("version") != VERSION:
        raise UsageFileError(f"{source}: version must be {VERSION} (got {document.get('version')!r})")
    for key in document:
        if key not in SECTIONS:
            raise UsageFileError(f"{source}: {key} is not a usage section{_suggest(str(key), list(SECTIONS))}")
    per_name: dict[str, dict[str, dict[str, float]]] = {}
    for section in PER_NAME:
        raw = document.get(section) or {}
        if not isinstance(raw, dict):
            raise UsageFileError(f"{source}: {section} must map logical names to their figures")
        per_name[section] = {str(name): _fields(values, section, f"{section}.{name}", source) for name, values in raw.items()}
    network = _fields(document.get("network") or {}, "network", "network", source)
    logs = _fields(document.get("cloudWatchLogs") or {}, "cloudWatchLogs", "cloudWatchLogs", source)
    groups = {}
    for name, values in per_name["nodeGroups"].items():
        if "averageNodes" not in values:
            raise UsageFileError(f"{source}: nodeGroups.{name}.averageNodes is missing")
        groups[name] = values["averageNodes"]
    buckets = {
        name: BucketUsage(values.get("storageGb", 0.0), values.get("putRequests", 0.0), values.get("getRequests", 0.0))
        for name, values in per_name["s3Buckets"].items()
    }
    return Usage(source, groups, buckets, network.get("natDataProcessedGb"), network.get("s3TrafficGb"), logs.get("ingestedGb"))


def load_usage(path: Path) -> Usage:
    """Read and check a usage file (YAML); errors name it as the user gave it."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UsageFileError(f"{path}: no such usage file; copy cost-usage.example.yml and edit its figures") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageFileError(f"{path}: cannot read it ({error.__class__.__name__})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UsageFileError(yaml_error(str(path), error)) from None
    # The report names the file by its name (as the comment shows it); errors by the path as given.
    return replace(usage_from_document(document, str(path)), source=path.name, given=str(path))


def check_names(usage: Usage, node_groups: set[str], buckets: set[str]) -> None:
    """Every name the usage file prices must be a resource of the change: a typo is not a zero."""
    for section, names, known in (("nodeGroups", usage.node_groups, node_groups), ("s3Buckets", usage.buckets, buckets)):
        for name in names:
            if name not in known:
                listed = ", ".join(sorted(known)) or "none"
                raise UsageFileError(f"{usage.given or usage.source}: {section}.{name} names no resource of this change (it has {listed})")
