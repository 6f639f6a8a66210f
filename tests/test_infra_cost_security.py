"""Issue 11, items 9-13: support calendar and upgrade policy, S3 endpoint, version clean-up, autoscaler pins, ECR.

Each test names the rule of the real system it guards and where that rule is written.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pulumi
import pytest

from cost.calendar import load_calendar
from infra.plan import Plan, PlanMocks, main, run_plan
from infra.settings import (
    AUTOSCALER_RELEASES,
    DEFAULT_KUBERNETES_VERSION,
    SUPPORT_WARNING_DAYS,
    ConfigError,
    check_support_phase,
    Settings,
    settings_from_values,
    standard_support_notice,
)
from jobs.tags import default_image_tag
from infra.plan import ROOT
from tests.infra_plans import only, plan_with, stack_plan, with_overrides

ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
EXISTING_VPC = {"existingVpcId": "vpc-0123456789abcdef0", "privateSubnetIds": ["subnet-0aaaaaaa1", "subnet-0aaaaaaa2"]}
# The day the committed calendar was read: a fixed day, never the wall clock.
CALENDAR_DAY = date.fromisoformat(load_calendar().date)


@pytest.fixture(scope="module")
def dev() -> Plan:
    return stack_plan("dev")


def _settings(**values: object) -> Settings:
    return settings_from_values(values, stack="dev", region="us-west-2")


# --- 9. the Kubernetes support calendar ------------------------------------------------------------


def test_the_cluster_asks_for_standard_support_by_default(dev: Plan) -> None:
    """EKS's upgrade policy defaults to EXTENDED ("The default value is EXTENDED. Use STANDARD to
    disable extended support", EKS API reference, UpgradePolicyRequest), which bills the control
    plane at $0.60 instead of $0.10 per hour once the version leaves standard support (AWS EKS
    pricing; cost/prices/eks-support-*.json notes). The program passes STANDARD through pulumi-eks's
    upgradePolicy, and the version, where the cost estimator reads them."""
    cluster = only(dev, "eks:index:Cluster").inputs
    assert cluster["upgradePolicy"] == {"supportType": "STANDARD"}
    assert cluster["version"] == DEFAULT_KUBERNETES_VERSION
    extended = only(plan_with("dev", upgradePolicy={"supportType": "EXTENDED"}), "eks:index:Cluster").inputs
    assert extended["upgradePolicy"] == {"supportType": "EXTENDED"}
    with pytest.raises(ConfigError, match=r"upgradePolicy\.supportType: Input should be 'STANDARD' or 'EXTENDED'"):
        _settings(upgradePolicy={"supportType": "LONG"})


def test_only_versions_in_standard_support_are_offered() -> None:
    """AWS docs, "Understand the Kubernetes version lifecycle on EKS": 14 months of standard support,
    then extended support at the higher price. Every offered version is in the calendar and in
    standard support on the calendar's own date; 1.33 (standard support ended 2026-07-29) is not."""
    calendar = load_calendar()
    for version in AUTOSCALER_RELEASES:
        support = calendar.get(version)
        assert support is not None, f"{version} missing from the support calendar"
        assert support.phase(CALENDAR_DAY) == "standard", version
    assert "1.33" not in AUTOSCALER_RELEASES
    with pytest.raises(ConfigError, match=r"'1\.33' is not offered.*use one of 1\.34, 1\.35"):
        _settings(kubernetesVersion="1.33")


def test_the_default_version_does_not_warn_on_the_calendars_day() -> None:
    """The default is in standard support for more than the warning window from the calendar's day,
    so a new stack starts without a warning."""
    support = load_calendar().get(DEFAULT_KUBERNETES_VERSION)
    assert support is not None
    assert (support.end_of_standard - CALENDAR_DAY).days > SUPPORT_WARNING_DAYS
    assert standard_support_notice(DEFAULT_KUBERNETES_VERSION, "STANDARD", CALENDAR_DAY) is None


def test_the_warning_window_is_60_days_before_the_end_of_standard_support() -> None:
    """1.35's standard support ends 2027-03-27 (calendar): silent 61 days before, a warning from 60 days."""
    end = load_calendar().get("1.35").end_of_standard  # type: ignore[union-attr]
    assert standard_support_notice("1.35", "STANDARD", end - timedelta(days=61)) is None
    notice = standard_support_notice("1.35", "STANDARD", end - timedelta(days=60))
    assert notice and "leaves EKS standard support on 2027-03-27 (in 60 days)" in notice
    past = standard_support_notice("1.35", "EXTENDED", end)
    assert past and "left EKS standard support" in past and "$0.60 per cluster-hour" in past


def test_plan_warns_on_stderr_with_an_injected_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m infra.plan` judges the calendar on the day it is given (the real day by default):
    1.34 on 2026-12-01 leaves standard support tomorrow. STANDARD means EKS upgrades the cluster
    itself (EKS user guide, view-upgrade-policy: "If your upgrade policy is STANDARD, it will be
    automatically upgraded"), outside Pulumi; the warning says to move to 1.35. JSON stays clean."""
    stack_file = tmp_path / "Pulumi.old.yaml"
    stack_file.write_text('config:\n  aws:region: us-west-2\n  spark-eks-spot:kubernetesVersion: "1.34"\n')
    assert main(["--stack-file", str(stack_file), "--json"], today=date(2026, 12, 1)) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["resources"]
    assert captured.err == (
        "infra.plan: warning: Kubernetes 1.34 leaves EKS standard support on 2026-12-02 (in 1 day); with "
        "upgradePolicy.supportType STANDARD EKS then upgrades the cluster itself, outside Pulumi: "
        'set kubernetesVersion: "1.35"\n'
    )
    assert main(["--stack", "dev"], today=CALENDAR_DAY) == 0
    assert capsys.readouterr().err == ""


def test_the_plan_summary_shows_upgrade_policy_and_node_versions(capsys: pytest.CaptureFixture[str]) -> None:
    """What `pulumi up` will ask EKS for, before it runs: version, upgrade policy, each group's version."""
    assert main(["--stack", "prod"], today=CALENDAR_DAY) == 0
    summary = capsys.readouterr().out.split("summary:")[1].split("outputs:")[0]
    assert "Kubernetes 1.35, upgradePolicy.supportType STANDARD" in summary
    assert "nodegroups-drivers ON_DEMAND 1.35, nodegroups-executors SPOT 1.35" in summary


# --- 10. S3 traffic skips the NAT gateway ----------------------------------------------------------


@pytest.mark.parametrize(("stack", "zones"), [("dev", 2), ("prod", 3)])
def test_a_free_s3_gateway_endpoint_sits_on_every_private_route_table(stack: str, zones: int) -> None:
    """A NAT gateway bills every GB it processes ($0.045/GB, cost/prices snapshot) and ECR serves
    image layers from S3 (EKS user guide, managed-node-groups.adoc lists the S3 gateway endpoint for
    pulling images without NAT); gateway endpoints "come at no additional charge" (AWS Prescriptive
    Guidance, startup security baseline WKLD.12). Only the private route tables get it: public
    subnets hold no nodes."""
    plan = stack_plan(stack)
    [endpoint] = plan.of_type(ENDPOINT)
    assert endpoint.inputs["vpcEndpointType"] == "Gateway"
    assert endpoint.inputs["serviceName"] == "com.amazonaws.us-west-2.s3"
    assert endpoint.inputs["vpcId"] == "network-vpc-id"
    assert endpoint.inputs["routeTableIds"] == [f"network-private-{i}-id" for i in range(zones)]


def test_an_existing_vpc_gets_the_endpoint_on_its_private_subnets_route_tables() -> None:
    """With existingVpcId the endpoint is on by default, on the route table of each private subnet
    (looked up, each table once)."""
    mocks = PlanMocks("us-west-2")
    plan = run_plan(with_overrides("dev", network=EXISTING_VPC), stack="dev", mocks=mocks)
    lookups = [a for t, a in mocks.calls if t == "aws:ec2/getRouteTable:getRouteTable"]
    assert sorted(a["subnetId"] for a in lookups) == EXISTING_VPC["privateSubnetIds"]
    assert all(a["vpcId"] == EXISTING_VPC["existingVpcId"] for a in lookups)
    [endpoint] = plan.of_type(ENDPOINT)
    assert endpoint.inputs["routeTableIds"] == ["rtb-of-subnet-0aaaaaaa1", "rtb-of-subnet-0aaaaaaa2"]
    assert endpoint.inputs["vpcId"] == EXISTING_VPC["existingVpcId"]


def test_an_existing_vpc_may_keep_its_own_endpoint() -> None:
    """A route table takes one gateway endpoint route per service (the S3 prefix list), so a VPC
    with its own S3 endpoint turns ours off; the switch means nothing for a new VPC and is refused there."""
    plan = plan_with("dev", network={**EXISTING_VPC, "s3GatewayEndpoint": False})
    assert not plan.of_type(ENDPOINT)
    with pytest.raises(ConfigError, match=r"network\.s3GatewayEndpoint: only applies to an existing VPC"):
        _settings(network={"s3GatewayEndpoint": False})


# --- 11. versions do not pile up -------------------------------------------------------------------


def test_a_versioned_bucket_expires_noncurrent_versions_and_lone_delete_markers() -> None:
    """With versioning, an overwrite or delete keeps the old version (S3A's rename is a copy and a
    delete; --overwrite replaces output), forever unless a lifecycle rule expires it. The bucket-wide
    rule expires noncurrent versions after noncurrentVersionDays and removes expired object delete
    markers; ExpiredObjectDeleteMarker "cannot be specified with Days or Date in a Lifecycle
    Expiration Policy" (S3 API reference, LifecycleExpiration), so that rule sets neither."""
    rules = {r["id"]: r for r in only(stack_plan("prod"), LIFECYCLE).inputs["rules"]}
    cleanup = rules["expire-noncurrent-versions"]
    assert cleanup["status"] == "Enabled" and cleanup["filter"] == {"prefix": ""}
    assert cleanup["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    assert cleanup["expiration"] == {"expiredObjectDeleteMarker": True}
    for rule in rules.values():
        expiration = rule.get("expiration") or {}
        assert not (expiration.get("expiredObjectDeleteMarker") and ({"days", "date"} & set(expiration)))


def test_an_unversioned_bucket_has_no_version_rule(dev: Plan) -> None:
    """Without versioning there are no noncurrent versions; the setting is refused there."""
    assert "expire-noncurrent-versions" not in {r["id"] for r in only(dev, LIFECYCLE).inputs["rules"]}
    with pytest.raises(ConfigError, match=r"bucket\.noncurrentVersionDays: only applies with bucket\.versioning"):
        _settings(bucket={"noncurrentVersionDays": 7})
    seven = only(plan_with("dev", bucket={"versioning": True, "noncurrentVersionDays": 7}), LIFECYCLE).inputs["rules"]
    assert {r["id"]: r for r in seven}["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 7}


# --- 12. the autoscaler's newest patch per minor ----------------------------------------------------

# Read from the tags of kubernetes/autoscaler (snapshot 55c37cd, 2026-08-22): each chart tag's
# cluster-autoscaler/charts/cluster-autoscaler/Chart.yaml appVersion, and the image patch tags.
CHART_APP_VERSIONS = {
    "9.51.0": "1.33.0", "9.52.0": "1.34.1", "9.52.1": "1.34.1", "9.53.0": "1.34.2", "9.54.0": "1.35.0",
    "9.54.1": "1.35.0", "9.55.0": "1.35.0", "9.55.1": "1.35.0", "9.56.0": "1.35.0", "9.57.0": "1.35.0",
    "9.58.0": "1.35.0", "9.59.0": "1.35.0",
}
IMAGE_TAGS = ["1.33.6", "1.34.0", "1.34.1", "1.34.2", "1.34.3", "1.34.4", "1.34.5", "1.35.0", "1.35.1", "1.35.2", "1.36.1"]


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@pytest.mark.parametrize("minor", sorted(AUTOSCALER_RELEASES))
def test_each_minor_pins_its_newest_chart_and_image_patch(minor: str) -> None:
    """kubernetes/autoscaler cluster-autoscaler/README.md: "we recommend that users always use the
    _latest_ Cluster Autoscaler release that corresponds to the minor version of Kubernetes that their
    cluster is running". So each minor pins the newest image patch of that minor, with the newest
    chart whose appVersion is of that minor, as tagged in the repository."""
    chart, image = AUTOSCALER_RELEASES[minor]
    charts = [c for c, app in CHART_APP_VERSIONS.items() if app.rsplit(".", 1)[0] == minor]
    patches = [t for t in IMAGE_TAGS if t.rsplit(".", 1)[0] == minor]
    assert chart == max(charts, key=_key)
    assert image == f"v{max(patches, key=_key)}"


# --- 13. image tags do not move -----------------------------------------------------------------------


def test_image_tags_are_immutable(dev: Plan, tmp_path: Path) -> None:
    """ECR's IMMUTABLE setting refuses to push a tag that already names an image (pulumi-aws 7.51
    ecr.Repository image_tag_mutability, from the ECR API's ImageTagMutability). The submitter's tag
    is a hash of what goes into the image (jobs/tags.py), so equal inputs give the equal tag and a
    changed input a new one: no tag ever has to move."""
    repository = only(dev, "aws:ecr/repository:Repository").inputs
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in repository
    shutil.copytree(ROOT / "image", tmp_path / "image")
    shutil.copy(ROOT / ".dockerignore", tmp_path / ".dockerignore")
    shutil.copytree(ROOT / "jobs" / "apps", tmp_path / "jobs" / "apps", ignore=shutil.ignore_patterns("__pycache__"))
    first = default_image_tag(tmp_path)
    assert default_image_tag(tmp_path) == first
    (tmp_path / "jobs" / "apps" / "wordcount.py").write_text("# changed\n", encoding="utf-8")
    assert default_image_tag(tmp_path) != first


def test_a_version_eks_will_upgrade_on_its_own_is_refused_on_the_day() -> None:
    """With upgradePolicy.supportType STANDARD, EKS upgrades the control plane itself when standard
    support ends; at the end of extended support it upgrades any cluster (EKS API reference,
    UpgradePolicyRequest supportType: "If the cluster is set to STANDARD, it will be automatically
    upgraded at the end of standard support"; AWS docs "Understand the Kubernetes version lifecycle on
    EKS"). The node groups, add-ons and autoscaler pinned to the old minor would then lag and the next
    `pulumi up` would try to move the control plane back, so the program refuses, naming the fix.
    EXTENDED keeps the version (at the extended price) until extended support ends."""
    end = load_calendar().get("1.34").end_of_standard  # 2026-12-02
    standard = settings_from_values({"kubernetesVersion": "1.34"}, stack="dev", region="us-west-2")
    check_support_phase(standard, end - timedelta(days=1))
    with pytest.raises(ConfigError) as caught:
        check_support_phase(standard, end)
    assert caught.value.key == "kubernetesVersion"
    assert 'set kubernetesVersion: "1.35"' in caught.value.problem and "EXTENDED" in caught.value.problem
    extended = settings_from_values(
        {"kubernetesVersion": "1.34", "upgradePolicy": {"supportType": "EXTENDED"}}, stack="dev", region="us-west-2"
    )
    check_support_phase(extended, end)
    with pytest.raises(ConfigError, match="left EKS extended support"):
        check_support_phase(extended, load_calendar().get("1.34").end_of_extended)
    # The program runs the check on the day it is given (infra.plan's today; `pulumi up`: the real day).
    config = with_overrides("dev", kubernetesVersion="1.34")
    assert run_plan(config, stack="dev", today=end - timedelta(days=1)).of_type("eks:index:Cluster")
    with pytest.raises(pulumi.RunError, match=r"^config spark-eks-spot:kubernetesVersion: Kubernetes 1\.34 left"):
        run_plan(config, stack="dev", today=end)
