"""Issue 14, phase A: the node layout. Add-ons on a small tainted system group, drivers that scale from
zero, Spot executors on x86_64 or arm64, and pods that land only where they belong.

Where a pod can land is decided here the way the scheduler and the cluster-autoscaler decide it,
from what the plan declares: a node group's template node is built from its ASG's node-template
tags alone (all the autoscaler has for a group at zero nodes), plus the labels the autoscaler adds
from the instance type, and each pod is the real pod template, chart values or add-on
configuration.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from infra.instance_types import INSTANCE_SPECS, InstanceSize, instance_architecture, same_size_types
from infra.plan import Plan, run_plan, settings_of, stack_config
from infra.settings import EXECUTOR_INSTANCE_TYPES
from jobs import POD_TEMPLATE_DIR
from tests.infra_plans import only, plan_with, stack_plan
from tests.policy_fixtures import check_plan, mandatory

NODE_GROUP = "eks:index:ManagedNodeGroup"
ASG_TAG = "aws:autoscaling/tag:Tag"
NODE_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
KUBERNETES_ARCH = {"x86_64": "amd64", "arm64": "arm64"}
ARM64_POOL = {"arm64": {"architecture": "arm64", "instanceTypes": ["m6g.xlarge", "m7g.xlarge", "m6gd.xlarge"]}}


# --- a scheduler for template nodes -----------------------------------------------------------------


def template_nodes(plan: Plan) -> dict[str, dict[str, Any]]:
    """Group → the node the autoscaler imagines for it at zero nodes.

    Labels and taints come only from the ASG's tags `node-template/label/<key>: <value>` and
    `node-template/taint/<key>: <value>:<Effect>` (kubernetes/autoscaler
    cluster-autoscaler/cloudprovider/aws/README.md, "only required if scaling up from 0 nodes"),
    plus what the autoscaler derives from the instance type: kubernetes.io/arch, os, instance-type
    (cloudprovider/aws/aws_manager.go buildGenericLabels).
    """
    nodes = {}
    for group in plan.of_type(NODE_GROUP):
        asg = f"eks-{group.name}-asg"  # the plan's mock ASG name
        tags = {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in plan.of_type(ASG_TAG) if t.inputs["autoscalingGroupName"] == asg}
        first = group.inputs["instanceTypes"][0]
        labels = {
            "kubernetes.io/arch": KUBERNETES_ARCH[instance_architecture(first) or ""],
            "kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": first,
        }
        taints = []
        for key, value in tags.items():
            if key.startswith(f"{NODE_TEMPLATE}/label/"):
                labels[key.removeprefix(f"{NODE_TEMPLATE}/label/")] = value
            elif key.startswith(f"{NODE_TEMPLATE}/taint/"):
                taint_value, effect = value.rsplit(":", 1)
                taints.append({"key": key.removeprefix(f"{NODE_TEMPLATE}/taint/"), "value": taint_value, "effect": effect})
        nodes[group.name.removeprefix("nodegroups-")] = {"labels": labels, "taints": taints}
    return nodes


def _expression_holds(expression: dict[str, Any], labels: dict[str, str]) -> bool:
    key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise AssertionError(f"operator {operator} not modelled")


def _tolerates(toleration: dict[str, Any], taint: dict[str, str]) -> bool:
    operator = toleration.get("operator", "Equal")
    if toleration.get("key") not in (None, "", taint["key"]) or (not toleration.get("key") and operator != "Exists"):
        return False
    if toleration.get("effect") not in (None, "", taint["effect"]):
        return False
    return operator == "Exists" or toleration.get("value", "") == taint["value"]


def fits(pod_spec: dict[str, Any], node: dict[str, Any]) -> bool:
    """Kubernetes docs, "Assign Pods to Nodes": every nodeSelector pair must be a node label; of the
    required nodeAffinity terms one must hold (terms ORed, expressions ANDed). "Taints and
    Tolerations": every NoSchedule/NoExecute taint needs a toleration with the same key (or an empty
    key with Exists), the same effect (or none), and Exists or an equal value."""
    labels = node["labels"]
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    if required and not any(
        all(_expression_holds(e, labels) for e in term.get("matchExpressions", [])) for term in required["nodeSelectorTerms"]
    ):
        return False
    tolerations = pod_spec.get("tolerations") or []
    return all(
        any(_tolerates(t, taint) for t in tolerations)
        for taint in node["taints"] if taint["effect"] in ("NoSchedule", "NoExecute")
    )


def landing(pod_spec: dict[str, Any], plan: Plan) -> set[str]:
    return {group for group, node in template_nodes(plan).items() if fits(pod_spec, node)}


def pod_template(role: str) -> dict[str, Any]:
    return yaml.safe_load((POD_TEMPLATE_DIR / f"{role}.yaml").read_text(encoding="utf-8"))["spec"]


def autoscaler_pod(plan: Plan) -> dict[str, Any]:
    """The chart puts values.nodeSelector, values.tolerations and values.affinity (default {}) on the pod
    (kubernetes/autoscaler cluster-autoscaler/charts/cluster-autoscaler/templates/deployment.yaml)."""
    values = only(plan, "kubernetes:helm.sh/v3:Release").inputs["values"]
    return {key: values[key] for key in ("nodeSelector", "tolerations", "affinity") if key in values}


# The CoreDNS add-on's configuration schema as `aws eks describe-addon-configuration --addon-name coredns`
# prints it (v1.10.1-eksbuild.11, captured in cloudbees/terraform-aws-cloudbees-ci-eks-addon
# blueprints/03-windows-builds/README.md): its properties (additionalProperties false), and the
# default tolerations and affinity the add-on applies unless configured otherwise.
COREDNS_PROPERTIES = {
    "affinity", "autoScaling", "computeType", "corefile", "nodeSelector", "podAnnotations",
    "podDisruptionBudget", "podLabels", "replicaCount", "resources", "tolerations", "topologySpreadConstraints",
}
COREDNS_DEFAULT_TOLERATIONS = [
    {"key": "CriticalAddonsOnly", "operator": "Exists"},
    {"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"},
]
COREDNS_DEFAULT_AFFINITY = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                          {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]}]}}}


def coredns_configuration(plan: Plan) -> dict[str, Any]:
    [coredns] = [a for a in plan.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "coredns"]
    return json.loads(coredns.inputs["configurationValues"])


def coredns_pod(plan: Plan) -> dict[str, Any]:
    configured = coredns_configuration(plan)
    return {"tolerations": COREDNS_DEFAULT_TOLERATIONS, "affinity": COREDNS_DEFAULT_AFFINITY, **configured}


def history_pod(plan: Plan) -> dict[str, Any]:
    """The History Server's pod spec, as its Deployment declares it (infra/history.py)."""
    [deployment] = [r for r in plan.of_type("kubernetes:apps/v1:Deployment") if "history" in r.name]
    return deployment.inputs["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def dev() -> Plan:
    return stack_plan("dev")


@pytest.fixture(scope="module")
def dev_with_arm64() -> Plan:
    return plan_with("dev", extraExecutorGroups=ARM64_POOL)


# --- 1. the system group ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_add_ons_land_on_the_system_group_only(stack: str) -> None:
    """CoreDNS (nodeSelector and tolerations in its add-on configuration), the cluster-autoscaler
    (chart values) and the Spark History Server (its Deployment) fit the system group's template
    node and no other."""
    plan = stack_plan(stack)
    assert landing(coredns_pod(plan), plan) == {"system"}
    assert landing(autoscaler_pod(plan), plan) == {"system"}
    assert landing(history_pod(plan), plan) == {"system"}


def test_spark_pods_never_land_on_the_system_group(dev_with_arm64: Plan) -> None:
    """The system taint (CriticalAddonsOnly=true:NoSchedule) repels the driver and the executors: their
    pod templates tolerate only what they need. The same driver with a CriticalAddonsOnly toleration
    would fit, so it is the taint that keeps it off."""
    driver, executor = pod_template("driver"), pod_template("executor")
    assert "system" not in landing(driver, dev_with_arm64) | landing(executor, dev_with_arm64)
    tolerant = {**driver, "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}]}
    assert "system" in landing(tolerant, dev_with_arm64)


def test_coredns_configuration_fits_the_add_on_schema_and_keeps_its_default_tolerations(dev: Plan) -> None:
    """The add-on's configuration values must match its schema (pulumi-eks nodejs/eks/cluster/cluster.ts:
    "must match the schema derived from describe-addon-configuration"; additionalProperties false).
    Setting `tolerations` replaces the schema's default list, so both defaults are kept."""
    configured = coredns_configuration(dev)
    assert set(configured) <= COREDNS_PROPERTIES
    assert configured["nodeSelector"] == {"spark-eks-spot/role": "system"}
    assert all(isinstance(v, str) for v in configured["nodeSelector"].values())
    assert all(default in configured["tolerations"] for default in COREDNS_DEFAULT_TOLERATIONS)


# --- 2. drivers from zero ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_pending_driver_scales_the_driver_group_from_zero(stack: str) -> None:
    """Dev's drivers idle at zero nodes. A pending driver fits the drivers group's template node, built
    from its ASG tags alone, and no other group's: so the autoscaler starts a driver node (and the
    driver never waits on a system node it cannot use)."""
    plan = stack_plan(stack)
    drivers = plan.named("nodegroups-drivers").inputs["scalingConfig"]
    assert drivers["minSize"] == (0 if stack == "dev" else 1)
    assert landing(pod_template("driver"), plan) == {"drivers"}


def test_the_drivers_asg_tags_name_every_label_the_driver_selects_on(dev: Plan) -> None:
    """kubernetes/autoscaler cloudprovider/aws/README.md: at zero nodes a label a pod selects on must be
    an ASG tag, or the template node lacks it. Every key of the driver template's required affinity is
    either a tag of the drivers' ASG or a label the autoscaler derives from the instance type."""
    driver = pod_template("driver")
    terms = driver["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    keys = {e["key"] for term in terms for e in term["matchExpressions"]} | set(driver.get("nodeSelector") or {})
    tagged = {t.inputs["tag"]["key"].removeprefix(f"{NODE_TEMPLATE}/label/") for t in dev.of_type(ASG_TAG)
              if t.inputs["autoscalingGroupName"] == "eks-nodegroups-drivers-asg"}
    assert keys and keys <= tagged | {"kubernetes.io/arch", "kubernetes.io/os", "node.kubernetes.io/instance-type"}


# --- 3. executors on either architecture --------------------------------------------------------------


def test_executors_land_on_spot_groups_of_either_architecture(dev_with_arm64: Plan) -> None:
    """The executor pod template pins Spot, not an architecture, so an arm64 pool takes executors as the
    x86_64 one does; the arm64 group runs the ARM AMI and the autoscaler knows it from its first type."""
    executor = pod_template("executor")
    pinned = [e for term in executor["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
              for e in term["matchExpressions"] if e["key"] in ("kubernetes.io/arch", "beta.kubernetes.io/arch")]
    assert pinned == [] and "kubernetes.io/arch" not in (executor.get("nodeSelector") or {})
    assert landing(executor, dev_with_arm64) == {"executors", "executors-arm64"}
    nodes = template_nodes(dev_with_arm64)
    assert (nodes["executors-arm64"]["labels"]["kubernetes.io/arch"], nodes["executors"]["labels"]["kubernetes.io/arch"]) == ("arm64", "amd64")
    assert dev_with_arm64.named("nodegroups-executors-arm64").inputs["amiType"] == "AL2023_ARM_64_STANDARD"


def test_the_prod_examples_arm64_group_plans_and_passes_the_pack() -> None:
    """The example prod stack carries a Graviton Spot group next to the x86_64 one (the job image is
    built for both platforms). The stack validates, plans an arm64 group on the ARM AMI, passes every
    mandatory policy, the one-architecture rule included, and the group is in the priority ConfigMap."""
    config = stack_config("prod")
    settings = settings_of(config, "prod")
    assert settings.extra_executor_groups["arm64"].architecture == "arm64"
    plan = run_plan(config, stack="prod")
    arm64 = plan.named("nodegroups-executors-arm64").inputs
    assert (arm64["capacityType"], arm64["amiType"]) == ("SPOT", "AL2023_ARM_64_STANDARD")
    assert {instance_architecture(t) for t in arm64["instanceTypes"]} == {"arm64"}
    assert mandatory(check_plan(plan.as_json(), "prod")) == []
    assert "executors-arm64" in plan.named("autoscaler-priorities").inputs["data"]["priorities"]


# --- 5. the instance table -------------------------------------------------------------------------------


def test_the_tables_architecture_follows_the_graviton_naming_rule() -> None:
    """AWS instance type names put the processor after the generation: `g` is AWS Graviton (EC2 docs,
    "Amazon EC2 instance type naming conventions", docs.aws.amazon.com/ec2/latest/instancetypes/
    instance-type-names.html; pulumi/pulumi-eks nodejs/eks/nodes/nodegroup.ts isGravitonInstance, at
    7bf0c1b, picks an AMI by the same rule). Every row agrees with it."""
    for name, spec in INSTANCE_SPECS.items():
        parts = re.fullmatch(r"([a-z]+)(\d+)([a-z]*)(-flex)?\.([a-z0-9]+)", name)
        assert parts, name
        graviton = parts.group(3).startswith("g")
        assert spec.architecture == ("arm64" if graviton else "x86_64"), name


def test_the_default_executor_types_are_every_steady_x86_family_of_4_vcpu_16_gib() -> None:
    """Spot breadth: the defaults list every x86_64 4 vCPU / 16 GiB type of the table except the burstable,
    the Flex (CPU baseline) and the m8 types (few regions; EKS refuses a type its region lacks)."""
    offered = same_size_types(InstanceSize(4, 16), "x86_64")
    wanted = [t for t in offered if "-flex" not in t and not t.startswith("m8")]
    assert sorted(EXECUTOR_INSTANCE_TYPES) == sorted(wanted)
    assert len(EXECUTOR_INSTANCE_TYPES) <= 20  # EKS CreateNodegroup takes 0-20 instanceTypes
