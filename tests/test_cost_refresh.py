"""`refresh-prices` against AWS responses played back by botocore's Stubber.

moto does not implement the Pricing API (see shared field notes), so the real botocore
clients are used with Stubber, which checks every request's parameters and returns a
response shaped like AWS's. The paginators are the real boto3 paginators: the
responses carry NextToken so more than one page is read.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from cost.cli import main
from cost.inputs import State
from cost.pricing import price_node_group
from cost.refresh import fetch_on_demand, fetch_spot, on_demand_filters, refreshed_snapshot
from cost.snapshot import PRICES_DIR, load_snapshot, snapshot_from_json
from infra.instance_types import INSTANCE_TYPES

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def client(service: str, region: str) -> Any:
    session = botocore.session.Session()
    return session.create_client(service, region_name=region, aws_access_key_id="stub", aws_secret_access_key="stub")


def product(instance_type: str, region: str, usd: float) -> str:
    """One PriceList entry as the Pricing API returns it: a JSON document in a string."""
    sku = f"SKU{abs(hash((instance_type, region))) % 10**8:08d}"
    return json.dumps({
        "product": {
            "productFamily": "Compute Instance",
            "attributes": {"instanceType": instance_type, "regionCode": region, "operatingSystem": "Linux",
                           "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used",
                           "licenseModel": "No License required"},
            "sku": sku,
        },
        "serviceCode": "AmazonEC2",
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {
            "offerTermCode": "JRTCKXETXF", "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z",
            "priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                "unit": "Hrs", "description": f"${usd} per On Demand Linux {instance_type} Instance Hour",
                "pricePerUnit": {"USD": f"{usd:.10f}"}}},
        }}},
        "version": "20261101000000",
        "publicationDate": "2026-11-01T00:00:00Z",
    })


def expect_products(stub: Stubber, region: str, instance_type: str, pages: list[list[str]]) -> None:
    for index, page in enumerate(pages):
        params: dict[str, Any] = {"ServiceCode": "AmazonEC2", "Filters": on_demand_filters(region, instance_type), "FormatVersion": "aws_v1"}
        response: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": page}
        if index:
            params["NextToken"] = f"page-{index}"
        if index + 1 < len(pages):
            response["NextToken"] = f"page-{index + 1}"
        stub.add_response("get_products", response, params)


def spot_row(instance_type: str, zone: str, price: str, age_minutes: int = 0) -> dict[str, Any]:
    return {"InstanceType": instance_type, "AvailabilityZone": zone, "ProductDescription": "Linux/UNIX",
            "SpotPrice": price, "Timestamp": NOW - timedelta(minutes=age_minutes)}


def expect_spot(stub: Stubber, types: list[str], pages: list[list[dict[str, Any]]]) -> None:
    for index, page in enumerate(pages):
        params: dict[str, Any] = {"InstanceTypes": types, "ProductDescriptions": ["Linux/UNIX"], "StartTime": NOW, "EndTime": NOW}
        response: dict[str, Any] = {"SpotPriceHistory": page}
        if index:
            params["NextToken"] = f"spot-{index}"
        if index + 1 < len(pages):
            response["NextToken"] = f"spot-{index + 1}"
        stub.add_response("describe_spot_price_history", response, params)


def older_snapshot(folder: Path) -> dict[str, Any]:
    """The committed snapshot as if made long ago, so today's refresh never has its name."""
    document = json.loads((PRICES_DIR / "aws-2026-11-25.json").read_text())
    document["date"] = "2000-01-01"
    (folder / "aws-2000-01-01.json").write_text(json.dumps(document))
    return document


def test_on_demand_prices_come_from_get_products_through_the_paginator() -> None:
    """The documented filters, every page read, a type AWS does not price reported as missing."""
    pricing = client("pricing", "us-east-1")
    with Stubber(pricing) as stub:
        expect_products(stub, "us-west-2", "m5.xlarge", [[], [product("m5.xlarge", "us-west-2", 0.192)]])
        expect_products(stub, "us-west-2", "m5a.xlarge", [[product("m5a.xlarge", "us-west-2", 0.172)]])
        expect_products(stub, "us-west-2", "m5zz.xlarge", [[]])
        prices, missing = fetch_on_demand(pricing, "us-west-2", ["m5.xlarge", "m5a.xlarge", "m5zz.xlarge"])
        stub.assert_no_pending_responses()
    assert prices == {"m5.xlarge": 0.192, "m5a.xlarge": 0.172}
    assert missing == ["m5zz.xlarge"]


def test_spot_price_is_the_latest_per_az_averaged_over_azs() -> None:
    """An older row of the same AZ is ignored; the mean is over AZs; two pages are read."""
    ec2 = client("ec2", "us-west-2")
    types = ["m5.xlarge", "m5a.xlarge"]
    with Stubber(ec2) as stub:
        expect_spot(stub, types, [
            [spot_row("m5.xlarge", "us-west-2a", "0.070000"), spot_row("m5.xlarge", "us-west-2a", "0.080000", age_minutes=90),
             spot_row("m5.xlarge", "us-west-2b", "0.076000")],
            [spot_row("m5.xlarge", "us-west-2c", "0.073000"), spot_row("m5a.xlarge", "us-west-2a", "0.065000"),
             spot_row("m5a.xlarge", "us-west-2b", "0.069000")],
        ])
        spot = fetch_spot(ec2, types, NOW)
        stub.assert_no_pending_responses()
    assert spot == {"m5.xlarge": pytest.approx((0.070 + 0.076 + 0.073) / 3), "m5a.xlarge": pytest.approx(0.067)}


def test_refreshed_snapshot_replaces_one_region_and_carries_the_rest() -> None:
    """us-west-2 gets AWS's figures; other regions and the non-instance prices are carried over and say so."""
    previous = json.loads((PRICES_DIR / "aws-2026-11-25.json").read_text())
    pricing, ec2 = client("pricing", "us-east-1"), client("ec2", "us-west-2")
    types = ["m5.xlarge", "m5a.xlarge"]
    with Stubber(pricing) as price_stub, Stubber(ec2) as spot_stub:
        expect_products(price_stub, "us-west-2", "m5.xlarge", [[product("m5.xlarge", "us-west-2", 0.2)]])
        expect_products(price_stub, "us-west-2", "m5a.xlarge", [[product("m5a.xlarge", "us-west-2", 0.18)]])
        expect_spot(spot_stub, types, [[spot_row("m5.xlarge", "us-west-2a", "0.060000"), spot_row("m5a.xlarge", "us-west-2b", "0.050000")]])
        document, warnings = refreshed_snapshot(previous, ["us-west-2"], types, pricing, lambda _region: ec2, NOW)
    assert warnings == []
    assert document["regions"]["us-east-1"] == previous["regions"]["us-east-1"]
    assert document["regions"]["eu-west-1"] == previous["regions"]["eu-west-1"]
    west = document["regions"]["us-west-2"]
    assert (west["onDemandHour"], west["spotHour"]) == ({"m5.xlarge": 0.2, "m5a.xlarge": 0.18}, {"m5.xlarge": 0.06, "m5a.xlarge": 0.05})
    assert west["natGatewayHour"] == previous["regions"]["us-west-2"]["natGatewayHour"]
    assert "from snapshot 2026-11-25" in west["carriedOver"]
    assert document["date"] == "2026-11-25" and west["spotSource"].startswith("EC2 describe_spot_price_history")

    snapshot = snapshot_from_json(document, "refreshed")
    state = State("eks:index:ManagedNodeGroup", {"capacityType": "SPOT", "instanceTypes": types, "diskSize": 20,
                                                  "scalingConfig": {"minSize": 0, "desiredSize": 1, "maxSize": 2}}, region="us-west-2")
    assert price_node_group(state, snapshot).monthly == pytest.approx(0.055 * 730 + 20 * 0.10)


def test_cli_refresh_writes_a_new_dated_file_and_never_overwrites_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`refresh-prices --region us-west-2`: every offered type priced, a new file next to the old one; again → exit 2."""
    previous = older_snapshot(tmp_path)
    types = sorted(set(INSTANCE_TYPES) | set(previous["regions"]["us-west-2"]["onDemandHour"]))
    pricing, ec2 = client("pricing", "us-east-1"), client("ec2", "us-west-2")
    price_stub, spot_stub = Stubber(pricing), Stubber(ec2)
    for instance_type in types:
        expect_products(price_stub, "us-west-2", instance_type, [[product(instance_type, "us-west-2", 0.5)]])
    spot_stub.add_response("describe_spot_price_history",
                           {"SpotPriceHistory": [spot_row(t, "us-west-2a", "0.200000") for t in types]})
    created: list[tuple[str, str]] = []

    def fake_boto3_client(service: str, region_name: str) -> Any:
        created.append((service, region_name))
        return {"pricing": pricing, "ec2": ec2}[service]

    import boto3

    monkeypatch.setattr(boto3, "client", fake_boto3_client)
    with price_stub, spot_stub:
        code = main(["refresh-prices", "--region", "us-west-2", "--prices-dir", str(tmp_path)])
        price_stub.assert_no_pending_responses()
    out = capsys.readouterr().out
    assert code == 0
    assert created == [("pricing", "us-east-1"), ("ec2", "us-west-2")]
    written = sorted(p.name for p in tmp_path.glob("aws-*.json"))
    today = datetime.now(timezone.utc).date().isoformat()
    assert written == ["aws-2000-01-01.json", f"aws-{today}.json"]
    assert f"wrote {tmp_path / f'aws-{today}.json'}" in out
    fresh = load_snapshot(tmp_path / f"aws-{today}.json")
    assert fresh.regions["us-west-2"]["onDemandHour"]["m7i.4xlarge"] == 0.5
    assert fresh.regions["us-west-2"]["spotHour"]["m5.xlarge"] == 0.2
    assert json.loads((tmp_path / "aws-2000-01-01.json").read_text()) == previous
    assert fresh.regions["eu-west-1"] == previous["regions"]["eu-west-1"]

    assert main(["refresh-prices", "--region", "us-west-2", "--prices-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: aws-{today}.json already exists; pass --force to replace it\n"


def test_cli_refresh_without_credentials_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """No credentials anywhere: exit 2 naming what is needed, before any request leaves the machine."""
    older_snapshot(tmp_path)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code = main(["refresh-prices", "--region", "us-west-2", "--prices-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: no AWS credentials") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.glob("aws-*.json")) == ["aws-2000-01-01.json"]
