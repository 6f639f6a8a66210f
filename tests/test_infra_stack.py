"""The Pulumi program under Pulumi's mocks: the inputs every resource receives, for the dev stack."""

from __future__ import annotations

import json

import pytest

from infra.instance_types import instance_size
from infra.plan import Plan
from infra.settings import EXECUTOR_INSTANCE_TYPES
from tests.infra_plans import only, plan_with, policy_document, stack_plan

NODE_GROUP = "eks:index:ManagedNodeGroup"
ASG_TAG = "aws:autoscaling/tag:Tag"


@pytest.fixture(scope="module")
def dev() -> Plan:
    return stack_plan("dev")


def _group(plan: Plan, key: str) -> dict:
    return plan.named(f"nodegroups-{key}").inputs


def _asg_tags(plan: Plan, key: str) -> dict[str, str]:
    """The tags put on one node group's Auto Scaling group, keyed by tag key."""
    tags = [t.inputs for t in plan.of_type(ASG_TAG) if t.inputs["autoscalingGroupName"] == f"eks-nodegroups-{key}-asg"]
    assert tags, f"no tags on the ASG of {key}"
    assert all(t["tag"]["propagateAtLaunch"] is False for t in tags)
    return {t["tag"]["key"]: t["tag"]["value"] for t in tags}


def test_system_group_is_one_small_on_demand_node_for_the_add_ons(dev: Plan) -> None:
    """The add-ons get a small On-Demand group of their own, one node at least, tainted so Spark pods stay off."""
    system = _group(dev, "system")
    assert system["capacityType"] == "ON_DEMAND"
    assert system["instanceTypes"] == ["t3.medium"]
    assert system["amiType"] == "AL2023_x86_64_STANDARD"
    assert system["scalingConfig"] == {"minSize": 1, "desiredSize": 1, "maxSize": 2}
    assert system["ignoreScalingChanges"] is True
    assert system["labels"] == {"spark-eks-spot/role": "system"}
    assert system["taints"] == [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}]


def test_drivers_run_on_demand_from_zero_nodes(dev: Plan) -> None:
    """Drivers get an On-Demand group that idles at zero nodes (dev) and never resets its size."""
    drivers = _group(dev, "drivers")
    assert drivers["capacityType"] == "ON_DEMAND"
    assert drivers["instanceTypes"] == ["m5.xlarge"]
    assert drivers["scalingConfig"] == {"minSize": 0, "desiredSize": 0, "maxSize": 3}
    assert drivers["ignoreScalingChanges"] is True
    assert drivers["labels"] == {"spark-eks-spot/role": "driver"}
    assert "taints" not in drivers


def test_executors_run_on_spot_across_same_size_types(dev: Plan) -> None:
    """Executors: Spot, the fifteen x86_64 types of one size, idle at zero, tainted so only executors land there."""
    executors = _group(dev, "executors")
    assert executors["capacityType"] == "SPOT"
    assert executors["instanceTypes"] == list(EXECUTOR_INSTANCE_TYPES)
    assert executors["amiType"] == "AL2023_x86_64_STANDARD"
    assert len({instance_size(t) for t in executors["instanceTypes"]}) == 1
    assert executors["scalingConfig"] == {"minSize": 0, "desiredSize": 0, "maxSize": 20}
    assert executors["ignoreScalingChanges"] is True
    assert executors["diskSize"] == 100
    assert executors["taints"] == [{"key": "spark-eks-spot/spot", "value": "true", "effect": "NO_SCHEDULE"}]


def test_node_groups_use_only_private_subnets(dev: Plan) -> None:
    """Every group sits in the private subnets and joins the cluster with the shared node role."""
    private_ids = sorted(f"{r.name}-id" for r in dev.of_type("aws:ec2/subnet:Subnet") if "private" in r.name)
    assert len(private_ids) == 2
    for key in ("system", "drivers", "executors"):
        group = _group(dev, key)
        assert sorted(group["subnetIds"]) == private_ids
        assert group["nodeRole"] == "nodes-role-id"
        assert group["cluster"].endswith("eks:index:Cluster::cluster-eks")


def test_every_asg_carries_the_node_template_tags(dev: Plan) -> None:
    """The autoscaler can scale each group from zero: labels, taints and ephemeral storage are known
    from the ASG's tags (kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md)."""
    template = "k8s.io/cluster-autoscaler/node-template"
    assert _asg_tags(dev, "system") == {
        f"{template}/label/eks.amazonaws.com/capacityType": "ON_DEMAND",
        f"{template}/label/spark-eks-spot/role": "system",
        f"{template}/taint/CriticalAddonsOnly": "true:NoSchedule",
        f"{template}/resources/ephemeral-storage": "16486Mi",
    }
    assert _asg_tags(dev, "drivers") == {
        f"{template}/label/eks.amazonaws.com/capacityType": "ON_DEMAND",
        f"{template}/label/spark-eks-spot/role": "driver",
        f"{template}/resources/ephemeral-storage": "44134Mi",
    }
    assert _asg_tags(dev, "executors") == {
        f"{template}/label/eks.amazonaws.com/capacityType": "SPOT",
        f"{template}/label/spark-eks-spot/role": "executor",
        f"{template}/taint/spark-eks-spot/spot": "true:NoSchedule",
        f"{template}/resources/ephemeral-storage": "90214Mi",
    }


def test_custom_labels_reach_the_node_template_tags() -> None:
    """A label a pod may select on is put on the ASG too, or scale-from-zero would never match."""
    plan = plan_with(
        "dev",
        executors={"instanceTypes": ["m5.xlarge", "m5a.xlarge", "m6i.xlarge"], "minSize": 0, "maxSize": 4, "labels": {"workload": "memory-heavy"}},
    )
    assert _group(plan, "executors")["labels"] == {"spark-eks-spot/role": "executor", "workload": "memory-heavy"}
    assert _asg_tags(plan, "executors")["k8s.io/cluster-autoscaler/node-template/label/workload"] == "memory-heavy"


def test_cluster_is_private_node_eks_with_oidc(dev: Plan) -> None:
    """EKS: pinned version, no default node group, OIDC for IRSA, nodes without public IPs."""
    cluster = only(dev, "eks:index:Cluster").inputs
    assert cluster["name"] == "spark-dev"
    assert cluster["version"] == "1.35"
    assert cluster["skipDefaultNodeGroup"] is True
    assert cluster["createOidcProvider"] is True
    assert cluster["nodeAssociatePublicIpAddress"] is False
    assert cluster["authenticationMode"] == "API"
    # EKS maps the managed node groups' role itself in API mode; pulumi-eks rejects instanceRoles there.
    assert "instanceRoles" not in cluster and "accessEntries" not in cluster
    assert cluster["vpcId"] == "network-vpc-id"
    assert sorted(cluster["privateSubnetIds"]) == ["network-private-0-id", "network-private-1-id"]
    assert cluster["endpointPrivateAccess"] is True


def test_kubernetes_resources_use_the_cluster_provider_with_secret_kubeconfig(dev: Plan) -> None:
    """The Kubernetes provider is built from the cluster's kubeconfig, which stays a secret."""
    provider = only(dev, "pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "[secret]"
    assert dev.outputs["kubeconfig"] == "[secret]"


def test_new_vpc_has_private_and_public_subnets_in_two_zones_and_one_nat(dev: Plan) -> None:
    """Dev: a /16 VPC, two AZs, private subnets routed through a single NAT gateway."""
    assert only(dev, "aws:ec2/vpc:Vpc").inputs["cidrBlock"] == "10.0.0.0/16"
    subnets = {r.name: r.inputs for r in dev.of_type("aws:ec2/subnet:Subnet")}
    assert {n: s["cidrBlock"] for n, s in subnets.items()} == {
        "network-private-0": "10.0.0.0/19",
        "network-private-1": "10.0.32.0/19",
        "network-public-0": "10.0.128.0/19",
        "network-public-1": "10.0.160.0/19",
    }
    assert subnets["network-private-0"]["availabilityZone"] != subnets["network-private-1"]["availabilityZone"]
    assert all(s["mapPublicIpOnLaunch"] is False for s in subnets.values())
    assert subnets["network-private-0"]["tags"]["kubernetes.io/role/internal-elb"] == "1"
    assert subnets["network-public-0"]["tags"]["kubernetes.io/role/elb"] == "1"
    nats = dev.of_type("aws:ec2/natGateway:NatGateway")
    assert [n.inputs["subnetId"] for n in nats] == ["network-public-0-id"]
    private_routes = [r.inputs["routes"] for r in dev.of_type("aws:ec2/routeTable:RouteTable") if "private" in r.name]
    assert private_routes == [[{"cidrBlock": "0.0.0.0/0", "natGatewayId": "network-nat-0-id"}]] * 2


def test_nat_per_az_gives_each_private_subnet_its_own_gateway() -> None:
    """natGateways: perAz → one NAT per AZ, each private route table through its own zone's NAT."""
    plan = plan_with("dev", network={"availabilityZones": 3, "natGateways": "perAz"})
    assert sorted(n.inputs["subnetId"] for n in plan.of_type("aws:ec2/natGateway:NatGateway")) == [
        "network-public-0-id", "network-public-1-id", "network-public-2-id"
    ]
    routes = {r.name: r.inputs["routes"][0]["natGatewayId"] for r in plan.of_type("aws:ec2/routeTable:RouteTable") if "private" in r.name}
    assert routes == {f"network-private-{i}": f"network-nat-{i}-id" for i in range(3)}


def test_existing_vpc_creates_no_network_and_uses_given_subnets() -> None:
    """An existing VPC: nothing of the network is created; cluster and groups use the given ids."""
    private = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
    public = ["subnet-0bbbbbbbbbbbbbbb1"]
    plan = plan_with(
        "dev",
        network={"existingVpcId": "vpc-0123456789abcdef0", "privateSubnetIds": private, "publicSubnetIds": public},
    )
    assert [r.type for r in plan.resources if r.type.startswith("aws:ec2/")] == ["aws:ec2/vpcEndpoint:VpcEndpoint"]
    cluster = only(plan, "eks:index:Cluster").inputs
    assert cluster["vpcId"] == "vpc-0123456789abcdef0"
    assert cluster["privateSubnetIds"] == private
    assert cluster["publicSubnetIds"] == public
    assert _group(plan, "executors")["subnetIds"] == private


def test_existing_vpc_without_public_subnets_gives_the_cluster_an_empty_list() -> None:
    """No public subnets configured: an empty list (pulumi-eks spreads it; a null would break it)."""
    plan = plan_with(
        "dev",
        network={"existingVpcId": "vpc-0123456789abcdef0", "privateSubnetIds": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]},
    )
    assert only(plan, "eks:index:Cluster").inputs["publicSubnetIds"] == []


def test_spark_s3_policy_is_least_privilege_on_the_bucket_only(dev: Plan) -> None:
    """The S3 policy: named actions on the project's bucket and its objects, nothing else."""
    bucket = dev.outputs["bucketName"]
    document = policy_document(dev.named("spark-s3-bucket-policy"))
    resources = {r for s in document["Statement"] for r in s["Resource"]}
    actions = {a for s in document["Statement"] for a in s["Action"]}
    assert resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    assert all(s["Effect"] == "Allow" for s in document["Statement"])
    assert not any("*" in a for a in actions)
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"} <= actions


def test_s3_policy_is_attached_to_spark_irsa_role_by_default(dev: Plan) -> None:
    """Default: the policy goes to an IRSA role that only the driver's (spark:spark) and the
    executors' (spark:spark-executor) accounts can assume, annotated on both. IRSA hands a pod
    credentials only when the role's trust policy admits the pod's own service account as the
    token's `sub` (EKS user guide, "Assign IAM roles to Kubernetes service accounts",
    associate-service-account-role: the condition `oidc...:sub` equals
    `system:serviceaccount:NAMESPACE:ACCOUNT`); executors read and write S3 under their own
    account, so without it they get no credentials."""
    attachment = dev.named("spark-s3-bucket-attachment").inputs
    assert attachment["role"] == "spark-s3-irsa-role"
    assert attachment["policyArn"].endswith(":policy/spark-s3-bucket-policy")
    trust = policy_document(dev.named("spark-s3-irsa-role"), "assumeRolePolicy")
    [statement] = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].startswith("arn:aws:iam::123456789012:oidc-provider/")
    conditions = statement["Condition"]["StringEquals"]
    assert conditions.pop(next(k for k in conditions if k.endswith(":aud"))) == "sts.amazonaws.com"
    [subjects] = conditions.values()
    assert subjects == ["system:serviceaccount:spark:spark", "system:serviceaccount:spark:spark-executor"]
    for account_name in ("spark-service-account", "spark-executor-service-account"):
        account = dev.named(account_name).inputs["metadata"]
        assert account["annotations"] == {"eks.amazonaws.com/role-arn": dev.outputs["sparkRoleArn"]}
    assert dev.outputs["sparkExecutorServiceAccount"] == "spark-executor"
    assert dev.outputs["sparkRoleArn"] == "arn:aws:iam::123456789012:role/spark-s3-irsa-role"


def test_s3_access_via_node_role_attaches_to_the_node_role() -> None:
    """s3AccessVia: nodeRole (the seed's way): same policy on the node role, no Spark IRSA role."""
    plan = plan_with("dev", s3AccessVia="nodeRole")
    assert plan.named("spark-s3-bucket-attachment").inputs["role"] == "nodes-role"
    assert not [r for r in plan.resources if r.name.startswith("spark-s3-irsa")]
    assert "annotations" not in plan.named("spark-service-account").inputs["metadata"]
    assert plan.outputs["sparkRoleArn"] == ""
    assert plan.outputs["s3AccessVia"] == "nodeRole"


def test_node_role_has_only_the_eks_worker_managed_policies(dev: Plan) -> None:
    """Nodes: EC2 trust, the three AWS-managed worker policies, no S3 grant in IRSA mode."""
    trust = policy_document(dev.named("nodes-role"), "assumeRolePolicy")
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = sorted(a.inputs["policyArn"] for a in dev.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if a.inputs["role"] == "nodes-role")
    assert attached == [
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    ]


def test_autoscaler_policy_scales_only_this_clusters_groups(dev: Plan) -> None:
    """Describe calls on *, but SetDesiredCapacity/Terminate only on ASGs tagged owned by this cluster."""
    document = policy_document(dev.named("autoscaler-scaling-policy"))
    describe, scale = document["Statement"]
    assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in describe["Action"])
    assert "Condition" not in describe
    assert sorted(scale["Action"]) == ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    assert scale["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/spark-dev": "owned"}}
    trust = policy_document(dev.named("autoscaler-irsa-role"), "assumeRolePolicy")
    assert "system:serviceaccount:kube-system:cluster-autoscaler" in trust["Statement"][0]["Condition"]["StringEquals"].values()
    assert dev.named("autoscaler-scaling-attachment").inputs["role"] == "autoscaler-irsa-role"


def test_autoscaler_chart_is_pinned_and_configured_for_this_cluster(dev: Plan) -> None:
    """The Helm release: pinned chart, image of the cluster's minor, IRSA SA, the system group only,
    the priority expander with least-waste as its tie-breaker."""
    release = only(dev, "kubernetes:helm.sh/v3:Release").inputs
    assert (release["chart"], release["version"], release["namespace"]) == ("cluster-autoscaler", "9.59.0", "kube-system")
    values = release["values"]
    assert values["cloudProvider"] == "aws"
    assert values["awsRegion"] == "us-west-2"
    assert values["autoDiscovery"] == {"clusterName": "spark-dev"}
    assert values["image"]["tag"] == "v1.35.2"
    assert values["rbac"]["serviceAccount"]["name"] == "cluster-autoscaler"
    assert values["rbac"]["serviceAccount"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/autoscaler-irsa-role"}
    assert values["extraArgs"]["balance-similar-node-groups"] is True
    assert values["extraArgs"]["skip-nodes-with-system-pods"] is False
    assert values["extraArgs"]["expander"] == "priority,least-waste"
    assert values["nodeSelector"] == {"spark-eks-spot/role": "system"}
    assert values["tolerations"] == [{"key": "CriticalAddonsOnly", "operator": "Exists"}]


def test_autoscaler_release_follows_the_kubernetes_minor() -> None:
    """Changing kubernetesVersion moves both the chart pin and the autoscaler image."""
    plan = plan_with("dev", kubernetesVersion="1.34")
    release = only(plan, "kubernetes:helm.sh/v3:Release").inputs
    assert (release["version"], release["values"]["image"]["tag"]) == ("9.53.0", "v1.34.5")
    assert only(plan, "eks:index:Cluster").inputs["version"] == "1.34"


def test_spark_rbac_is_namespaced_with_only_the_verbs_spark_needs(dev: Plan) -> None:
    """A Role in the spark namespace (no ClusterRole, no `edit`), bound to the spark ServiceAccount."""
    assert only(dev, "kubernetes:core/v1:Namespace").inputs["metadata"]["name"] == "spark"
    role = only(dev, "kubernetes:rbac.authorization.k8s.io/v1:Role").inputs
    assert role["metadata"]["namespace"] == "spark"
    [rule] = role["rules"]
    assert rule["apiGroups"] == [""]
    # No PVCs: jobs use none (infra/spark_rbac.py; tests/test_jobs_executor_pod.py records the driver's calls).
    assert sorted(rule["resources"]) == ["configmaps", "pods", "services"]
    assert sorted(rule["verbs"]) == sorted(["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"])
    binding = only(dev, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding").inputs
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "spark", "namespace": "spark"}]
    assert not [r for r in dev.resources if "ClusterRole" in r.type]


def test_bucket_is_encrypted_private_tls_only_with_event_log_expiry(dev: Plan) -> None:
    """Bucket: KMS encryption, every public access block on, TLS-only policy, expiring event logs."""
    block = only(dev, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    encryption = only(dev, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs
    assert encryption["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert only(dev, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    [deny] = policy_document(only(dev, "aws:s3/bucketPolicy:BucketPolicy"))["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    rules = {r["id"]: r for r in only(dev, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]}
    assert rules["expire-event-logs"]["filter"] == {"and": {"prefix": "spark-events/", "objectSizeGreaterThan": 0}}
    assert rules["expire-event-logs"]["expiration"] == {"days": 14}
    assert not dev.of_type("aws:s3/bucketVersioning:BucketVersioning")
    assert only(dev, "aws:s3/bucket:Bucket").inputs["forceDestroy"] is False


def test_bucket_versioning_follows_config() -> None:
    """bucket.versioning: true adds an Enabled versioning configuration."""
    plan = plan_with("dev", bucket={"versioning": True})
    versioning = only(plan, "aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}


def test_image_repository_scans_on_push_and_expires_old_images(dev: Plan) -> None:
    """ECR: scan on push, encrypted, untagged images expire and only the newest 30 are kept."""
    repository = only(dev, "aws:ecr/repository:Repository").inputs
    assert repository["name"] == "spark-dev/spark"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    lifecycle = json.loads(only(dev, "aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs["policy"])
    selections = [rule["selection"] for rule in lifecycle["rules"]]
    assert selections[0]["tagStatus"] == "untagged"
    assert selections[1] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30}


def test_every_aws_resource_gets_the_stack_tags_through_the_provider(dev: Plan) -> None:
    """Default tags on the explicit AWS provider tag everything the stack creates."""
    provider = only(dev, "pulumi:providers:aws").inputs
    assert provider["region"] == "us-west-2"
    assert json.loads(provider["defaultTags"]) == {"tags": {"project": "spark-eks-spot", "stack": "dev", "managed-by": "pulumi"}}


def test_outputs_follow_the_contract(dev: Plan) -> None:
    """Every output the jobs submitter and cost estimator read, camelCase, kubeconfig secret."""
    assert set(dev.outputs) >= {
        "apiServerUrl", "kubeconfig", "clusterName", "region", "imageRepositoryUrl", "bucketName",
        "sparkNamespace", "sparkServiceAccount", "sparkRoleArn", "nodeGroups",
    }
    assert (dev.outputs["clusterName"], dev.outputs["region"]) == ("spark-dev", "us-west-2")
    assert (dev.outputs["sparkNamespace"], dev.outputs["sparkServiceAccount"]) == ("spark", "spark")
    assert dev.outputs["imageRepositoryUrl"].endswith("/spark-dev/spark")
    assert dev.outputs["nodeGroups"]["executors"] == {
        "capacityType": "SPOT",
        "instanceTypes": list(EXECUTOR_INSTANCE_TYPES),
        "minSize": 0,
        "maxSize": 20,
        "role": "executor",
        "architecture": "x86_64",
    }
    assert dev.outputs["nodeGroups"]["drivers"]["capacityType"] == "ON_DEMAND"
    assert (dev.outputs["nodeGroups"]["system"]["role"], dev.outputs["nodeGroups"]["system"]["minSize"]) == ("system", 1)


def test_every_resource_is_a_child_of_a_component(dev: Plan) -> None:
    """Only components and providers sit at the stack's top level; everything else has parent=self."""
    top_level = {r.name for r in dev.resources if r.parent_type in ("pulumi:pulumi:Stack", "")}
    components = {r.name for r in dev.resources if r.type.startswith("spark-eks-spot:infra:") and r.parent_type == "pulumi:pulumi:Stack"}
    assert components == {"network", "storage", "nodes", "cluster", "nodegroups", "addons", "spark-s3", "autoscaler", "spark",
                          "history"}
    assert top_level == components | {"aws"}
    children = [r for r in dev.resources if r.name not in top_level]
    assert children and all(r.parent_type.startswith(("spark-eks-spot:infra:", "eks:index:")) for r in children)


def test_extra_executor_pools_are_spot_tagged_and_exported() -> None:
    """extraExecutorGroups adds Spot pools of another size, each with its own ASG tags."""
    plan = plan_with(
        "dev",
        extraExecutorGroups={"xl2": {"instanceTypes": ["m5.2xlarge", "m5a.2xlarge", "m6i.2xlarge"], "minSize": 0, "maxSize": 10}},
    )
    pool = _group(plan, "executors-xl2")
    assert (pool["capacityType"], pool["instanceTypes"]) == ("SPOT", ["m5.2xlarge", "m5a.2xlarge", "m6i.2xlarge"])
    assert pool["taints"] == [{"key": "spark-eks-spot/spot", "value": "true", "effect": "NO_SCHEDULE"}]
    tags = _asg_tags(plan, "executors-xl2")
    assert tags["k8s.io/cluster-autoscaler/node-template/label/eks.amazonaws.com/capacityType"] == "SPOT"
    assert tags["k8s.io/cluster-autoscaler/node-template/resources/ephemeral-storage"] == "90214Mi"
    assert len(_asg_tags(plan, "executors")) == 4
    assert plan.outputs["nodeGroups"]["executors-xl2"]["maxSize"] == 10


def test_control_plane_logs_expire(dev: Plan) -> None:
    """The EKS log group is created by us, with a retention, before the cluster writes to it."""
    group = only(dev, "aws:cloudwatch/logGroup:LogGroup").inputs
    assert (group["name"], group["retentionInDays"]) == ("/aws/eks/spark-dev/cluster", 30)
    assert not dev.of_type("aws:ec2/securityGroupRule:SecurityGroupRule")


def test_admin_roles_get_cluster_admin_access_entries() -> None:
    """apiEndpoint.adminRoleArns: each role gets an access entry with the cluster-admin policy."""
    arn = "arn:aws:iam::123456789012:role/platform-admins"
    plan = plan_with("dev", apiEndpoint={"adminRoleArns": [arn]})
    entries = only(plan, "eks:index:Cluster").inputs["accessEntries"]
    assert entries == {
        "admin-0": {
            "principalArn": arn,
            "accessPolicies": {
                "cluster-admin": {
                    "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                    "accessScope": {"type": "cluster"},
                }
            },
        }
    }
