"""Usage-based costs from a usage file checked into the repository (issue 13, item 11).

Infracost reads the same kind of file (infracost-usage.yml: per-resource monthly figures such as
a NAT gateway's `monthly_data_processed_gb`, infracost/infracost internal/resources/aws/
nat_gateway.go). Prices: the snapshot's natGatewayGb (VPC pricing, NAT data processed per GB),
s3StandardGbMonth and request prices (S3 pricing), logsIngestGb (CloudWatch pricing). An S3
gateway endpoint carries S3 traffic at no charge (AWS prescriptive guidance, security baseline
WKLD.12: gateway endpoints "come at no additional charge"; aws:ec2/vpcEndpoint type Gateway,
the EC2 CreateVpcEndpoint default).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cost.cli import main
from cost.usage import load_usage, usage_from_document
from tests.cost_helpers import AS_OF, H, ROOT, SNAPSHOT_PATH, by_name, node_group_inputs, provider_step, report_of_document, state, step, urn

EXAMPLE = ROOT / "cost-usage.example.yml"
EXECUTOR_TYPES = ["m5.xlarge", "m5a.xlarge", "m5d.xlarge", "m5ad.xlarge", "m4.xlarge"]
SPOT_NODE = (0.073 + 0.0688 + 0.0836 + 0.0742 + 0.066) / 5 * H + 100 * 0.10  # $63.38 in us-west-2
S3_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"


def stack(endpoint: bool) -> list[dict[str, Any]]:
    """The dev stack's priced parts: executors at desired 0 (max 20), a NAT gateway, the data bucket,
    and (with `endpoint`) the S3 gateway endpoint the infra issue adds."""
    group = state("eks:index:ManagedNodeGroup", node_group_inputs("SPOT", EXECUTOR_TYPES, 0, 0, 20))
    nat = state("aws:ec2/natGateway:NatGateway", {"subnetId": "subnet-1"})
    bucket = state("aws:s3/bucket:Bucket", {"bucket": "data-0a1b"})
    states = [(urn("eks:index:ManagedNodeGroup", "nodegroups-executors"), group),
              (urn("aws:ec2/natGateway:NatGateway", "network-nat-0"), nat),
              (urn("aws:s3/bucket:Bucket", "storage-data"), bucket)]
    if endpoint:
        gateway = state(S3_ENDPOINT, {"serviceName": "com.amazonaws.us-west-2.s3", "vpcEndpointType": "Gateway"})
        states.append((urn(S3_ENDPOINT, "network-s3"), gateway))
    return [step("same", u, s, s) for u, s in states]


def endpoint_preview() -> dict[str, Any]:
    """The pull request that adds the S3 gateway endpoint to that stack."""
    gateway = state(S3_ENDPOINT, {"serviceName": "com.amazonaws.us-west-2.s3", "vpcEndpointType": "Gateway"})
    return {"steps": [provider_step(), *stack(False), step("create", urn(S3_ENDPOINT, "network-s3"), new=gateway)]}


def example() -> Any:
    return load_usage(EXAMPLE)


def test_the_example_file_loads_and_says_what_each_figure_is() -> None:
    usage = example()
    assert usage.node_groups == {"nodegroups-executors": 4.0}
    assert (usage.buckets["storage-data"].storage_gb, usage.nat_data_gb, usage.s3_traffic_gb, usage.logs_ingested_gb) == (200, 50, 1000, 5)


def test_usage_prices_each_item_and_the_s3_endpoint_saves_the_nat_traffic() -> None:
    """With the example's figures, before the endpoint: 4 executors on average, the bucket's storage and
    requests, 50 GB NAT data, 1,000 GB of S3 traffic through NAT ($45.00), 5 GB of logs. After: the
    same, but the S3 traffic goes through the free gateway endpoint."""
    report = report_of_document(endpoint_preview(), usage=example())
    executors = by_name(report, "nodegroups-executors")
    assert executors.monthly_after == pytest.approx(4 * SPOT_NODE)
    assert executors.after.details["nodesBasis"] == "usage file: 4 nodes on average"
    bucket = by_name(report, "storage-data")
    assert bucket.monthly_after == pytest.approx(200 * 0.023 + 200_000 / 1000 * 0.005 + 2_000_000 / 1000 * 0.0004)  # 4.60 + 1.00 + 0.80
    lines = {line.key: line for line in report.usage_lines}
    assert (lines["natData"].before, lines["natData"].after) == (pytest.approx(50 * 0.045), pytest.approx(50 * 0.045))
    assert (lines["s3Traffic"].before, lines["s3Traffic"].after) == (pytest.approx(1000 * 0.045), 0.0)
    assert lines["s3Traffic"].details["after"]["route"] == "S3 gateway endpoint (no charge)"
    assert lines["logsIngestion"].after == pytest.approx(5 * 0.50)
    assert by_name(report, "network-s3").after.category == "free"
    fixed = 0.045 * H  # the NAT gateway's hours
    assert report.total_before == pytest.approx(fixed + 4 * SPOT_NODE + 6.40 + 2.25 + 45.00 + 2.50)
    assert report.delta == pytest.approx(-45.00)


def test_an_average_outside_min_and_max_is_held_to_them() -> None:
    """An average of 30 nodes in a group of max 20 prices 20 (the autoscaler cannot run more)."""
    usage = usage_from_document({"version": 1, "nodeGroups": {"nodegroups-executors": {"averageNodes": 30}}}, "u.yml")
    report = report_of_document({"steps": [provider_step(), *stack(False)]}, usage=usage)
    executors = by_name(report, "nodegroups-executors")
    assert executors.monthly_after == pytest.approx(20 * SPOT_NODE)
    assert executors.after.details["nodesBasis"] == "usage file: 30 nodes on average, within min 0 and max 20: 20"


def test_without_a_usage_file_the_comment_shows_the_fixed_part_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No --usage: usage-based items are $0 and listed; one line says usage is not counted and how to count it."""
    preview = tmp_path / "preview.json"
    preview.write_text(json.dumps(endpoint_preview()))
    assert main(["diff", str(preview), "--prices", str(SNAPSHOT_PATH), *AS_OF, "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "<sub>Usage not counted: S3 storage and requests, NAT and S3 traffic per GB and CloudWatch Logs are left out" in out
    assert "`--usage cost-usage.yml`" in out and "#### Usage from" not in out
    assert out.splitlines()[1].startswith("### Monthly cost: $32.85 → $32.85 (no change)")
    assert main(["diff", str(preview), "--prices", str(SNAPSHOT_PATH), *AS_OF, "--format", "markdown", "--usage", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "<sub>Usage counted from `cost-usage.example.yml`" in out
    assert "| S3 traffic | 1,000 GB | NAT gateways (no S3 gateway endpoint) → S3 gateway endpoint (no charge) | $45.00 | $0.00 | -$45.00 |" in out
    assert main(["diff", str(preview), "--prices", str(SNAPSHOT_PATH), *AS_OF, "--format", "json", "--usage", str(EXAMPLE)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["usage"]["counted"] is True and document["deltaMonthly"] == -45.0
    assert [line["item"] for line in document["usage"]["lines"]] == ["natData", "s3Traffic", "logsIngestion"]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"version": 2}, "version must be 1 (got 2)"),
        ({"version": 1, "nodeGroup": {}}, "nodeGroup is not a usage section; did you mean 'nodeGroups'?"),
        ({"version": 1, "network": {"natDataGb": 5}}, "network.natDataGb is not a usage field; did you mean 'natDataProcessedGb'?"),
        ({"version": 1, "nodeGroups": {"x": {"averageNodes": -1}}}, "nodeGroups.x.averageNodes must be a number of zero or more (got -1)"),
        ({"version": 1, "nodeGroups": {"x": {}}}, "nodeGroups.x.averageNodes is missing"),
        ({"version": 1, "cloudWatchLogs": {"ingestedGb": "lots"}}, "cloudWatchLogs.ingestedGb must be a number of zero or more"),
        ({"version": 1, "s3Buckets": ["storage-data"]}, "s3Buckets must map logical names to their figures"),
        ([1, 2], "a usage file is a YAML mapping with `version: 1`"),
    ],
)
def test_a_bad_usage_file_is_one_line_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str], document: Any, expected: str) -> None:
    path = tmp_path / "cost-usage.yml"
    path.write_text(yaml.safe_dump(document))
    preview = tmp_path / "preview.json"
    preview.write_text(json.dumps(endpoint_preview()))
    assert main(["diff", str(preview), "--prices", str(SNAPSHOT_PATH), *AS_OF, "--usage", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and expected in captured.err


def test_a_name_the_change_does_not_have_is_an_error_not_a_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelt node group would silently price nothing: refused, listing the groups there are."""
    path = tmp_path / "cost-usage.yml"
    path.write_text("version: 1\nnodeGroups:\n  nodegroups-executor: {averageNodes: 4}\n")
    preview = tmp_path / "preview.json"
    preview.write_text(json.dumps(endpoint_preview()))
    assert main(["diff", str(preview), "--prices", str(SNAPSHOT_PATH), *AS_OF, "--usage", str(path)]) == 2
    err = capsys.readouterr().err
    assert "nodeGroups.nodegroups-executor names no resource of this change (it has nodegroups-executors)" in err
    assert main(["diff", str(preview), "--usage", str(tmp_path / "none.yml")]) == 2
    assert "no such usage file; copy cost-usage.example.yml" in capsys.readouterr().err


def test_interface_endpoints_are_not_free() -> None:
    """Only gateway endpoints are free; an interface endpoint is billed per AZ-hour and GB, which the
    snapshot does not hold: listed as unpriced rather than $0."""
    interface = state(S3_ENDPOINT, {"serviceName": "com.amazonaws.us-west-2.s3", "vpcEndpointType": "Interface"})
    report = report_of_document({"steps": [provider_step(), step("create", urn(S3_ENDPOINT, "s3-interface"), new=interface)]})
    assert by_name(report, "s3-interface").after.category == "unpriced"


def test_an_endpoint_whose_service_is_unknown_is_not_assumed_free() -> None:
    """A Gateway endpoint whose serviceName is unknown until apply might not be S3's: the S3 traffic is
    priced through NAT (the dearer route) and the route says why."""
    gateway = state(S3_ENDPOINT, {"serviceName": "04da6b54-80e4-46f7-96ec-b56ff0331ba9", "vpcEndpointType": "Gateway"})
    document = {"steps": [provider_step(), *stack(False), step("create", urn(S3_ENDPOINT, "network-s3"), new=gateway)]}
    report = report_of_document(document, usage=usage_from_document({"version": 1, "network": {"s3TrafficGb": 100}}, "u.yml"))
    (line,) = report.usage_lines
    assert line.after == pytest.approx(100 * 0.045)
    assert "not known until apply: assumed not S3" in line.details["after"]["route"]
