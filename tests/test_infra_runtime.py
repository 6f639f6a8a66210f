"""Issue 11, items 5-8: what would go wrong after a successful `up` (credentials, versions, scale-up, tags).

Each test names the rule of the real system it guards and where that rule is written.
"""

from __future__ import annotations

import pytest
from kubernetes.utils import parse_quantity

from infra.asg_tags import AUTOSCALER_TAG_PREFIX, NODE_TEMPLATE
from infra.nodegroups import (
    EVICTION_HARD_NODEFS_AVAILABLE,
    KUBE_RESERVED_EPHEMERAL_MIB,
    ROOT_FILESYSTEM_OVERHEAD_MIB,
    allocatable_ephemeral_storage,
)
from infra.plan import Plan
from tests.infra_plans import only, plan_with, stack_plan

NODE_GROUP = "eks:index:ManagedNodeGroup"
ASG_TAG = "aws:autoscaling/tag:Tag"
GIB = 1024**3
EPHEMERAL_TAG = f"{NODE_TEMPLATE}/resources/ephemeral-storage"


@pytest.fixture(scope="module")
def dev() -> Plan:
    return stack_plan("dev")


def _ephemeral_tags(plan: Plan) -> dict[str, str]:
    return {
        t.inputs["autoscalingGroupName"]: t.inputs["tag"]["value"]
        for t in plan.of_type(ASG_TAG)
        if t.inputs["tag"]["key"] == EPHEMERAL_TAG
    }


# --- 5. pods reach instance credentials only where they must -------------------------------------


def test_node_role_access_gets_a_launch_template_with_hop_limit_two() -> None:
    """AL2023 managed nodes without a custom launch template get IMDSv2 with a hop limit of 1, so
    "containers won't have access to the node's credentials using IMDS" (awsdocs
    amazon-eks-user-guide latest/ug/nodes/al2023.adoc). With s3AccessVia: nodeRole Spark's pods need
    them: pulumi-eks's enableIMDSv2 builds a launch template with httpTokens required and
    httpPutResponseHopLimit 2 (pulumi/pulumi-eks nodejs/eks/nodes/nodegroup.ts,
    createMNGCustomLaunchTemplate), on every group Spark pods run on."""
    plan = plan_with("dev", s3AccessVia="nodeRole")
    groups = plan.of_type(NODE_GROUP)
    assert groups and all(g.inputs["enableIMDSv2"] is True for g in groups)
    # The launch template carries the disk then; the group still states its size and version.
    assert all(g.inputs["diskSize"] and g.inputs["version"] == "1.35" for g in groups)


def test_irsa_keeps_the_default_hop_limit_of_one(dev: Plan) -> None:
    """With IRSA pods get credentials from their service account's web identity; the node's role must
    stay out of their reach, which the AL2023 default hop limit of 1 gives (al2023.adoc, as above)."""
    assert all("enableIMDSv2" not in g.inputs for g in dev.of_type(NODE_GROUP))


# --- 6. nodes follow the control plane -----------------------------------------------------------


@pytest.mark.parametrize("version", ["1.34", "1.35"])
def test_every_node_group_runs_the_cluster_version(version: str) -> None:
    """A managed node group keeps its Kubernetes version until the group itself is updated, and that
    version "can't be greater than the control plane's" (EKS user guide, latest/ug/nodes/
    update-managed-node-group.adoc). pulumi-eks defaults a group to the cluster's version only when
    no launch template is given (pulumi/pulumi-eks nodejs/eks/nodes/nodegroup.ts
    createManagedNodeGroup, pulumi-eks#1379), so every group gets the cluster's version, launch
    template or not; pulumi-eks's NodeGroup reads the cluster's name output, so it updates after the
    control plane."""
    plan = plan_with(
        "dev",
        kubernetesVersion=version,
        s3AccessVia="nodeRole",
        extraExecutorGroups={"xl2": {"instanceTypes": ["m5.2xlarge", "m5a.2xlarge", "m6i.2xlarge"]}},
    )
    assert only(plan, "eks:index:Cluster").inputs["version"] == version
    assert {g.name: g.inputs["version"] for g in plan.of_type(NODE_GROUP)} == {
        "nodegroups-system": version, "nodegroups-drivers": version, "nodegroups-executors": version,
        "nodegroups-executors-xl2": version,
    }


# --- 7. the autoscaler is told what a new node really offers -------------------------------------


@pytest.mark.parametrize("disk_gib", [20, 50, 100, 200, 16384])
def test_ephemeral_storage_tag_is_what_the_kubelet_allocates(disk_gib: int) -> None:
    """The autoscaler copies a node-template resources/ephemeral-storage tag into the template node's
    capacity and uses it as allocatable unchanged ("TODO: use proper allocatable!!",
    kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/aws_manager.go buildNodeFromTemplate).
    The kubelet allocates capacity minus kube-reserved minus the hard eviction threshold
    (kubernetes/community design-proposals/node/node-allocatable.md); AL2023's nodeadm reserves
    ephemeral-storage 1Gi and evicts at nodefs.available 10% (awslabs/amazon-eks-ami
    nodeadm/internal/kubelet/config.go). The tag is a Kubernetes quantity in binary units."""
    value = allocatable_ephemeral_storage(disk_gib)
    assert value.endswith("Mi")
    capacity = disk_gib * GIB - ROOT_FILESYSTEM_OVERHEAD_MIB * 2**20
    allocatable = capacity - KUBE_RESERVED_EPHEMERAL_MIB * 2**20 - capacity * EVICTION_HARD_NODEFS_AVAILABLE
    offered = int(parse_quantity(value))
    assert allocatable - 2**20 < offered <= allocatable
    assert offered < disk_gib * GIB * 0.9  # never the disk size: that promises space the node cannot give


def test_the_old_decimal_disk_size_overstated_what_a_node_holds() -> None:
    """`100G` is 100e9 bytes (93.1 GiB, Kubernetes quantity suffixes, resource.Quantity), already
    more than a 100 GiB node's pods may use; a pod asking 92Gi made the autoscaler add a node that
    could not take it."""
    assert parse_quantity("100G") > parse_quantity(allocatable_ephemeral_storage(100)) + 4 * GIB
    assert parse_quantity(allocatable_ephemeral_storage(100)) < parse_quantity("92Gi")


def test_the_stacks_tag_each_group_with_its_own_disk(dev: Plan) -> None:
    """Dev system 20 GiB, drivers 50 GiB and both executor tiers (x86_64, Graviton) 100 GiB; prod
    executors 200 GiB."""
    assert _ephemeral_tags(dev) == {
        "eks-nodegroups-system-asg": allocatable_ephemeral_storage(20),
        "eks-nodegroups-drivers-asg": allocatable_ephemeral_storage(50),
        "eks-nodegroups-executors-asg": allocatable_ephemeral_storage(100),
        "eks-nodegroups-executors-arm64-asg": allocatable_ephemeral_storage(100),
    }
    assert _ephemeral_tags(stack_plan("prod"))["eks-nodegroups-executors-asg"] == allocatable_ephemeral_storage(200)


# --- 8. the discovery tags are EKS's ---------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_discovery_tag_is_declared_but_every_node_template_tag_is(stack: str) -> None:
    """EKS user guide, latest/ug/nodes/managed-node-groups.adoc: "Amazon EKS tags managed node group
    resources so that they are configured to use the Kubernetes Cluster Autoscaler" (the
    k8s.io/cluster-autoscaler/enabled and /<cluster> discovery tags). A Tag resource for those keys
    would take EKS's own tag off the ASG when it is deleted. The node-template tags EKS does not add
    (managed node group tags do not reach the ASG: aws/containers-roadmap#608), so they stay."""
    plan = stack_plan(stack)
    keys = [t.inputs["tag"]["key"] for t in plan.of_type(ASG_TAG)]
    assert keys and all(k.startswith(AUTOSCALER_TAG_PREFIX) for k in keys)
    assert all(k.startswith(f"{NODE_TEMPLATE}/") for k in keys)
    per_group = {g.name: [t for t in plan.of_type(ASG_TAG) if t.name.startswith(f"{g.name}-")] for g in plan.of_type(NODE_GROUP)}
    assert all(len(tags) >= 3 for tags in per_group.values())
