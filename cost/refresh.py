"""Regenerate the price snapshot from AWS: On-Demand from the Pricing API, Spot from EC2.

For users with credentials (`pricing:GetProducts`, `ec2:DescribeSpotPriceHistory`).
Both calls go through boto3 paginators. The clients are passed in, so tests drive the
same code with botocore's Stubber (moto does not implement the Pricing API). Prices the
API does not cover here (EKS, NAT gateway, public IPv4, EBS) and regions not asked for
are carried over from the previous snapshot, and the file says which.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from statistics import fmean
from typing import Any, Callable, Iterable

# The Pricing API is served from us-east-1 whatever region is priced.
PRICING_REGION = "us-east-1"
SPOT_PRODUCT = "Linux/UNIX"


class RefreshError(RuntimeError):
    """AWS answered, but not with a price we can use; the message names what is missing."""


def on_demand_filters(region: str, instance_type: str) -> list[dict[str, str]]:
    """The filters that select exactly one On-Demand Linux, shared-tenancy product."""
    fields = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
    }
    return [{"Type": "TERM_MATCH", "Field": key, "Value": value} for key, value in fields.items()]


def _hourly_usd(product: dict[str, Any]) -> list[float]:
    """Every non-zero hourly USD price in a product's On-Demand terms."""
    prices = []
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if dimension.get("unit") == "Hrs" and usd is not None and float(usd) > 0:
                prices.append(float(usd))
    return prices


def fetch_on_demand(pricing: Any, region: str, instance_types: Iterable[str]) -> tuple[dict[str, float], list[str]]:
    """On-Demand hourly price per type in `region`; the second value lists types AWS did not price."""
    prices: dict[str, float] = {}
    missing: list[str] = []
    paginator = pricing.get_paginator("get_products")
    for instance_type in instance_types:
        found: set[float] = set()
        pages = paginator.paginate(
            ServiceCode="AmazonEC2", Filters=on_demand_filters(region, instance_type), FormatVersion="aws_v1"
        )
        for page in pages:
            for item in page.get("PriceList", []):
                product = json.loads(item) if isinstance(item, str) else item
                found.update(_hourly_usd(product))
        if not found:
            missing.append(instance_type)
        else:
            # The filters select one product; if AWS ever lists two, take the dearer rather than under-estimate.
            prices[instance_type] = max(found)
    return prices, missing


def fetch_spot(ec2: Any, instance_types: Iterable[str], now: datetime) -> dict[str, float]:
    """Spot price per type now: the latest price of every AZ, averaged over the AZs."""
    latest: dict[tuple[str, str], tuple[datetime, float]] = {}
    paginator = ec2.get_paginator("describe_spot_price_history")
    pages = paginator.paginate(
        InstanceTypes=list(instance_types), ProductDescriptions=[SPOT_PRODUCT], StartTime=now, EndTime=now
    )
    for page in pages:
        for row in page.get("SpotPriceHistory", []):
            key = (row["InstanceType"], row["AvailabilityZone"])
            stamp = row["Timestamp"]
            if key not in latest or stamp > latest[key][0]:
                latest[key] = (stamp, float(row["SpotPrice"]))
    by_type: dict[str, list[float]] = defaultdict(list)
    for (instance_type, _zone), (_stamp, price) in latest.items():
        by_type[instance_type].append(price)
    return {t: round(fmean(p), 6) for t, p in sorted(by_type.items())}


def refreshed_snapshot(
    previous: dict[str, Any],
    regions: list[str],
    instance_types: list[str],
    pricing: Any,
    ec2_for: Callable[[str], Any],
    now: datetime,
) -> tuple[dict[str, Any], list[str]]:
    """A new snapshot document and warnings (types AWS did not price)."""
    today = now.date().isoformat()
    warnings: list[str] = []
    old_regions: dict[str, Any] = previous.get("regions", {})
    new_regions = {name: prices for name, prices in old_regions.items() if name not in regions}
    template = next(iter(old_regions.values()), None)
    for region in regions:
        carried = old_regions.get(region) or template
        if carried is None:
            raise RefreshError(f"no previous price snapshot to carry EKS, NAT, IPv4 and EBS prices for {region} from")
        on_demand, missing = fetch_on_demand(pricing, region, instance_types)
        spot = fetch_spot(ec2_for(region), instance_types, now)
        if missing:
            warnings.append(f"{region}: the Pricing API returned no On-Demand price for {', '.join(missing)}")
        no_spot = [t for t in instance_types if t not in spot]
        if no_spot:
            warnings.append(f"{region}: no Spot price history for {', '.join(no_spot)}")
        if not on_demand:
            raise RefreshError(f"{region}: the Pricing API returned no On-Demand price at all; check the region name")
        new_regions[region] = {
            "date": today,
            "onDemandSource": f"AWS Pricing API get_products, {today}",
            "spotSource": f"EC2 describe_spot_price_history at {now.isoformat(timespec='minutes')}, mean over AZs",
            "eksClusterHour": carried["eksClusterHour"],
            "natGatewayHour": carried["natGatewayHour"],
            "publicIpv4Hour": carried["publicIpv4Hour"],
            "ebsGbMonth": carried["ebsGbMonth"],
            "carriedOver": f"eksClusterHour, natGatewayHour, publicIpv4Hour, ebsGbMonth from snapshot {previous.get('date')}"
            + ("" if region in old_regions else f" ({next(iter(old_regions))}'s figures)"),
            "onDemandHour": dict(sorted(on_demand.items())),
            "spotHour": spot,
        }
    document = {
        "schema": 1,
        "date": today,
        "currency": "USD",
        "hoursPerMonth": previous.get("hoursPerMonth", 730),
        "notes": [
            f"Made by `python -m cost refresh-prices` on {today}: instance prices for {', '.join(regions)} from AWS; "
            "other regions and the non-instance prices carried over as each region's fields say.",
            *[n for n in previous.get("notes", []) if not n.startswith("Made by `python -m cost refresh-prices`")],
        ],
        "regions": dict(sorted(new_regions.items())),
    }
    return document, warnings
