"""The example prod stack file, and the rendered Spark RBAC manifests against Kubernetes schemas."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from infra.plan import Plan, main
from infra.spark_rbac import rbac_manifests
from tests.infra_plans import only, stack_plan

KUBERNETES_SCHEMA_VERSION = "1.34"


@pytest.fixture(scope="module")
def prod() -> Plan:
    return stack_plan("prod")


def test_prod_spreads_over_three_zones_with_a_nat_each(prod: Plan) -> None:
    """Prod: three AZs, a NAT gateway per AZ, so one zone's failure keeps the others' egress."""
    assert len([s for s in prod.of_type("aws:ec2/subnet:Subnet") if "private" in s.name]) == 3
    assert len(prod.of_type("aws:ec2/natGateway:NatGateway")) == 3


def test_prod_api_endpoint_is_reachable_from_the_deployer_and_allow_listed(prod: Plan) -> None:
    """The prod example creates its VPC, so `pulumi up` (Helm chart, RBAC) reaches the API from
    outside it: the public endpoint stays on, open only to a listed network, and nodes use the
    private one. EKS user guide, cluster-endpoint.adoc: with public access limited by CIDR, keep
    private access on or the nodes (egressing through NAT) cannot reach the API."""
    cluster = only(prod, "eks:index:Cluster").inputs
    assert (cluster["endpointPublicAccess"], cluster["endpointPrivateAccess"]) == (True, True)
    assert cluster["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert not prod.of_type("aws:ec2/securityGroupRule:SecurityGroupRule")


def test_prod_limits_versioning_and_tags(prod: Plan) -> None:
    """Bigger limits, two system nodes, one warm driver node, versioned bucket, the environment tag on everything."""
    groups = {g.name: g.inputs for g in prod.of_type("eks:index:ManagedNodeGroup")}
    assert groups["nodegroups-system"]["scalingConfig"] == {"minSize": 2, "desiredSize": 2, "maxSize": 3}
    assert groups["nodegroups-drivers"]["scalingConfig"] == {"minSize": 1, "desiredSize": 1, "maxSize": 10}
    assert groups["nodegroups-executors"]["scalingConfig"] == {"minSize": 0, "desiredSize": 0, "maxSize": 100}
    assert len(groups["nodegroups-executors"]["instanceTypes"]) == 15
    assert only(prod, "aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"] == {"status": "Enabled"}
    tags = json.loads(only(prod, "pulumi:providers:aws").inputs["defaultTags"])["tags"]
    assert tags["environment"] == "prod"
    assert tags["stack"] == "prod"


def test_plan_json_prints_the_whole_stack(capsys) -> None:
    """`python -m infra.plan --stack dev --json`: every resource with type, name, inputs, and the outputs."""
    assert main(["--stack", "dev", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"resources", "outputs"}
    types = {r["type"] for r in document["resources"]}
    assert {"eks:index:Cluster", "eks:index:ManagedNodeGroup", "aws:autoscaling/tag:Tag", "kubernetes:helm.sh/v3:Release",
            "aws:s3/bucket:Bucket", "aws:ecr/repository:Repository", "kubernetes:rbac.authorization.k8s.io/v1:Role"} <= types
    assert all(set(r) in ({"type", "name", "inputs"}, {"type", "name", "inputs", "dependsOn"}) for r in document["resources"])
    assert document["outputs"]["kubeconfig"] == "[secret]"
    assert "certificate-authority-data" not in json.dumps(document)


@pytest.mark.parametrize("role_arn", ["arn:aws:iam::123456789012:role/spark", None])
def test_rendered_rbac_manifests_pass_strict_schema_validation(role_arn: str | None) -> None:
    """Namespace, ServiceAccount, Role and RoleBinding are valid Kubernetes objects (strict: no unknown keys)."""
    manifests = rbac_manifests("spark", "spark", role_arn)
    assert [m["kind"] for m in manifests] == ["Namespace", "ServiceAccount", "Role", "RoleBinding", "ServiceAccount"]
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_SCHEMA_VERSION, strict=True)


def test_strict_validation_catches_a_misspelt_key() -> None:
    """The schema check is real: a misspelt field in the Role is rejected."""
    role = rbac_manifests("spark", "spark", None)[2]
    role["rules"][0]["verb"] = role["rules"][0].pop("verbs")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(role, KUBERNETES_SCHEMA_VERSION, strict=True)
