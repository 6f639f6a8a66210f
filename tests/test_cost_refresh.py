"""`refresh-prices` against AWS responses played back by botocore's Stubber.

moto does not implement the Pricing API and its Spot price history is a placeholder (see
shared field notes), so the real botocore clients are used with Stubber, which checks
every request's parameters and returns a response shaped like AWS's. The paginators are
the real boto3 paginators: the responses carry NextToken so more than one page is read.
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
from cost.inputs import State, changes_from_preview
from cost.pricing import PricingContext, price_node_group
from cost.refresh import (
    SPOT_DAYS,
    ebs_filters,
    fetch_ebs,
    fetch_nat,
    fetch_on_demand,
    fetch_spot_history,
    nat_filters,
    on_demand_filters,
    refreshed_snapshot,
)
from cost.render import spot_provenance
from cost.report import build_report
from cost.snapshot import PRICES_DIR, load_snapshot, snapshot_from_json
from infra.instance_types import INSTANCE_TYPES
from tests.cost_helpers import PRICED_ON, by_name, node_group_inputs, provider_step, state, step, urn

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
START = NOW - timedelta(days=SPOT_DAYS)


def client(service: str, region: str) -> Any:
    session = botocore.session.Session()
    return session.create_client(service, region_name=region, aws_access_key_id="stub", aws_secret_access_key="stub")


def product(attributes: dict[str, str], usd: float, unit: str, family: str = "Compute Instance") -> str:
    """One PriceList entry as the Pricing API returns it: a JSON document in a string."""
    sku = f"SKU{abs(hash(tuple(sorted(attributes.items())))) % 10**8:08d}"
    return json.dumps({
        "product": {"productFamily": family, "attributes": attributes, "sku": sku},
        "serviceCode": "AmazonEC2",
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {
            "offerTermCode": "JRTCKXETXF", "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z",
            "priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                "unit": unit, "description": f"${usd} per {unit}", "pricePerUnit": {"USD": f"{usd:.10f}"}}},
        }}},
        "version": "20261101000000",
        "publicationDate": "2026-11-01T00:00:00Z",
    })


def instance(instance_type: str, region: str, usd: float) -> str:
    return product({"instanceType": instance_type, "regionCode": region, "operatingSystem": "Linux", "tenancy": "Shared",
                    "preInstalledSw": "NA", "capacitystatus": "Used", "licenseModel": "No License required"}, usd, "Hrs")


def nat(region: str, prefix: str, hourly: float, per_gb: float) -> list[str]:
    """NAT gateway products as the Pricing API lists them: usage types carry the region's prefix."""
    base = {"regionCode": region, "group": "NGW:NatGateway", "operation": "NatGateway"}
    return [product({**base, "usagetype": f"{prefix}NatGateway-Hours"}, hourly, "Hrs", "NAT Gateway"),
            product({**base, "usagetype": f"{prefix}NatGateway-Bytes"}, per_gb, "GB", "NAT Gateway")]


def volume(region: str, prefix: str, volume_type: str, usd: float) -> str:
    return product({"regionCode": region, "volumeApiName": volume_type, "usagetype": f"{prefix}EBS:VolumeUsage.{volume_type}"},
                   usd, "GB-Mo", "Storage")


def expect_products(stub: Stubber, filters: list[dict[str, str]], pages: list[list[str]]) -> None:
    for index, page in enumerate(pages):
        params: dict[str, Any] = {"ServiceCode": "AmazonEC2", "Filters": filters, "FormatVersion": "aws_v1"}
        response: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": page}
        if index:
            params["NextToken"] = f"page-{index}"
        if index + 1 < len(pages):
            response["NextToken"] = f"page-{index + 1}"
        stub.add_response("get_products", response, params)


def expect_region(stub: Stubber, region: str, prefix: str, on_demand: dict[str, float], nat_prices: tuple[float, float],
                  ebs: dict[str, float]) -> None:
    """Every Pricing API call a refresh of `region` makes, in order: each type, NAT, gp2, gp3."""
    for instance_type, usd in on_demand.items():
        expect_products(stub, on_demand_filters(region, instance_type), [[instance(instance_type, region, usd)]])
    expect_products(stub, nat_filters(region), [nat(region, prefix, *nat_prices)])
    for volume_type in ("gp2", "gp3"):
        expect_products(stub, ebs_filters(region, volume_type), [[volume(region, prefix, volume_type, ebs[volume_type])]])


def spot_row(instance_type: str, zone: str, price: str, at: datetime) -> dict[str, Any]:
    return {"InstanceType": instance_type, "AvailabilityZone": zone, "ProductDescription": "Linux/UNIX",
            "SpotPrice": price, "Timestamp": at}


def expect_spot(stub: Stubber, types: list[str], pages: list[list[dict[str, Any]]]) -> None:
    """DescribeSpotPriceHistory over the last 30 days, Linux/UNIX, every AZ (no AvailabilityZone filter)."""
    for index, page in enumerate(pages):
        params: dict[str, Any] = {"InstanceTypes": types, "ProductDescriptions": ["Linux/UNIX"], "StartTime": START, "EndTime": NOW}
        response: dict[str, Any] = {"SpotPriceHistory": page}
        if index:
            params["NextToken"] = f"spot-{index}"
        if index + 1 < len(pages):
            response["NextToken"] = f"spot-{index + 1}"
        stub.add_response("describe_spot_price_history", response, params)


def committed() -> dict[str, Any]:
    return json.loads((PRICES_DIR / "aws-2026-11-25.json").read_text())


def older_snapshot(folder: Path) -> dict[str, Any]:
    """The committed snapshot as if made long ago, so today's refresh never has its name."""
    document = committed()
    document["date"] = "2000-01-01"
    (folder / "aws-2000-01-01.json").write_text(json.dumps(document))
    return document


def test_on_demand_prices_come_from_get_products_through_the_paginator() -> None:
    """The documented filters, every page read, a type AWS does not price reported as missing."""
    pricing = client("pricing", "us-east-1")
    with Stubber(pricing) as stub:
        expect_products(stub, on_demand_filters("us-west-2", "m5.xlarge"), [[], [instance("m5.xlarge", "us-west-2", 0.192)]])
        expect_products(stub, on_demand_filters("us-west-2", "m5a.xlarge"), [[instance("m5a.xlarge", "us-west-2", 0.172)]])
        expect_products(stub, on_demand_filters("us-west-2", "m5zz.xlarge"), [[]])
        prices, missing = fetch_on_demand(pricing, "us-west-2", ["m5.xlarge", "m5a.xlarge", "m5zz.xlarge"])
        stub.assert_no_pending_responses()
    assert prices == {"m5.xlarge": 0.192, "m5a.xlarge": 0.172}
    assert missing == ["m5zz.xlarge"]


def test_nat_and_ebs_prices_are_the_regions_own() -> None:
    """NAT gateway hours and data processed, and EBS per GB-month, come from the Pricing API for the
    region asked. The filters are the ones Infracost prices these with (infracost/infracost
    internal/resources/aws/nat_gateway.go: AmazonEC2, productFamily "NAT Gateway", usage types
    …NatGateway-Hours and …NatGateway-Bytes; ebs_volume.go: productFamily "Storage", volumeApiName)."""
    pricing = client("pricing", "us-east-1")
    with Stubber(pricing) as stub:
        expect_products(stub, nat_filters("eu-central-1"), [nat("eu-central-1", "EUC1-", 0.052, 0.052)])
        expect_products(stub, ebs_filters("eu-central-1", "gp2"), [[volume("eu-central-1", "EUC1-", "gp2", 0.119)]])
        expect_products(stub, ebs_filters("eu-central-1", "gp3"), [[volume("eu-central-1", "EUC1-", "gp3", 0.0952)]])
        assert fetch_nat(pricing, "eu-central-1") == {"natGatewayHour": 0.052, "natGatewayGb": 0.052}
        assert fetch_ebs(pricing, "eu-central-1") == {"gp2": 0.119, "gp3": 0.0952}
        stub.assert_no_pending_responses()


def test_a_new_region_gets_its_own_nat_and_ebs_prices_and_the_copies_are_marked() -> None:
    """Issue 13 item 6: refreshing eu-central-1 (not in the snapshot) used to copy us-east-1's NAT and
    EBS prices silently. Now they are eu-central-1's from the Pricing API, and what no API call here
    fetches (EKS, public IPv4, S3, logs) is marked COPIED in the file and warned about."""
    previous = committed()
    pricing = client("pricing", "us-east-1")
    with Stubber(pricing) as stub:
        expect_region(stub, "eu-central-1", "EUC1-", {"m5.xlarge": 0.23}, (0.052, 0.052), {"gp2": 0.119, "gp3": 0.0952})
        document, warnings = refreshed_snapshot(previous, ["eu-central-1"], ["m5.xlarge"], pricing, None, NOW)
        stub.assert_no_pending_responses()
    central = document["regions"]["eu-central-1"]
    east = previous["regions"]["us-east-1"]
    assert (central["natGatewayHour"], central["natGatewayGb"], central["ebsGbMonth"]) == (0.052, 0.052, {"gp2": 0.119, "gp3": 0.0952})
    assert (east["natGatewayHour"], east["ebsGbMonth"]["gp2"]) == (0.045, 0.1)  # what a copy would have put there
    assert "natGatewayHour, natGatewayGb, ebsGbMonth.gp2, ebsGbMonth.gp3 from the AWS Pricing API" in central["fetched"]
    assert central["carriedOver"].startswith("eksClusterHour, eksExtendedClusterHour, publicIpv4Hour")
    assert "COPIED from us-east-1" in central["carriedOver"]
    assert any(w.startswith("eu-central-1: eksClusterHour") and "copied from us-east-1" in w for w in warnings)
    # No Spot prices are invented for a region never measured: Spot groups there stay unpriced, with the fix.
    assert central["spotHour"] == {} and any("refresh-prices --spot --region eu-central-1" in w for w in warnings)
    snapshot_from_json(document, "refreshed")


def test_spot_history_is_a_30_day_time_weighted_mean_per_az_then_over_azs() -> None:
    """DescribeSpotPriceHistory returns, for a start and end time, every change in between and the
    last change before the start, the price in effect at the start (botocore's EC2 model,
    DescribeSpotPriceHistory). A price holds until the next change in its AZ. Two pages are read."""
    ec2 = client("ec2", "us-west-2")
    types = ["m5.xlarge", "m5a.xlarge"]
    middle = START + timedelta(days=15)
    with Stubber(ec2) as stub:
        expect_spot(stub, types, [
            # us-west-2a: 0.060 in effect at the start (set 3 days before it), 0.090 for the second half.
            [spot_row("m5.xlarge", "us-west-2a", "0.060000", START - timedelta(days=3)),
             spot_row("m5.xlarge", "us-west-2a", "0.090000", middle),
             spot_row("m5.xlarge", "us-west-2b", "0.070000", START - timedelta(days=40))],
            [spot_row("m5a.xlarge", "us-west-2a", "0.065000", START + timedelta(days=1))],
        ])
        measured = fetch_spot_history(ec2, types, NOW)
        stub.assert_no_pending_responses()
    m5 = measured["m5.xlarge"]
    assert m5["mean"] == pytest.approx(((0.060 + 0.090) / 2 + 0.070) / 2)  # 2a's half-and-half, then the mean over 2a and 2b
    assert (m5["min"], m5["max"], m5["zones"], m5["samples"]) == (0.06, 0.09, ["us-west-2a", "us-west-2b"], 3)
    assert (m5["from"], m5["to"]) == (START.isoformat(timespec="minutes"), NOW.isoformat(timespec="minutes"))
    # A zone whose history starts inside the window is averaged over the part it covers.
    assert measured["m5a.xlarge"]["mean"] == pytest.approx(0.065)


def test_refresh_with_spot_marks_measured_prices_and_the_comment_says_so() -> None:
    """Issue 13 item 12: `--spot` stores the mean and range per type with the window and source;
    types without history keep their estimate, marked as such; the comment's one line says which."""
    previous = committed()
    pricing, ec2 = client("pricing", "us-east-1"), client("ec2", "us-west-2")
    types = ["m5.xlarge", "m5a.xlarge", "m4.xlarge"]
    with Stubber(pricing) as price_stub, Stubber(ec2) as spot_stub:
        expect_region(price_stub, "us-west-2", "USW2-", {"m5.xlarge": 0.192, "m5a.xlarge": 0.172, "m4.xlarge": 0.2},
                      (0.045, 0.045), {"gp2": 0.1, "gp3": 0.08})
        expect_spot(spot_stub, types, [[spot_row("m5.xlarge", "us-west-2a", "0.061000", START - timedelta(hours=1)),
                                        spot_row("m5a.xlarge", "us-west-2b", "0.052000", START - timedelta(hours=1))]])
        document, warnings = refreshed_snapshot(previous, ["us-west-2"], types, pricing, lambda _region: ec2, NOW)
    west = document["regions"]["us-west-2"]
    assert west["spotHour"] == {"m4.xlarge": 0.066, "m5.xlarge": 0.061, "m5a.xlarge": 0.052}  # m4: the earlier estimate
    assert sorted(west["spotMeasured"]) == ["m5.xlarge", "m5a.xlarge"]
    assert west["spotMeasured"]["m5.xlarge"]["zones"] == ["us-west-2a"]
    assert west["spotSource"].startswith("EC2 DescribeSpotPriceHistory, Linux/UNIX, every AZ that lists the type, 30 days")
    assert west["spotEstimateSource"].startswith("m4.xlarge: hand-entered typical Spot price")
    assert warnings == ["us-west-2: no Spot price history for m4.xlarge; their earlier estimates are kept"]

    snapshot = snapshot_from_json(document, "refreshed")
    preview = {"steps": [provider_step(), step("create", urn("eks:index:ManagedNodeGroup", "executors"),
                                               new=state("eks:index:ManagedNodeGroup", node_group_inputs("SPOT", types, 0, 2, 10)))]}
    report = build_report(changes_from_preview(preview), snapshot, "diff", PricingContext(on=PRICED_ON))
    line = spot_provenance(report)
    assert line is not None and line.startswith("Spot prices: 2 types measured (us-west-2: EC2 DescribeSpotPriceHistory")
    assert line.endswith("1 estimated (m4.xlarge).")
    assert by_name(report, "executors").after.details["spot"]["measuredTypes"] == ["m5.xlarge", "m5a.xlarge"]


def test_refresh_without_spot_carries_the_spot_prices_and_their_provenance() -> None:
    """Without --spot no EC2 call is made: Spot prices, their source and measurements stay as they were."""
    previous = committed()
    pricing = client("pricing", "us-east-1")
    with Stubber(pricing) as stub:
        expect_region(stub, "us-west-2", "USW2-", {"m5.xlarge": 0.2}, (0.045, 0.045), {"gp2": 0.1, "gp3": 0.08})
        document, warnings = refreshed_snapshot(previous, ["us-west-2"], ["m5.xlarge"], pricing, None, NOW)
    west, old = document["regions"]["us-west-2"], previous["regions"]["us-west-2"]
    assert (west["spotHour"], west["spotSource"], west["spotMeasured"]) == (old["spotHour"], old["spotSource"], {})
    assert west["onDemandHour"] == {"m5.xlarge": 0.2}
    assert document["regions"]["us-east-1"] == previous["regions"]["us-east-1"]
    assert "from snapshot 2026-11-25" in west["carriedOver"] and warnings == []

    snapshot = snapshot_from_json(document, "refreshed")
    node = State("eks:index:ManagedNodeGroup", node_group_inputs("ON_DEMAND", ["m5.xlarge"], 1, 1, 2, disk=20), region="us-west-2")
    assert price_node_group(node, snapshot).monthly == pytest.approx(0.2 * 730 + 20 * 0.10)


def test_cli_refresh_writes_a_new_dated_file_and_never_overwrites_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`refresh-prices --spot --region us-west-2`: every offered type priced, a new file next to the old one; again → exit 2."""
    previous = older_snapshot(tmp_path)
    types = sorted(set(INSTANCE_TYPES) | set(previous["regions"]["us-west-2"]["onDemandHour"]))
    pricing, ec2 = client("pricing", "us-east-1"), client("ec2", "us-west-2")
    price_stub, spot_stub = Stubber(pricing), Stubber(ec2)
    expect_region(price_stub, "us-west-2", "USW2-", dict.fromkeys(types, 0.5), (0.045, 0.045), {"gp2": 0.1, "gp3": 0.08})
    spot_stub.add_response("describe_spot_price_history",
                           {"SpotPriceHistory": [spot_row(t, "us-west-2a", "0.200000", NOW - timedelta(days=40)) for t in types]})
    created: list[tuple[str, str]] = []

    def fake_boto3_client(service: str, region_name: str) -> Any:
        created.append((service, region_name))
        return {"pricing": pricing, "ec2": ec2}[service]

    import boto3

    monkeypatch.setattr(boto3, "client", fake_boto3_client)
    with price_stub, spot_stub:
        code = main(["refresh-prices", "--spot", "--region", "us-west-2", "--prices-dir", str(tmp_path)])
        price_stub.assert_no_pending_responses()
        spot_stub.assert_no_pending_responses()
    out = capsys.readouterr().out
    assert code == 0
    assert created == [("pricing", "us-east-1"), ("ec2", "us-west-2")]
    written = sorted(p.name for p in tmp_path.glob("aws-*.json"))
    today = datetime.now(timezone.utc).date().isoformat()
    assert written == ["aws-2000-01-01.json", f"aws-{today}.json"]
    assert f"wrote {tmp_path / f'aws-{today}.json'}" in out and "Spot measured over 30 days" in out
    fresh = load_snapshot(tmp_path / f"aws-{today}.json")
    assert fresh.regions["us-west-2"]["onDemandHour"]["m7i.4xlarge"] == 0.5
    assert fresh.regions["us-west-2"]["spotHour"]["m5.xlarge"] == 0.2
    assert fresh.spot_measured("us-west-2", "m5.xlarge") is not None
    assert json.loads((tmp_path / "aws-2000-01-01.json").read_text()) == previous
    assert fresh.regions["eu-west-1"] == previous["regions"]["eu-west-1"]

    assert main(["refresh-prices", "--region", "us-west-2", "--prices-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"cost: error: aws-{today}.json already exists; pass --force to replace it\n"


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
    assert err.startswith("cost: error: no AWS credentials") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.glob("aws-*.json")) == ["aws-2000-01-01.json"]


def test_cli_refresh_refused_by_aws_is_a_failed_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Pricing API refusing the call (AccessDenied, as botocore raises it through a Stubber) is
    a step that failed: exit 1 with one line naming the operation and AWS's code, as jobs does
    for S3 or ECR refusing; no snapshot is written."""
    older_snapshot(tmp_path)
    pricing = client("pricing", "us-east-1")
    stub = Stubber(pricing)
    stub.add_client_error("get_products", service_error_code="AccessDeniedException", service_message="not allowed")
    import boto3

    monkeypatch.setattr(boto3, "client", lambda service, region_name: pricing)
    with stub:
        code = main(["refresh-prices", "--region", "us-west-2", "--prices-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err == "cost: error: AWS refused GetProducts: AccessDeniedException: not allowed\n"
    assert sorted(p.name for p in tmp_path.glob("aws-*.json")) == ["aws-2000-01-01.json"]


def test_the_committed_snapshot_says_its_spot_prices_are_estimates() -> None:
    """The hand-entered file measured nothing: every region's spotMeasured is empty and its source says so."""
    snapshot = load_snapshot(PRICES_DIR / "aws-2026-11-25.json")
    for region, prices in snapshot.regions.items():
        assert prices["spotMeasured"] == {}, region
        assert "not a quote" in prices["spotSource"]
