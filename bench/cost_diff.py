"""Benchmark: diff a generated 1,000-step preview and count the pricing look-ups.

`python -m bench.cost_diff [--quick]` builds a preview shaped like `pulumi preview --json
--show-sames` of a large stack (node groups with five Spot types, replacements, NAT
gateways, IPv4 addresses, IAM and Kubernetes objects), then times the whole diff as the
CLI does it: parse the JSON text, price every step, render markdown and JSON. Target:
under 1 s, and no network call at pricing time (every look-up reads the in-memory
snapshot; socket connections are counted to show it).
"""

from __future__ import annotations

import argparse
import datetime
import json
import socket
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from cost.cli import batch_gc
from cost.inputs import UNKNOWN, changes_from_preview
from cost.pricing import PricingContext
from cost.render import render_json, render_markdown
from cost.report import build_report
from cost.snapshot import load_snapshot

STEPS = 1000
TARGET_SECONDS = 1.0
# Clusters here run 1.35 with upgradePolicy STANDARD; the day is fixed so every run prices alike.
PRICED_ON = PricingContext(on=datetime.date(2026, 11, 25))
PROVIDER = "urn:pulumi:bench::spark-eks-spot::pulumi:providers:aws::aws"
SPOT_TYPES = ["m5.xlarge", "m5a.xlarge", "m5d.xlarge", "m5ad.xlarge", "m4.xlarge"]


def _urn(chain: str, name: str) -> str:
    return f"urn:pulumi:bench::spark-eks-spot::{chain}::{name}"


def _state(type_token: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"type": type_token, "custom": True, "provider": f"{PROVIDER}::id", "inputs": inputs}


def _node_group(index: int, desired: int) -> dict[str, Any]:
    spot = index % 2 == 0
    return {
        "capacityType": "SPOT" if spot else "ON_DEMAND",
        "instanceTypes": SPOT_TYPES if spot else ["m5.xlarge"],
        "diskSize": 100,
        "scalingConfig": {"minSize": 0, "desiredSize": desired, "maxSize": 50},
    }


def _component_pair(index: int, op: str, old_desired: int, new_desired: int) -> list[dict[str, Any]]:
    """A pulumi-eks ManagedNodeGroup component and its aws:eks/nodeGroup child, as a real preview lists them."""
    name = f"r{index}"
    chain = "spark-eks-spot:infra:NodeGroups$eks:index:ManagedNodeGroup"
    parent = _urn(chain, name)
    old_c = {"type": "eks:index:ManagedNodeGroup", "custom": False, "inputs": _node_group(index, old_desired)}
    new_c = {"type": "eks:index:ManagedNodeGroup", "custom": False, "inputs": _node_group(index, new_desired)}
    child = _urn(f"{chain}$aws:eks/nodeGroup:NodeGroup", name)
    old_n = {**_state("aws:eks/nodeGroup:NodeGroup", _node_group(index, old_desired)), "parent": parent}
    new_n = {**_state("aws:eks/nodeGroup:NodeGroup", _node_group(index, new_desired)), "parent": parent}
    return [{"op": op, "urn": parent, "oldState": old_c, "newState": new_c},
            {"op": op, "urn": child, "oldState": old_n, "newState": new_n}]


def generate_preview(steps: int = STEPS) -> dict[str, Any]:
    """A preview with exactly `steps` steps, every op represented, pulumi-eks components with their
    children, and a changeSummary that matches (so it reads as made with --show-sames)."""
    out: list[dict[str, Any]] = [
        {"op": "same", "urn": PROVIDER,
         "oldState": {"type": "pulumi:providers:aws", "inputs": {"region": "us-west-2"}},
         "newState": {"type": "pulumi:providers:aws", "inputs": {"region": "us-west-2"}}},
    ]
    index = 0
    while len(out) < steps:
        kind = index % 10
        name = f"r{index}"
        if kind == 0 and len(out) + 2 <= steps:  # a pulumi-eks node group resized: component and child
            out += _component_pair(index, "update", 1, 3)
        elif kind == 1:  # node group resized, sometimes with an unknown desired size
            urn = _urn("aws:eks/nodeGroup:NodeGroup", name)
            new = _node_group(index, UNKNOWN if index % 20 == 1 else 3)  # type: ignore[arg-type]
            out.append({"op": "update", "urn": urn, "oldState": _state("aws:eks/nodeGroup:NodeGroup", _node_group(index, 1)),
                        "newState": _state("aws:eks/nodeGroup:NodeGroup", new)})
        elif kind == 2 and len(out) + 3 <= steps:  # replacement: three steps, one resource
            urn = _urn("aws:eks/nodeGroup:NodeGroup", name)
            old, new = _state("aws:eks/nodeGroup:NodeGroup", _node_group(1, 2)), _state("aws:eks/nodeGroup:NodeGroup", _node_group(0, 2))
            out += [{"op": "create-replacement", "urn": urn, "oldState": old, "newState": new},
                    {"op": "replace", "urn": urn, "oldState": old, "newState": new},
                    {"op": "delete-replaced", "urn": urn, "oldState": old}]
        elif kind == 3:
            out.append({"op": "create", "urn": _urn("aws:ec2/natGateway:NatGateway", name),
                        "newState": _state("aws:ec2/natGateway:NatGateway", {"subnetId": UNKNOWN})})
        elif kind == 4:
            out.append({"op": "delete", "urn": _urn("aws:ec2/eip:Eip", name), "oldState": _state("aws:ec2/eip:Eip", {"domain": "vpc"})})
        elif kind == 5:
            state = _state("aws:eks/cluster:Cluster", {"name": name, "version": "1.35", "upgradePolicy": {"supportType": "STANDARD"}})
            out.append({"op": "same", "urn": _urn("aws:eks/cluster:Cluster", name), "oldState": state, "newState": state})
        elif kind == 6:
            state = _state("aws:iam/role:Role", {"assumeRolePolicy": "[secret]"})
            out.append({"op": "same", "urn": _urn("aws:iam/role:Role", name), "oldState": state, "newState": state})
        elif kind == 7:
            state = _state("kubernetes:core/v1:ConfigMap", {"data": {"k": "v"}})
            out.append({"op": "update", "urn": _urn("kubernetes:core/v1:ConfigMap", name), "oldState": state, "newState": state})
        elif kind == 9 and len(out) + 2 <= steps:  # an unchanged pulumi-eks node group
            out += _component_pair(index, "same", 2, 2)
        else:
            state = _state("aws:s3/bucket:Bucket", {"bucket": name})
            out.append({"op": "same", "urn": _urn("aws:s3/bucket:Bucket", name), "oldState": state, "newState": state})
        index += 1
    chosen = out[:steps]
    summary: dict[str, int] = {}
    for step in chosen:
        if step["op"] not in ("create-replacement", "delete-replaced"):
            summary[step["op"]] = summary.get(step["op"], 0) + 1
    return {"steps": chosen, "changeSummary": summary}


def diff_once(text: str) -> tuple[float, int, int]:
    """Seconds for one full diff as `python -m cost diff` runs it (its garbage-collector setting
    included), the snapshot look-ups it made, and the resources it priced."""
    snapshot = load_snapshot()
    with batch_gc():
        started = time.perf_counter()
        changes = changes_from_preview(json.loads(text), "bench")
        report = build_report(changes, snapshot, "diff", PRICED_ON)
        render_markdown(report)
        render_json(report)
        seconds = time.perf_counter() - started
    return seconds, snapshot.lookups, len(report.resources)


def markdown_seconds(text: str) -> float:
    """Seconds to parse, price and render the pull-request comment (markdown only) once, as the CLI does."""
    snapshot = load_snapshot()
    with batch_gc():
        started = time.perf_counter()
        render_markdown(build_report(changes_from_preview(json.loads(text), "bench"), snapshot, "diff", PRICED_ON))
        return time.perf_counter() - started


@dataclass(frozen=True)
class DiffMeasurement:
    """One benchmark run: the median time of the timed diffs and what they touched."""

    steps: int
    runs: int
    median_seconds: float
    lookups: int
    resources: int
    connections: int


@contextmanager
def counting_connections() -> Iterator[list[int]]:
    """Count every socket connection attempted inside the block (in a one-item list)."""
    count = [0]
    original_connect = socket.socket.connect

    def counting_connect(self: socket.socket, address: Any) -> Any:
        count[0] += 1
        return original_connect(self, address)

    socket.socket.connect = counting_connect  # type: ignore[method-assign, assignment]
    try:
        yield count
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]


def measure_diff(runs: int = 7, warm_up: bool = True, steps: int = STEPS) -> DiffMeasurement:
    """Time `runs` full diffs of a generated `steps`-step preview, counting look-ups and connections."""
    text = json.dumps(generate_preview(steps))
    with counting_connections() as connections:
        if warm_up:
            diff_once(text)  # imports and first-call costs are not the steady state
        results = [diff_once(text) for _ in range(runs)]
    _, lookups, resources = results[0]
    return DiffMeasurement(
        steps=steps,
        runs=runs,
        median_seconds=statistics.median(seconds for seconds, _, _ in results),
        lookups=lookups,
        resources=resources,
        connections=connections[0],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost_diff", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one timed run instead of seven")
    args = parser.parse_args(argv)
    result = measure_diff(runs=1 if args.quick else 7, warm_up=not args.quick)
    median = result.median_seconds
    print(f"cost diff of a {result.steps:,}-step preview ({result.resources:,} resources after folding replacements)")
    print(f"  time: {median * 1000:.1f} ms (median of {result.runs}; parse + price + markdown + JSON)")
    print(f"  ratio to the 1 s target: {median / TARGET_SECONDS:.3f} ({'ok' if median < TARGET_SECONDS else 'OVER TARGET'})")
    print(f"  pricing look-ups: {result.lookups:,} (in-memory snapshot reads); network connections: {result.connections}")
    return 0 if median < TARGET_SECONDS and result.connections == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
