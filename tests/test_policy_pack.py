"""The pack as Pulumi runs it: `policy/__main__.py` in its own process, spoken to over gRPC.

The Pulumi CLI cannot be installed here, so the test plays the engine's part through
the analyzer protocol the CLI uses (the pulumi SDK's own generated stubs): it reads
the port the pack prints, asks for the pack's description, and sends resources and a
stack to analyse, including values a preview does not know yet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Iterator

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from infra.iam import autoscaler_policy
from infra.plan import ROOT
from policy.policies import PACK_NAME, POLICIES

URN = "urn:pulumi:{stack}::spark-eks-spot::{type}::{name}"


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    environment = dict(os.environ)
    # The stack config the CLI hands a pack: an existing VPC's private subnets.
    environment["PULUMI_CONFIG"] = json.dumps(
        {"spark-eks-spot:network": json.dumps({"existingVpcId": "vpc-0a1b2c3d", "privateSubnetIds": ["subnet-0aaa1111"]})}
    )
    # Started the way the Pulumi language host starts a pack: the directory as the program.
    process = subprocess.Popen(
        [sys.executable, "policy"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().decode().strip() or "0")
        assert port > 0, process.stderr.read().decode() if process.stderr else "no port"
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=30)


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(props)
    return message


def _analyze(stub: analyzer_pb2_grpc.AnalyzerStub, type_token: str, props: dict[str, Any], stack: str = "dev") -> Any:
    name = "subject"
    request = analyzer_pb2.AnalyzeRequest(
        type=type_token, properties=_struct(props), urn=URN.format(stack=stack, type=type_token, name=name), name=name
    )
    return stub.Analyze(request)


def test_the_running_pack_describes_every_policy(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == PACK_NAME
    described = {p.name: p.enforcementLevel for p in info.policies}
    assert described == {
        p.name: analyzer_pb2.MANDATORY if p.enforcement_level.value == "mandatory" else analyzer_pb2.ADVISORY
        for p in POLICIES
    }
    initial = info.initialConfig["node-groups-private-subnets"]
    assert list(initial.properties["privateSubnetIds"]) == ["subnet-0aaa1111"]


def test_the_running_pack_refuses_a_spot_driver_group(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    props = {
        "cluster": "urn:pulumi:dev::spark-eks-spot::eks:index:Cluster::cluster-eks",
        "capacityType": "SPOT",
        "instanceTypes": ["m5.xlarge"],
        "labels": {"spark-eks-spot/role": "driver"},
    }
    response = _analyze(analyzer, "eks:index:ManagedNodeGroup", props)
    reported = {(d.policyName, d.enforcementLevel) for d in response.diagnostics}
    assert ("drivers-and-addons-on-demand", analyzer_pb2.MANDATORY) in reported
    assert ("executors-spot-diversified", analyzer_pb2.MANDATORY) in reported


def test_the_running_pack_passes_the_autoscaler_policy_and_waits_on_unknowns(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    assert list(_analyze(analyzer, "aws:iam/policy:Policy", {"policy": autoscaler_policy("spark-dev")}).diagnostics) == []
    unknown = _analyze(analyzer, "aws:iam/policy:Policy", {"policy": UNKNOWN_STRING_VALUE})
    assert list(unknown.diagnostics) == []


def test_the_running_pack_checks_the_prod_endpoint_by_stack_name(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    props = {"name": "spark-prod", "endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}
    assert list(_analyze(analyzer, "eks:index:Cluster", props, stack="dev").diagnostics) == []
    prod = _analyze(analyzer, "eks:index:Cluster", props, stack="prod").diagnostics
    assert [d.policyName for d in prod] == ["prod-api-endpoint-allow-list"]


def test_the_running_pack_analyses_a_stack_with_property_dependencies(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    """A preview's stack: subnet ids unknown, the public subnet known through the dependency."""

    def resource(type_token: str, name: str, props: dict[str, Any], deps: dict[str, list[str]] | None = None) -> Any:
        return analyzer_pb2.AnalyzerResource(
            type=type_token,
            properties=_struct(props),
            urn=URN.format(stack="dev", type=type_token, name=name),
            name=name,
            propertyDependencies={k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v) for k, v in (deps or {}).items()},
        )

    public = resource("aws:ec2/subnet:Subnet", "network-public-0", {"tags": {"kubernetes.io/role/elb": "1"}})
    group = resource(
        "aws:eks/nodeGroup:NodeGroup",
        "ng-drivers",
        {"capacityType": "ON_DEMAND", "subnetIds": UNKNOWN_STRING_VALUE, "clusterName": "spark-dev", "labels": {"spark-eks-spot/role": "driver"}},
        {"subnetIds": [public.urn]},
    )
    capacity_tag = "k8s.io/cluster-autoscaler/node-template/label/eks.amazonaws.com/capacityType"
    tag = resource(
        "aws:autoscaling/tag:Tag",
        "ng-drivers-capacity",
        {"autoscalingGroupName": UNKNOWN_STRING_VALUE, "tag": {"key": capacity_tag, "value": "ON_DEMAND"}},
    )
    response = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[public, group, tag]))
    by_policy = {d.policyName: d for d in response.diagnostics}
    assert set(by_policy) == {"node-groups-private-subnets", "asg-autoscaler-tags"}
    assert by_policy["node-groups-private-subnets"].urn == group.urn and "network-public-0" in by_policy["node-groups-private-subnets"].message
    # The Tag was tied to its group by name; only the tags that are really missing are listed.
    missing = by_policy["asg-autoscaler-tags"].message
    assert "node-template/label/spark-eks-spot/role" in missing and capacity_tag not in missing
