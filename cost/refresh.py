"""Regenerate the price snapshot from AWS: the Pricing API for On-Demand, NAT gateway and EBS
prices, and (with `--spot`) the EC2 Spot price history for Spot prices.

For users with credentials (`pricing:GetProducts`, and `ec2:DescribeSpotPriceHistory` for
`--spot`). Every call goes through a boto3 paginator. The clients are passed in, so tests
drive the same code with botocore's Stubber (moto does not implement the Pricing API and
its Spot history is a placeholder). Prices the code does not fetch (EKS, public IPv4, S3,
CloudWatch Logs) are carried over from the previous snapshot for a region it has, or copied
from another region for a new one; the file says which, and a copy is warned about.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from statistics import fmean
from typing import Any, Callable, Iterable

# The Pricing API is served from us-east-1 whatever region is priced.
PRICING_REGION = "us-east-1"
SPOT_PRODUCT = "Linux/UNIX"
SPOT_DAYS = 30
VOLUME_TYPES = ("gp2", "gp3")
# Prices no API call here fetches: carried over (same region) or copied (a new region).
CARRIED_KEYS = ("eksClusterHour", "eksExtendedClusterHour", "publicIpv4Hour", "s3StandardGbMonth", "s3PutPer1000",
                "s3GetPer1000", "logsIngestGb")


class RefreshError(RuntimeError):
    """AWS answered, but not with a price we can use; the message names what is missing."""


def _term_filters(fields: dict[str, str]) -> list[dict[str, str]]:
    return [{"Type": "TERM_MATCH", "Field": key, "Value": value} for key, value in fields.items()]


def on_demand_filters(region: str, instance_type: str) -> list[dict[str, str]]:
    """The filters that select exactly one On-Demand Linux, shared-tenancy product."""
    return _term_filters({
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
    })


def nat_filters(region: str) -> list[dict[str, str]]:
    """NAT gateway products of a region: hours and data processed (usage types `…NatGateway-Hours`, `…NatGateway-Bytes`)."""
    return _term_filters({"productFamily": "NAT Gateway", "regionCode": region})


def ebs_filters(region: str, volume_type: str) -> list[dict[str, str]]:
    """EBS storage of one volume type in a region (product family Storage, `volumeApiName`)."""
    return _term_filters({"productFamily": "Storage", "volumeApiName": volume_type, "regionCode": region})


def _usd(product: dict[str, Any], units: tuple[str, ...]) -> list[float]:
    """Every non-zero USD price in a product's On-Demand terms whose unit is one of `units`."""
    prices = []
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if dimension.get("unit") in units and usd is not None and float(usd) > 0:
                prices.append(float(usd))
    return prices


def _products(pricing: Any, filters: list[dict[str, str]]) -> Iterable[dict[str, Any]]:
    paginator = pricing.get_paginator("get_products")
    for page in paginator.paginate(ServiceCode="AmazonEC2", Filters=filters, FormatVersion="aws_v1"):
        for item in page.get("PriceList", []):
            yield json.loads(item) if isinstance(item, str) else item


def fetch_on_demand(pricing: Any, region: str, instance_types: Iterable[str]) -> tuple[dict[str, float], list[str]]:
    """On-Demand hourly price per type in `region`; the second value lists types AWS did not price."""
    prices: dict[str, float] = {}
    missing: list[str] = []
    for instance_type in instance_types:
        found = {price for product in _products(pricing, on_demand_filters(region, instance_type)) for price in _usd(product, ("Hrs",))}
        if not found:
            missing.append(instance_type)
        else:
            # The filters select one product; if AWS ever lists two, take the dearer rather than under-estimate.
            prices[instance_type] = max(found)
    return prices, missing


def fetch_nat(pricing: Any, region: str) -> dict[str, float]:
    """`natGatewayHour` and `natGatewayGb` of the region, as far as the Pricing API lists them."""
    found: dict[str, set[float]] = defaultdict(set)
    for product in _products(pricing, nat_filters(region)):
        usage_type = str(product.get("product", {}).get("attributes", {}).get("usagetype", ""))
        if usage_type.endswith("NatGateway-Hours"):
            found["natGatewayHour"].update(_usd(product, ("Hrs",)))
        elif usage_type.endswith("NatGateway-Bytes"):
            found["natGatewayGb"].update(_usd(product, ("GB", "Quantity")))
    return {key: max(values) for key, values in found.items() if values}


def fetch_ebs(pricing: Any, region: str, volume_types: Iterable[str] = VOLUME_TYPES) -> dict[str, float]:
    """Per GB-month price of each volume type in the region."""
    prices = {}
    for volume_type in volume_types:
        found = {price for product in _products(pricing, ebs_filters(region, volume_type)) for price in _usd(product, ("GB-Mo",))}
        if found:
            prices[volume_type] = max(found)
    return prices


def _zone_mean(rows: list[tuple[datetime, float]], start: datetime, end: datetime) -> tuple[float, list[float]]:
    """Time-weighted mean of one AZ's price over [start, end], and the prices in effect in it.

    A row's price holds from its timestamp until the next row; the history also returns the
    last change before `start`, the price in effect at `start` (EC2 DescribeSpotPriceHistory).
    """
    rows = sorted(rows)
    effective = [(max(stamp, start), price) for stamp, price in rows if stamp <= end]
    before = [row for row in effective if row[0] == start]
    effective = ([before[-1]] if before else []) + [row for row in effective if row[0] > start]
    if not effective:
        return rows[0][1], [rows[0][1]]
    total = weighted = 0.0
    for (stamp, price), following in zip(effective, [*effective[1:], (end, 0.0)]):
        seconds = (following[0] - stamp).total_seconds()
        weighted += seconds * price
        total += seconds
    prices = [price for _stamp, price in effective]
    return (weighted / total if total else prices[-1]), prices


def fetch_spot_history(
    ec2: Any, instance_types: Iterable[str], now: datetime, days: int = SPOT_DAYS
) -> dict[str, dict[str, Any]]:
    """Spot price per type over the last `days`: the time-weighted mean of each AZ, averaged over
    the AZs that list the type, with the lowest and highest price in effect and what was read."""
    start = now - timedelta(days=days)
    rows: dict[tuple[str, str], list[tuple[datetime, float]]] = defaultdict(list)
    paginator = ec2.get_paginator("describe_spot_price_history")
    pages = paginator.paginate(
        InstanceTypes=list(instance_types), ProductDescriptions=[SPOT_PRODUCT], StartTime=start, EndTime=now
    )
    for page in pages:
        for row in page.get("SpotPriceHistory", []):
            rows[(row["InstanceType"], row["AvailabilityZone"])].append((row["Timestamp"], float(row["SpotPrice"])))
    by_type: dict[str, dict[str, tuple[float, list[float]]]] = defaultdict(dict)
    samples: dict[str, int] = defaultdict(int)
    for (instance_type, zone), zone_rows in rows.items():
        by_type[instance_type][zone] = _zone_mean(zone_rows, start, now)
        samples[instance_type] += len(zone_rows)
    measured = {}
    for instance_type, zones in sorted(by_type.items()):
        in_effect = [price for _mean, prices in zones.values() for price in prices]
        measured[instance_type] = {
            "mean": round(fmean(mean for mean, _prices in zones.values()), 6),
            "min": min(in_effect),
            "max": max(in_effect),
            "zones": sorted(zones),
            "samples": samples[instance_type],
            "from": start.isoformat(timespec="minutes"),
            "to": now.isoformat(timespec="minutes"),
        }
    return measured


def _spot_prices(
    region: str, carried: dict[str, Any] | None, instance_types: list[str], ec2_for: Callable[[str], Any] | None,
    now: datetime, warnings: list[str],
) -> dict[str, Any]:
    """spotHour, spotMeasured and spotSource of one region: measured with --spot, else carried over."""
    if ec2_for is None:
        if carried is None:
            warnings.append(f"{region}: no Spot prices (a new region); run `python -m cost refresh-prices --spot --region {region}`")
            return {"spotSource": "none yet: run `python -m cost refresh-prices --spot`", "spotHour": {}, "spotMeasured": {}}
        kept = {"spotSource": carried["spotSource"], "spotHour": carried["spotHour"], "spotMeasured": carried.get("spotMeasured", {})}
        if "spotSavingsPercent" in carried:  # the stated fraction behind each estimate goes with it
            kept["spotSavingsPercent"] = carried["spotSavingsPercent"]
        return kept
    measured = fetch_spot_history(ec2_for(region), instance_types, now)
    earlier = (carried or {}).get("spotHour", {})
    estimates = {t: earlier[t] for t in instance_types if t not in measured and t in earlier}
    no_history = [t for t in instance_types if t not in measured]
    if no_history:
        warnings.append(f"{region}: no Spot price history for {', '.join(no_history)}"
                        + ("; their earlier estimates are kept" if estimates else ""))
    source = (f"EC2 DescribeSpotPriceHistory, {SPOT_PRODUCT}, every AZ that lists the type, {SPOT_DAYS} days to "
              f"{now.isoformat(timespec='minutes')}: time-weighted mean per AZ, averaged over the AZs (see spotMeasured)")
    prices: dict[str, Any] = {
        "spotSource": source,
        "spotHour": dict(sorted({**estimates, **{t: m["mean"] for t, m in measured.items()}}.items())),
        "spotMeasured": measured,
    }
    if estimates and carried is not None:
        prices["spotEstimateSource"] = f"{', '.join(sorted(estimates))}: {carried['spotSource']}"
        savings = {t: s for t, s in carried.get("spotSavingsPercent", {}).items() if t in estimates}
        if savings:
            prices["spotSavingsPercent"] = dict(sorted(savings.items()))
    return prices


def refreshed_snapshot(
    previous: dict[str, Any],
    regions: list[str],
    instance_types: list[str],
    pricing: Any,
    ec2_for: Callable[[str], Any] | None,
    now: datetime,
) -> tuple[dict[str, Any], list[str]]:
    """A new snapshot document and warnings. `ec2_for` None: Spot prices are carried over, not measured."""
    today = now.date().isoformat()
    warnings: list[str] = []
    old_regions: dict[str, Any] = previous.get("regions", {})
    new_regions = {name: prices for name, prices in old_regions.items() if name not in regions}
    template_name = next(iter(old_regions), None)
    for region in regions:
        carried = old_regions.get(region)
        basis = carried or (old_regions[template_name] if template_name else None)
        if basis is None:
            raise RefreshError(f"no previous price snapshot to carry EKS and public IPv4 prices for {region} from")
        on_demand, missing = fetch_on_demand(pricing, region, instance_types)
        if missing:
            warnings.append(f"{region}: the Pricing API returned no On-Demand price for {', '.join(missing)}")
        if not on_demand:
            raise RefreshError(f"{region}: the Pricing API returned no On-Demand price at all; check the region name")
        nat, ebs = fetch_nat(pricing, region), fetch_ebs(pricing, region)
        fetched = [*(k for k in ("natGatewayHour", "natGatewayGb") if k in nat), *(f"ebsGbMonth.{v}" for v in sorted(ebs))]
        kept = [k for k in ("natGatewayHour", "natGatewayGb") if k not in nat] + [f"ebsGbMonth.{v}" for v in VOLUME_TYPES if v not in ebs]
        if kept:
            warnings.append(f"{region}: the Pricing API returned no {', '.join(kept)}; "
                            + ("carried over" if carried else f"copied from {template_name}, check them"))
        carried_keys = [key for key in CARRIED_KEYS if key in basis] + kept
        origin = (f"from snapshot {previous.get('date')}" if carried
                  else f"COPIED from {template_name} of snapshot {previous.get('date')}: not this region's prices")
        if not carried:
            warnings.append(f"{region}: {', '.join(carried_keys)} copied from {template_name}'s prices; "
                            "check them against the region's AWS pricing pages")
        entry: dict[str, Any] = {
            "date": today,
            "onDemandSource": f"AWS Pricing API get_products, {today}",
            **_spot_prices(region, carried, instance_types, ec2_for, now, warnings),
            "eksClusterHour": basis["eksClusterHour"],
            "eksExtendedClusterHour": basis["eksExtendedClusterHour"],
            "natGatewayHour": nat.get("natGatewayHour", basis["natGatewayHour"]),
            "natGatewayGb": nat.get("natGatewayGb", basis.get("natGatewayGb")),
            "publicIpv4Hour": basis["publicIpv4Hour"],
            "ebsGbMonth": {v: ebs.get(v, basis["ebsGbMonth"].get(v)) for v in VOLUME_TYPES if v in ebs or v in basis["ebsGbMonth"]},
            **{key: basis[key] for key in CARRIED_KEYS if key.startswith(("s3", "logs")) and key in basis},
            "fetched": f"{', '.join(fetched) or 'nothing else'} from the AWS Pricing API, {today}",
            "carriedOver": f"{', '.join(carried_keys)} {origin}",
            "onDemandHour": dict(sorted(on_demand.items())),
        }
        if entry["natGatewayGb"] is None:
            del entry["natGatewayGb"]
        new_regions[region] = entry
    document = {
        "schema": 1,
        "date": today,
        "currency": "USD",
        "hoursPerMonth": previous.get("hoursPerMonth", 730),
        "notes": [
            f"Made by `python -m cost refresh-prices` on {today}: On-Demand, NAT gateway and EBS prices for {', '.join(regions)} "
            "from the AWS Pricing API; Spot prices "
            + ("measured from the EC2 Spot price history" if ec2_for else "carried over")
            + "; other regions and the other prices carried over (or copied) as each region's fields say.",
            *[n for n in previous.get("notes", []) if not n.startswith("Made by `python -m cost refresh-prices`")],
        ],
        "regions": dict(sorted(new_regions.items())),
    }
    return document, warnings
