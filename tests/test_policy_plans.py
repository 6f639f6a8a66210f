"""The whole pack over offline plans of real stack configs, and `python -m policy.check`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.plan import ROOT
from policy.check import main
from tests.policy_fixtures import (
    PREFIX,
    check_plan,
    dev_config,
    existing_vpc_config,
    mandatory,
    named,
    plan_json,
    prod_like_config,
)

MNG = "eks:index:ManagedNodeGroup"


def test_dev_plan_passes_the_whole_pack() -> None:
    """Pulumi.dev.yaml as checked in: no violation at all, advisory included."""
    plan = plan_json(dev_config(), "dev")
    assert len(plan["resources"]) > 50
    assert check_plan(plan, "dev") == []


def test_prod_like_plan_passes_every_mandatory_rule() -> None:
    """Allow-listed endpoint, NAT per AZ, three AZs, a warm Spot floor (fine in prod)."""
    violations = check_plan(plan_json(prod_like_config(), "prod"), "prod")
    assert mandatory(violations) == [] and violations == []


def test_existing_vpc_plan_passes_with_its_configured_private_subnets() -> None:
    plan = plan_json(existing_vpc_config(), "dev")
    config = {"node-groups-private-subnets": {"privateSubnetIds": ["subnet-0aaa1111bbbb2222c", "subnet-0aaa1111bbbb2222d"]}}
    assert mandatory(check_plan(plan, "dev", config)) == []
    named(plan, MNG, "nodegroups-executors")["inputs"]["subnetIds"] = ["subnet-0fff9999eeee8888a"]
    caught = mandatory(check_plan(plan, "dev", config))
    assert [(v.policy, v.resource) for v in caught] == [("node-groups-private-subnets", "nodegroups-executors")]


def test_a_spot_driver_group_in_the_plan_is_caught() -> None:
    """Settings force drivers On-Demand, so the plan is edited by hand as a careless change would."""
    plan = plan_json(dev_config(), "dev")
    named(plan, MNG, "nodegroups-drivers")["inputs"]["capacityType"] = "SPOT"
    caught = {(v.policy, v.resource) for v in mandatory(check_plan(plan, "dev"))}
    assert ("drivers-and-addons-on-demand", "nodegroups-drivers") in caught


def test_a_spot_system_group_and_a_group_of_two_architectures_in_the_plan_are_caught() -> None:
    """Settings keep the system group On-Demand and a group to one architecture; a hand-edited plan
    is still stopped: add-ons on Spot, and an arm64 AMI with an x86_64 type (EKS refuses it)."""
    plan = plan_json(dev_config(), "dev")
    named(plan, MNG, "nodegroups-system")["inputs"]["capacityType"] = "SPOT"
    executors = named(plan, MNG, "nodegroups-executors")["inputs"]
    executors["amiType"] = "AL2023_ARM_64_STANDARD"
    executors["instanceTypes"] = ["m6g.xlarge", "m7g.xlarge", "m5.xlarge"]
    caught = {(v.policy, v.resource) for v in mandatory(check_plan(plan, "dev"))}
    # (A one-type Spot group whose capacity-type tag still says ON_DEMAND is caught twice more.)
    assert {
        ("drivers-and-addons-on-demand", "nodegroups-system"),
        ("node-group-one-architecture", "nodegroups-executors"),
    } <= caught
    assert {resource for _, resource in caught} == {"nodegroups-system", "nodegroups-executors"}


def test_a_single_spot_type_in_a_plan_is_caught() -> None:
    """Settings refuse a Spot group of fewer than three types; a plan edited (or made by another
    program) to hold one is still stopped by the pack."""
    plan = plan_json(dev_config(), "dev")
    named(plan, MNG, "nodegroups-executors")["inputs"]["instanceTypes"] = ["m5.xlarge"]
    caught = mandatory(check_plan(plan, "dev"))
    assert [(v.policy, v.resource) for v in caught] == [("executors-spot-diversified", "nodegroups-executors")]
    assert "at least 3 types" in caught[0].message


def test_a_wildcard_policy_in_the_plan_is_caught() -> None:
    plan = plan_json(dev_config(), "dev")
    policy = named(plan, "aws:iam/policy:Policy", "spark-s3-bucket-policy")["inputs"]
    document = json.loads(policy["policy"])
    document["Statement"].append({"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"})
    policy["policy"] = json.dumps(document)
    caught = mandatory(check_plan(plan, "dev"))
    assert {(v.policy, v.resource) for v in caught} == {("iam-least-privilege", "spark-s3-bucket-policy")}
    assert any("'Everything'" in v.message and "Action '*'" in v.message for v in caught)


def test_a_missing_asg_tag_and_a_public_subnet_in_the_plan_are_caught() -> None:
    plan = plan_json(dev_config(), "dev")
    plan["resources"].remove(named(plan, "aws:autoscaling/tag:Tag", "nodegroups-executors-node-template-taint-spark-eks-spot-spot"))
    named(plan, MNG, "nodegroups-drivers")["inputs"]["subnetIds"] = ["network-public-0-id", "network-private-1-id"]
    caught = {(v.policy, v.resource) for v in mandatory(check_plan(plan, "dev"))}
    assert caught == {
        ("asg-autoscaler-tags", "nodegroups-executors"),
        ("node-groups-private-subnets", "nodegroups-drivers"),
    }


def test_a_prod_stack_with_the_default_open_endpoint_is_caught() -> None:
    """The default publicAccessCidrs is 0.0.0.0/0: fine for dev, refused for prod*."""
    caught = mandatory(check_plan(plan_json(dev_config(), "prod-eu"), "prod-eu"))
    assert [(v.policy, v.resource) for v in caught] == [("prod-api-endpoint-allow-list", "cluster-eks")]


def test_a_warm_spot_floor_in_dev_is_only_advised() -> None:
    config = dict(dev_config())
    config[f"{PREFIX}executors"] = json.dumps(
        {"instanceTypes": ["m5.xlarge", "m5a.xlarge", "m5d.xlarge"], "minSize": 2, "maxSize": 20}
    )
    violations = check_plan(plan_json(config, "dev"), "dev")
    assert [(v.policy, v.enforcement) for v in violations] == [("spot-executors-scale-to-zero", "advisory")]


# --- the CLI -----------------------------------------------------------------------------


def test_cli_checks_a_stack_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("dev: ") and "0 mandatory" in out


def test_cli_prints_each_violation_and_exits_1_on_a_mandatory_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = plan_json(dev_config(), "dev")
    named(plan, MNG, "nodegroups-drivers")["inputs"]["capacityType"] = "SPOT"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert main([str(path), "--stack-name", "dev"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(
        line.startswith("[mandatory] drivers-and-addons-on-demand: nodegroups-drivers (eks:index:ManagedNodeGroup): ")
        and "set capacityType ON_DEMAND" in line
        for line in lines
    )


def test_cli_treats_a_plan_file_of_unnamed_stack_as_prod(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The strict default: without --stack-name, the dev plan's open endpoint fails."""
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_json(dev_config(), "dev")))
    assert main([str(path)]) == 1
    assert "prod-api-endpoint-allow-list" in capsys.readouterr().out
    assert main([str(path), "--stack-name", "dev"]) == 0


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ("[1, 2]", "not a plan object"),
        ('{"outputs": {}}', 'no "resources" list'),
        ('{"resources": [{"type": 5}]}', "plan resource #1"),
    ],
)
def test_cli_answers_a_bad_plan_file_with_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, expected: str
) -> None:
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    assert main([str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and expected in captured.err


def test_cli_answers_an_unknown_stack_with_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "no-such-stack"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Pulumi.no-such-stack.yaml" in err


def test_cli_runs_as_a_module() -> None:
    """`python -m policy.check --stack dev` from the repository root, as CI runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "policy.check", "--stack", "dev"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "0 mandatory and 0 advisory" in done.stdout
