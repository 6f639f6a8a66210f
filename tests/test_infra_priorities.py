"""The priority expander: Spot groups ordered by the snapshot's Spot price per vCPU, and the ConfigMap
the autoscaler reads, held to the rules of kubernetes/autoscaler's expander/priority/priority.go."""

from __future__ import annotations

import json
import re
from pathlib import Path
from statistics import fmean
from typing import Any

import pytest
import yaml

from cost.snapshot import PriceSnapshot, latest_snapshot_path, load_snapshot, snapshot_from_json
from infra.instance_types import instance_size
from infra.nodegroups import NodeGroupSpec, node_group_specs
from infra.plan import Plan
from infra.priorities import (
    CATCH_ALL,
    CATCH_ALL_PRIORITY,
    CONFIG_MAP_KEY,
    CONFIG_MAP_NAME,
    ON_DEMAND_PRIORITY,
    UNPRICED_SPOT_PRIORITY,
    asg_name_pattern,
    group_priorities,
    render_priorities,
)
from infra.settings import Settings, settings_from_values
from tests.infra_plans import only, plan_with, stack_plan

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
X86 = ["m5.xlarge", "m5a.xlarge", "m5d.xlarge"]
ARM = ["m6g.xlarge", "m7g.xlarge", "m6gd.xlarge"]
XL2 = ["m5.2xlarge", "m5a.2xlarge", "m6i.2xlarge"]


def snapshot(spot: dict[str, float], region: str = "us-west-2") -> PriceSnapshot:
    """A stand-in snapshot: only the Spot prices given (On-Demand is not what orders Spot groups)."""
    prices = {"eksClusterHour": 0.1, "eksExtendedClusterHour": 0.6, "natGatewayHour": 0.045, "publicIpv4Hour": 0.005, "ebsGbMonth": {"gp2": 0.1},
              "onDemandHour": {}, "spotHour": spot}
    return snapshot_from_json({"schema": 1, "date": "2026-01-02", "regions": {region: prices}}, "stand-in")


def settings(**values: Any) -> Settings:
    return settings_from_values(values, stack="dev", region="us-west-2")


def specs_of(result: Settings) -> list[NodeGroupSpec]:
    return node_group_specs(result.system, result.drivers, result.executors, result.extra_executor_groups)


def by_key(specs: list[NodeGroupSpec], prices: PriceSnapshot, region: str = "us-west-2") -> dict[str, Any]:
    return {p.key: p for p in group_priorities(specs, prices, region)}


def three_pools(**extra: Any) -> Settings:
    return settings(
        executors={"instanceTypes": X86},
        extraExecutorGroups={"arm64": {"architecture": "arm64", "instanceTypes": ARM, **extra}, "xl2": {"instanceTypes": XL2}},
    )


def test_the_cheapest_spot_group_per_vcpu_gets_the_highest_priority() -> None:
    """Spot groups rank by mean Spot price of their types per vCPU; On-Demand groups sit below every Spot group."""
    prices = snapshot({"m5.xlarge": 0.08, "m5a.xlarge": 0.07, "m5d.xlarge": 0.09,  # 0.02 per vCPU
                       "m6g.xlarge": 0.05, "m7g.xlarge": 0.05, "m6gd.xlarge": 0.05,  # 0.0125
                       "m5.2xlarge": 0.20, "m5a.2xlarge": 0.20, "m6i.2xlarge": 0.20})  # 0.025
    ranked = by_key(specs_of(three_pools()), prices)
    assert ranked["executors-arm64"].priority > ranked["executors"].priority > ranked["executors-xl2"].priority
    assert ranked["executors"].spot_vcpu_hour == pytest.approx(0.02)
    assert "mean of 3 of 3 types" in ranked["executors"].basis
    assert ranked["executors-xl2"].priority > ON_DEMAND_PRIORITY == ranked["drivers"].priority == ranked["system"].priority
    assert [p.key for p in group_priorities(specs_of(three_pools()), prices, "us-west-2")][:3] == [
        "executors-arm64", "executors", "executors-xl2"
    ]


def test_equal_prices_share_a_priority_and_least_waste_decides() -> None:
    prices = snapshot({t: 0.08 for t in X86} | {t: 0.08 for t in ARM} | {t: 0.16 for t in XL2})
    ranked = by_key(specs_of(three_pools()), prices)
    assert ranked["executors"].priority == ranked["executors-arm64"].priority == ranked["executors-xl2"].priority


def test_a_group_the_snapshot_cannot_price_ranks_below_every_priced_spot_group() -> None:
    """No price is made up: the arm64 pool without prices goes just below the priced Spot groups."""
    prices = snapshot({"m5.xlarge": 0.08, "m5a.xlarge": 0.07, "m5.2xlarge": 0.2})
    ranked = by_key(specs_of(three_pools()), prices)
    assert ranked["executors-arm64"].priority == UNPRICED_SPOT_PRIORITY
    assert ranked["executors-arm64"].spot_vcpu_hour is None
    assert "no Spot price for m6g.xlarge, m7g.xlarge, m6gd.xlarge" in ranked["executors-arm64"].basis
    assert min(ranked["executors"].priority, ranked["executors-xl2"].priority) > UNPRICED_SPOT_PRIORITY > ON_DEMAND_PRIORITY
    # Priced over the types it has, and it says which it lacks.
    assert ranked["executors"].spot_vcpu_hour == pytest.approx(0.075 / 4)
    assert "(no price for m5d.xlarge)" in ranked["executors"].basis


def test_a_region_the_snapshot_lacks_leaves_every_spot_group_unpriced() -> None:
    prices = snapshot({t: 0.08 for t in X86}, region="eu-west-1")
    ranked = by_key(specs_of(three_pools()), prices, region="ap-south-2")
    assert {ranked[k].priority for k in ("executors", "executors-arm64", "executors-xl2")} == {UNPRICED_SPOT_PRIORITY}
    assert "no Spot prices for ap-south-2 in price snapshot 2026-01-02" in ranked["executors"].basis


def test_a_configured_priority_replaces_the_computed_one() -> None:
    """extraExecutorGroups.<name>.priority: the user's order wins, and the basis says so."""
    prices = snapshot({t: 0.08 for t in X86} | {t: 0.04 for t in ARM} | {t: 0.16 for t in XL2})
    ranked = by_key(specs_of(three_pools(priority=5)), prices)
    assert ranked["executors-arm64"].priority == 5
    assert ranked["executors-arm64"].basis.startswith("set in config (extraExecutorGroups.arm64.priority); Spot $0.0100")


def test_the_newest_committed_snapshot_prices_the_dev_executors() -> None:
    """The program reads the newest cost/prices snapshot; the dev executors' priced types give the basis."""
    snapshot_now = load_snapshot()
    dev = settings_from_values({}, stack="dev", region="us-west-2")
    [executors] = [p for p in group_priorities(specs_of(dev), snapshot_now, "us-west-2") if p.key == "executors"]
    priced = [t for t in dev.executors.instance_types if snapshot_now.instance_hour("us-west-2", t, "SPOT") is not None]
    mean = sum(snapshot_now.instance_hour("us-west-2", t, "SPOT") or 0 for t in priced) / len(priced)
    assert executors.spot_vcpu_hour == pytest.approx(mean / 4)


# --- the ConfigMap text ----------------------------------------------------------------------------

# Real ASG names of EKS managed node groups look like `eks-<node group name>-<uuid>` (terraform-aws-eks
# #3007) or, for older groups, `eks-<uuid>` (aws/containers-roadmap#1304).
ASG_NAMES = {
    "system": "eks-nodegroups-system-7a1c2d3-5ec8a1f2-0b4e-7c3d-2a9f-1e2d3c4b5a69",
    "drivers": "eks-40bbb26b-8679-eb64-d33a-4ba475413529",
    "executors": "eks-nodegroups-executors-4f2e9a1-12c8a1f2-0b4e-7c3d-2a9f-1e2d3c4b5a60",
    "executors-arm64": "eks-nodegroups-executors-arm64-9d8e7f6-3ac8a1f2-0b4e-7c3d-2a9f-1e2d3c4b5a61",
    "executors-xl2": "eks-nodegroups-executors-xl2-1b2c3d4-4bc8a1f2-0b4e-7c3d-2a9f-1e2d3c4b5a62",
}


def parsed(text: str) -> dict[int, list[str]]:
    """The value as the autoscaler reads it: YAML into map[int][]string, each entry a regexp."""
    config = yaml.safe_load(text)
    assert isinstance(config, dict) and all(isinstance(k, int) for k in config)
    assert all(isinstance(v, list) and all(isinstance(r, str) for r in v) for v in config.values())
    return config


def chosen(config: dict[int, list[str]], asg_name: str) -> int | None:
    """The priority the autoscaler gives a group: the highest whose regexp matches its id anywhere
    (`re.FindStringIndex(id) != nil`, priority.go); None when none matches (the group is not used)."""
    matching = [value for value, patterns in config.items() if any(re.search(p, asg_name) for p in patterns)]
    return max(matching) if matching else None


def rendered(prices: PriceSnapshot) -> str:
    return render_priorities(group_priorities(specs_of(three_pools()), prices, "us-west-2"), ASG_NAMES, "stand-in")


def test_each_group_matches_its_own_anchored_asg_name_only() -> None:
    """kubernetes/autoscaler expander/priority/priority.go matches with FindStringIndex against the
    node group's id, on AWS the ASG name (cloudprovider/aws/aws_cloud_provider.go `Id()`). An
    unanchored `executors` pattern would also match the arm64 and xl2 pools' ASGs; the anchored,
    escaped full name matches its own group only, old (`eks-<uuid>`) names included."""
    prices = snapshot({t: 0.08 for t in X86} | {t: 0.04 for t in ARM} | {t: 0.2 for t in XL2})
    config = parsed(rendered(prices))
    ranked = by_key(specs_of(three_pools()), prices)
    for key, asg in ASG_NAMES.items():
        assert chosen(config, asg) == ranked[key].priority, key
        own = [p for patterns in config.values() for p in patterns if p != CATCH_ALL and re.search(p, asg)]
        assert own == [asg_name_pattern(asg)], key
    assert re.search("executors", ASG_NAMES["executors-arm64"])  # why the name is anchored


def test_a_group_the_map_does_not_name_still_scales_through_the_catch_all() -> None:
    """priority.go: a group matching no pattern "won't be used"; the readme's remedy is a lowest `.*`."""
    config = parsed(rendered(snapshot({})))
    assert config[CATCH_ALL_PRIORITY] == [CATCH_ALL] and min(config) == CATCH_ALL_PRIORITY
    assert chosen(config, "eks-made-by-hand-elsewhere") == CATCH_ALL_PRIORITY


def test_priorities_appear_once_each_and_comments_name_the_groups() -> None:
    """A priority is a YAML key: two entries of one value would be a duplicate key (the parser keeps one)."""
    text = rendered(snapshot({t: 0.08 for t in X86 + ARM + XL2}))
    keys = [line for line in text.splitlines() if re.fullmatch(r"\d+:", line)]
    assert len(keys) == len(set(keys)) == len(parsed(text))
    assert "  # executors-arm64: Spot $0.0200 per vCPU-hour, mean of 3 of 3 types" in text


@pytest.mark.parametrize("name", ["eks-a.b-c", "eks-x+y(z)", "eks-$weird^[name]{1}|?*\\"])
def test_an_asg_name_is_matched_literally(name: str) -> None:
    """Go's regexp (RE2) gives `. + * ? ( ) | [ ] { } ^ $ \\` a meaning; each is escaped, so the
    pattern matches the name and nothing that differs from it by one character."""
    pattern = asg_name_pattern(name)
    assert re.fullmatch(pattern, name) and re.search(pattern, name)
    assert not re.search(pattern, name.replace("-", "_", 1)) and not re.search(pattern, f"x{name}")


# --- in the program -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev() -> Plan:
    return stack_plan("dev")


def test_the_stack_declares_the_configmap_the_chart_would_not(dev: Plan) -> None:
    """The ConfigMap is `cluster-autoscaler-priority-expander` with key `priorities` in the autoscaler's
    namespace (priority.go PriorityConfigMapName/ConfigMapKey; the chart passes
    --namespace={{ .Release.Namespace }}, templates/deployment.yaml). The chart renders one only when
    `expanderPriorities` is set (templates/priority-expander-configmap.yaml), so it is left unset and
    the stack's is the only one; with `priority` among the expanders the chart's Role grants get, list
    and watch on it (templates/role.yaml, charts 9.53.0 and 9.59.0)."""
    config_map = dev.named("autoscaler-priorities").inputs
    assert config_map["metadata"] == {"name": CONFIG_MAP_NAME, "namespace": "kube-system"}
    config = parsed(config_map["data"][CONFIG_MAP_KEY])
    names = {key: f"eks-nodegroups-{key}-asg" for key in ("system", "drivers", "executors")}  # the plan's mock ASGs
    assert chosen(config, names["executors"]) > chosen(config, names["drivers"]) == chosen(config, names["system"])
    values = only(dev, "kubernetes:helm.sh/v3:Release").inputs["values"]
    assert values["extraArgs"]["expander"] == "priority,least-waste"
    assert "expanderPriorities" not in values
    assert "autoscaler-priorities" in dev.named("autoscaler-chart").depends_on


def test_the_dev_stacks_graviton_tier_grows_first(dev: Plan) -> None:
    """The committed dev stack has two Spot tiers; the map ranks them by the newest snapshot's mean Spot
    price per vCPU in the stack's region, recomputed here from the raw files: the Graviton tier is the
    cheaper, so its ASG gets the map's highest priority and the x86_64 `executors` pool the next.
    The autoscaler keeps the highest priority among groups that fit (kubernetes/autoscaler
    cluster-autoscaler/expander/priority/priority.go), so Graviton grows first."""
    config = yaml.safe_load((Path(__file__).resolve().parent.parent / "Pulumi.dev.yaml").read_text())["config"]
    spot = json.loads(latest_snapshot_path().read_text())["regions"][config["aws:region"]]["spotHour"]
    tiers = {"executors": config["spark-eks-spot:executors"]["instanceTypes"]}
    tiers |= {f"executors-{name}": group["instanceTypes"] for name, group in config["spark-eks-spot:extraExecutorGroups"].items()}
    per_vcpu = {key: fmean(spot[t] for t in types if t in spot) / instance_size(types[0]).vcpu for key, types in tiers.items()}
    assert sorted(per_vcpu, key=per_vcpu.__getitem__) == ["executors-arm64", "executors"]
    priorities = parsed(dev.named("autoscaler-priorities").inputs["data"][CONFIG_MAP_KEY])
    given = {key: chosen(priorities, f"eks-nodegroups-{key}-asg") for key in (*tiers, "drivers", "system")}
    assert given["executors-arm64"] == max(priorities) > given["executors"] > given["drivers"] == given["system"]


def test_without_the_priority_expander_there_is_no_configmap() -> None:
    plan = plan_with("dev", autoscaler={"expander": "least-waste"})
    assert not [r.name for r in plan.of_type(CONFIG_MAP) if r.inputs["metadata"]["name"] == CONFIG_MAP_NAME]
    assert only(plan, "kubernetes:helm.sh/v3:Release").inputs["values"]["extraArgs"]["expander"] == "least-waste"
