"""Issue 11, items 1-4: what would make the first `pulumi up` fail is refused or ordered before it runs.

Each test names the rule of the real system it guards and where that rule is written.
"""

from __future__ import annotations

from datetime import date

import pulumi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.asg_tags import MAX_TAG_KEY_LENGTH, label_tag_key, tag_name_suffix
from infra.settings import EKS_LABEL_MAX
from infra.nodegroups import autoscaler_asg_tags, node_group_specs
from infra.plan import Plan, PlanMocks, main, run_plan
from infra.settings import ConfigError, Settings, check_admin_roles, example_cidr_notice, settings_from_values
from tests.infra_plans import only, plan_with, stack_plan, with_overrides

ADDON = "aws:eks/addon:Addon"
ADDON_VERSION_LOOKUP = "aws:eks/getAddonVersion:getAddonVersion"
EXISTING_VPC = {"existingVpcId": "vpc-0123456789abcdef0", "privateSubnetIds": ["subnet-0aaaaaaa1", "subnet-0aaaaaaa2"]}
ASSUMED_DEPLOYER = "arn:aws:sts::123456789012:assumed-role/platform-deployer/ci-session-42"


def _settings(**values: object) -> Settings:
    return settings_from_values(values, stack="dev", region="us-west-2")


def _refusal(**values: object) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        _settings(**values)
    assert "\n" not in str(caught.value)
    return caught.value


@pytest.fixture(scope="module")
def dev() -> Plan:
    return stack_plan("dev")


# --- 1. add-ons after the nodes ------------------------------------------------------------------


def test_pulumi_eks_creates_no_add_on_before_the_nodes(dev: Plan) -> None:
    """pulumi-eks creates the CoreDNS add-on inside eks.Cluster when corednsAddonOptions.enabled is
    true, even with skipDefaultNodeGroup, so before any node exists; CoreDNS is a Deployment, the
    add-on stays DEGRADED and the AWS provider's wait for ACTIVE times out after 20 minutes
    (pulumi/pulumi-eks nodejs/eks/cluster/cluster.ts, "We can only enable the coredns addon if we
    have a node group to place it on"; pulumi-eks#1819). Its kube-proxy and vpc-cni add-ons are off
    too, so all three come from infra.addons in one place and order."""
    cluster = only(dev, "eks:index:Cluster").inputs
    assert cluster["skipDefaultNodeGroup"] is True
    assert cluster["corednsAddonOptions"]["enabled"] is False
    assert cluster["kubeProxyAddonOptions"]["enabled"] is False
    assert cluster["useDefaultVpcCni"] is True
    # EKS then installs its self-managed copies, which the nodes use until the add-ons take over.
    assert cluster.get("bootstrapSelfManagedAddons", True) is True


def test_managed_add_ons_wait_for_the_system_group(dev: Plan) -> None:
    """The three add-ons are aws.eks.Addon resources that depend on the system node group (their
    pods' home, never the drivers, which may have no node), adopt EKS's self-managed copies
    (OVERWRITE) and keep the software if deleted (preserve), as pulumi-eks does for its own
    (nodejs/eks/cluster/cluster.ts)."""
    addons = {a.inputs["addonName"]: a for a in dev.of_type(ADDON)}
    assert set(addons) == {"vpc-cni", "kube-proxy", "coredns"}
    for addon in addons.values():
        assert addon.depends_on == ["nodegroups-system"]
        assert addon.inputs["clusterName"] == "spark-dev"
        assert (addon.inputs["resolveConflictsOnCreate"], addon.inputs["resolveConflictsOnUpdate"]) == ("OVERWRITE", "OVERWRITE")
        assert addon.inputs["preserve"] is True
    autoscaler = dev.named("autoscaler")
    assert {"addons-coredns", "addons-kube-proxy", "addons-vpc-cni", "nodegroups-system"} <= set(autoscaler.depends_on)
    assert "nodegroups-drivers" not in autoscaler.depends_on


@pytest.mark.parametrize("version", ["1.34", "1.35"])
def test_each_add_on_is_pinned_to_the_eks_default_of_the_cluster_minor(version: str) -> None:
    """An add-on version must be one EKS offers for the cluster's Kubernetes version
    (DescribeAddonVersions; pulumi-eks cluster.ts asks aws.eks.getAddonVersion with the cluster's
    version). The program asks for the default (mostRecent false) of the configured minor, so a
    version change moves the add-ons and nothing else does."""
    mocks = PlanMocks("us-west-2")
    plan = run_plan(with_overrides("dev", kubernetesVersion=version), stack="dev", mocks=mocks)
    lookups = [args for token, args in mocks.calls if token == ADDON_VERSION_LOOKUP]
    assert sorted(a["addonName"] for a in lookups) == ["coredns", "kube-proxy", "vpc-cni"]
    assert all(a["kubernetesVersion"] == version and a["mostRecent"] is False for a in lookups)
    for addon in plan.of_type(ADDON):
        assert addon.inputs["addonVersion"].endswith(f"default for Kubernetes {version}")


def test_the_plan_shows_the_add_on_order(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m infra.plan --stack dev` says, before any `pulumi up`, that the add-ons come after the system group."""
    assert main(["--stack", "dev"]) == 0
    out = capsys.readouterr().out
    summary = out[out.index("summary:"):]
    for addon in ("vpc-cni", "kube-proxy", "coredns"):
        assert f"add-on {addon} " in summary
    assert summary.count("(after nodegroups-system)") == 3


# --- 2. the API must be reachable from where `pulumi up` runs --------------------------------------


def test_private_only_api_with_a_new_vpc_is_refused() -> None:
    """The same `pulumi up` that creates the VPC installs the autoscaler chart and Spark RBAC through
    the Kubernetes API; a private-only endpoint is reachable only from inside the VPC (EKS user
    guide, latest/ug/clusters/cluster-endpoint.adoc), so nothing outside AWS can reach it."""
    error = _refusal(apiEndpoint={"publicAccess": False, "privateAccessCidrs": ["10.0.0.0/16"]})
    assert error.key == "apiEndpoint.publicAccess"
    assert "network.existingVpcId" in error.problem and "publicAccessCidrs" in error.problem


def test_private_only_api_in_an_existing_reachable_vpc_opens_443_to_the_listed_networks() -> None:
    """In an existing VPC (reachable through VPN, bastion or an in-VPC runner) a private-only API is
    allowed; the listed CIDRs get 443 on the cluster security group."""
    plan = plan_with(
        "dev",
        network=EXISTING_VPC,
        apiEndpoint={"publicAccess": False, "privateAccessCidrs": ["10.20.0.0/16"]},
    )
    cluster = only(plan, "eks:index:Cluster").inputs
    assert (cluster["endpointPublicAccess"], cluster["endpointPrivateAccess"]) == (False, True)
    rule = only(plan, "aws:ec2/securityGroupRule:SecurityGroupRule").inputs
    assert (rule["type"], rule["protocol"], rule["fromPort"], rule["toPort"]) == ("ingress", "tcp", 443, 443)
    assert rule["cidrBlocks"] == ["10.20.0.0/16"]


def test_a_narrowed_public_endpoint_keeps_private_access_for_the_nodes() -> None:
    """EKS user guide, cluster-endpoint.adoc: with public access limited by CIDR and private access
    off, nodes reach the API through the public endpoint from the NAT gateways' addresses, which
    must then be listed; keep private access on instead."""
    error = _refusal(apiEndpoint={"publicAccessCidrs": ["203.0.113.0/24"], "privateAccess": False})
    assert error.key == "apiEndpoint.privateAccess"
    assert _settings(apiEndpoint={"publicAccessCidrs": ["0.0.0.0/0"], "privateAccess": False})


def test_the_prod_example_is_deployable_from_outside_the_vpc() -> None:
    """Pulumi.prod.yaml creates its VPC, so its API must be public (allow-listed) for `pulumi up`."""
    cluster = only(stack_plan("prod"), "eks:index:Cluster").inputs
    assert cluster["endpointPublicAccess"] is True and "0.0.0.0/0" not in cluster["publicAccessCidrs"]


def test_the_plan_warns_while_the_prod_allow_list_is_still_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    """Pulumi.prod.yaml ships 203.0.113.0/24, a range RFC 5737 reserves for documentation: no machine
    running `pulumi up` has such an address, so the plan says to replace it (and dev, open, says nothing)."""
    assert main(["--stack", "prod"], today=date(2026, 12, 1)) == 0
    err = capsys.readouterr().err
    assert err == (
        "infra.plan: warning: apiEndpoint.publicAccessCidrs 203.0.113.0/24 is a documentation range (RFC 5737): replace it "
        "with the networks `pulumi up` and jobs run from, or they cannot reach the API\n"
    )
    assert example_cidr_notice(_settings(apiEndpoint={"publicAccessCidrs": ["198.51.100.7/32"]}).api_endpoint)
    assert example_cidr_notice(_settings(apiEndpoint={"publicAccessCidrs": ["192.0.3.0/24"]}).api_endpoint) is None
    assert main(["--stack", "dev"], today=date(2026, 12, 1)) == 0
    assert capsys.readouterr().err == ""


# --- 3. no admin entry for the identity running `pulumi up` ------------------------------------------


@pytest.mark.parametrize(
    "configured",
    ["arn:aws:iam::123456789012:role/platform-deployer", "arn:aws:iam::123456789012:role/ci/platform-deployer"],
)
def test_an_admin_entry_for_the_deployer_is_refused(configured: str) -> None:
    """pulumi-eks always sets bootstrapClusterCreatorAdminPermissions: true (pulumi/pulumi-eks
    nodejs/eks/cluster/cluster.ts, accessConfig), so EKS gives the creator an access entry; another
    one for the same role fails with 409 ResourceInUseException (pulumi-eks#2373). An assumed-role
    ARN drops the role's path, so the role is matched by account and name."""
    settings = _settings(apiEndpoint={"adminRoleArns": ["arn:aws:iam::123456789012:role/other", configured]})
    with pytest.raises(ConfigError) as caught:
        check_admin_roles(settings, ASSUMED_DEPLOYER)
    assert caught.value.key == "apiEndpoint.adminRoleArns[1]"
    assert "409" in caught.value.problem and "remove it" in caught.value.problem
    check_admin_roles(settings, "arn:aws:sts::210987654321:assumed-role/platform-deployer/s")  # another account
    check_admin_roles(settings, "arn:aws:iam::123456789012:user/alice")  # a user is never a role entry


def test_the_program_stops_before_any_aws_resource_when_the_deployer_is_listed() -> None:
    """The check runs in the program with the real caller identity (sts:GetCallerIdentity through
    the stack's AWS provider), before the first AWS resource is declared."""
    mocks = PlanMocks("us-west-2", caller_arn=ASSUMED_DEPLOYER)
    config = with_overrides("dev", apiEndpoint={"adminRoleArns": ["arn:aws:iam::123456789012:role/platform-deployer"]})
    with pytest.raises(pulumi.RunError, match=r"^config spark-eks-spot:apiEndpoint\.adminRoleArns\[0\]: .*409"):
        run_plan(config, stack="dev", mocks=mocks)
    assert [r.type for r in mocks.plan.resources] == ["pulumi:providers:aws"]


def test_a_listed_admin_may_update_the_cluster_once_it_exists() -> None:
    """pulumi-eks sets bootstrapClusterCreatorAdminPermissions only when it creates the cluster (the
    EKS API's CreateCluster accessConfig; pulumi/pulumi-eks nodejs/eks/cluster/cluster.ts), so the 409
    can only happen then: once a cluster of that name exists in the region (EKS ListClusters, through
    aws.eks.get_clusters), a role listed in adminRoleArns runs `pulumi up` like anyone else."""
    config = with_overrides("dev", apiEndpoint={"adminRoleArns": ["arn:aws:iam::123456789012:role/platform-deployer"]})
    mocks = PlanMocks("us-west-2", caller_arn=ASSUMED_DEPLOYER, existing_clusters=("spark-dev",))
    plan = run_plan(config, stack="dev", mocks=mocks)
    assert plan.of_type("eks:index:Cluster")
    assert not [t for t, _ in mocks.calls if t.endswith("getCallerIdentity")]


def test_the_caller_is_looked_up_only_when_admin_roles_are_listed() -> None:
    """No admin roles, no sts call: the plan and preview need no extra permission for it."""
    mocks = PlanMocks("us-west-2")
    run_plan(with_overrides("dev"), stack="dev", mocks=mocks)
    assert not [t for t, _ in mocks.calls if t.endswith("getCallerIdentity")]


def test_one_role_listed_twice_is_refused() -> None:
    """EKS keeps one access entry per principal; the same role twice (with and without a path) would 409."""
    error = _refusal(apiEndpoint={"adminRoleArns": ["arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/x/a"]})
    assert error.key == "apiEndpoint.adminRoleArns" and "twice" in error.problem


# --- 4. config that validates but breaks `up` -----------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [
        ({"team.a": "x", "team-a": "y"}, "name the same tag resource"),
        ({"eks-amazonaws-com/capacitytype": "x"}, "name the same tag resource"),
        ({"spark-eks-spot/role": "driver"}, "set by the project itself"),
    ],
)
def test_labels_whose_tag_resources_collide_are_refused(labels: dict[str, str], fragment: str) -> None:
    """Each ASG tag is a resource named after its key with punctuation dropped; two keys with one
    name give two resources one URN, and the Pulumi engine refuses duplicate URNs at `up`."""
    error = _refusal(executors={"labels": labels})
    assert error.key == "executors.labels" and fragment in error.problem


@pytest.mark.parametrize("name", ["enabled", "node-template"])
def test_a_cluster_name_that_collides_with_autoscaler_tag_keys_is_refused(name: str) -> None:
    """EKS tags a managed node group's ASG with k8s.io/cluster-autoscaler/enabled and
    k8s.io/cluster-autoscaler/<cluster> (kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md,
    Auto-Discovery Setup); a cluster named `enabled` makes both one key."""
    assert _refusal(clusterName=name).key == "clusterName"


def test_a_label_key_or_value_eks_refuses_is_refused_and_the_tag_key_stays_within_128() -> None:
    """EKS CreateNodegroup takes label keys of 1-63 characters, prefix included, and values of 1-63
    (botocore data/eks/2017-11-01/service-2.json, shapes labelKey and labelValue); an Auto Scaling group
    tag key is at most 128 characters (Amazon EC2 Auto Scaling API Reference, Tag: Key), which the
    longest label key EKS takes cannot pass once it is under the node-template prefix."""
    longest = "a" * 20 + ".example.com/" + "b" * (EKS_LABEL_MAX - 33)
    assert len(longest) == EKS_LABEL_MAX
    assert _settings(executors={"labels": {longest: "x"}})
    assert len(label_tag_key(longest)) <= MAX_TAG_KEY_LENGTH
    error = _refusal(executors={"labels": {longest + "c": "x"}})
    assert error.key == "executors.labels" and f"at most {EKS_LABEL_MAX}" in error.problem
    empty = _refusal(drivers={"labels": {"team": ""}})
    assert empty.key == "drivers.labels" and "empty" in empty.problem


@pytest.mark.parametrize(
    "key", ["node-role.kubernetes.io/worker", "kubernetes.io/team", "k8s.io/spark", "example.k8s.io/x", "x.kubernetes.io/y"]
)
def test_label_keys_the_kubelet_refuses_are_refused(key: str) -> None:
    """The kubelet will not start with --node-labels in the kubernetes.io or k8s.io namespaces unless
    under kubelet.kubernetes.io or node.kubernetes.io or in its allowed set (kubernetes/kubernetes
    cmd/kubelet/app/options/options.go ValidateKubeletFlags); EKS passes node group labels to it, so
    the nodes never join."""
    error = _refusal(executors={"labels": {key: "x"}})
    assert error.key == "executors.labels" and "kubelet refuses" in error.problem


@pytest.mark.parametrize("key", ["node.kubernetes.io/lifecycle", "kubelet.kubernetes.io/x", "example.com/team", "team"])
def test_label_keys_the_kubelet_allows_are_accepted(key: str) -> None:
    assert _settings(executors={"labels": {key: "x"}}).executors.labels == {key: "x"}


def test_a_label_value_kubernetes_refuses_is_refused() -> None:
    """A label value is at most 63 alphanumerics, '-', '_', '.', starting and ending alphanumeric
    (Kubernetes docs, "Labels and Selectors", syntax and character set); EKS rejects the group otherwise."""
    error = _refusal(drivers={"labels": {"team": "data science"}})
    assert error.key == "drivers.labels" and "label value" in error.problem


label_keys = st.one_of(
    st.sampled_from(["a.b", "a-b", "a_b", "A.b", "team/x", "team.x", "x.kubernetes.io/y", "node.kubernetes.io/z"]),
    st.from_regex(r"[a-z0-9]([a-z0-9.-]{0,40}/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?", fullmatch=True),
)


@settings(max_examples=300, deadline=None)
@given(labels=st.dictionaries(label_keys, st.sampled_from(["x", "1", "a.b"]), max_size=5))
def test_any_accepted_labels_give_unique_tag_resources_within_aws_limits(labels: dict[str, str]) -> None:
    """Whatever labels the settings accept, every ASG tag of every group has a key of at most 128
    characters and a logical name of its own; whatever they refuse is one line naming the labels."""
    try:
        settings = _settings(drivers={"labels": labels}, executors={"labels": labels})
    except ConfigError as error:
        assert error.key in ("drivers.labels", "executors.labels") and "\n" not in str(error)
        return
    for spec in node_group_specs(settings.system, settings.drivers, settings.executors):
        tags = autoscaler_asg_tags(spec)
        assert all(len(key) <= MAX_TAG_KEY_LENGTH for key in tags)
        assert len({tag_name_suffix(key) for key in tags}) == len(tags)
