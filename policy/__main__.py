"""The policy pack's entry point: `pulumi preview --policy-pack policy`.

Pulumi runs this file with the pack's own virtualenv. Constructing `PolicyPack` starts
its gRPC server and blocks, which is why nothing else constructs it (tests and
`python -m policy.check` use `policy.policies.POLICIES` directly).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# The rules read infra/instance_types.py from the repository the pack lives in.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi.runtime  # noqa: E402
from pulumi_policy import PolicyPack  # noqa: E402

from policy.policies import PACK_NAME, POLICIES, PRIVATE_SUBNETS_POLICY  # noqa: E402


def configured_private_subnets(config: dict[str, str]) -> list[str]:
    """An existing VPC's private subnet ids from the stack config the CLI hands the pack."""
    raw = config.get("spark-eks-spot:network")
    try:
        network: Any = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return []
    ids = network.get("privateSubnetIds") if isinstance(network, dict) else None
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


private_subnets = configured_private_subnets(pulumi.runtime.get_config_env())
PolicyPack(
    name=PACK_NAME,
    policies=POLICIES,
    initial_config={PRIVATE_SUBNETS_POLICY: {"privateSubnetIds": private_subnets}} if private_subnets else None,
)
