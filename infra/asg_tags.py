"""The labels and taints every node group carries, and the Auto Scaling group tags that describe them.

Pure names and limits, no Pulumi: `infra.settings` checks a config against them before
anything is declared, and `infra.nodegroups` builds the tags from them.

The cluster-autoscaler reads a group's labels, taints and resources from tags under
`k8s.io/cluster-autoscaler/node-template/` on its Auto Scaling group when the group has
no node to copy them from (kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md,
"Auto-Discovery Setup"). An ASG tag key is at most 128 characters and a value at most 256
(Amazon EC2 Auto Scaling API Reference, `Tag`).
"""

from __future__ import annotations

import re

CAPACITY_TYPE_LABEL = "eks.amazonaws.com/capacityType"
ROLE_LABEL = "spark-eks-spot/role"
# Executors' Spot nodes repel everything that does not tolerate this taint (add-ons, drivers).
SPOT_TAINT = {"key": "spark-eks-spot/spot", "value": "true", "effect": "NO_SCHEDULE"}
# The system group's nodes repel Spark pods. The key is the one cluster add-ons tolerate already
# (the EKS CoreDNS add-on's default tolerations hold `CriticalAddonsOnly` Exists). It carries a
# value: the autoscaler models a managed node group's taint from the EKS API only when it has one
# (kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/aws_wrapper.go).
SYSTEM_TAINT = {"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}
SYSTEM_ROLE = "system"
# What a pod needs to run on the system group, and only there: the add-ons, and anything else
# the stack runs on nodes of its own (a Spark History Server, say). Spark's pod templates carry
# neither, so a driver or executor can never be scheduled on a system node.
SYSTEM_NODE_SELECTOR = {ROLE_LABEL: SYSTEM_ROLE}
SYSTEM_TOLERATION = {"key": SYSTEM_TAINT["key"], "operator": "Exists"}
TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}

AUTOSCALER_TAG_PREFIX = "k8s.io/cluster-autoscaler/"
NODE_TEMPLATE = f"{AUTOSCALER_TAG_PREFIX}node-template"
MAX_TAG_KEY_LENGTH = 128
# Keys that follow AUTOSCALER_TAG_PREFIX on EKS's own discovery tags: a cluster of that name
# would give its `k8s.io/cluster-autoscaler/<cluster>` tag the key of another tag.
RESERVED_CLUSTER_NAMES = ("enabled", "node-template")


def label_tag_key(label: str) -> str:
    return f"{NODE_TEMPLATE}/label/{label}"


def taint_tag_key(taint_key: str) -> str:
    return f"{NODE_TEMPLATE}/taint/{taint_key}"


def resource_tag_key(resource: str) -> str:
    return f"{NODE_TEMPLATE}/resources/{resource}"


def slug(text: str) -> str:
    """Lowercase letters and digits joined by '-': what a tag key becomes in a logical name."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def tag_name_suffix(tag_key: str) -> str:
    """The part of an ASG Tag resource's logical name that comes from its tag key.

    Slugging loses characters, so two keys can share a suffix (`a.b` and `a-b`); settings
    refuse such labels, because two resources with one logical name stop `pulumi up`.
    """
    return slug(tag_key.removeprefix(AUTOSCALER_TAG_PREFIX))
