"""IAM: the node role, IRSA roles for service accounts, and the least-privilege policy documents.

Policy documents are pure functions of ARNs and names so tests and the policy pack can
read them as parsed JSON. Pods get AWS access through IRSA (a role per service account)
rather than through the node role, which every pod on the node would share.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import pulumi
import pulumi_aws as aws

NODE_MANAGED_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
)


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def s3_access_policy(bucket_arn: str) -> str:
    """Read, write and list the project's bucket only: what S3A and the submitter do."""
    return _document(
        {
            "Sid": "ListProjectBucket",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
            "Resource": [bucket_arn],
        },
        {
            "Sid": "ReadWriteProjectObjects",
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            "Resource": [f"{bucket_arn}/*"],
        },
    )


def event_log_read_policy(bucket_arn: str, prefix: str) -> str:
    """List and read one prefix of the bucket, nothing else: the Spark History Server's access.

    S3A's getFileStatus of the log folder HEADs the key without its slash and then lists the
    prefix (hadoop-aws StatusProbeEnum.ALL: Head, List). S3 answers a HEAD of a missing key with
    403 instead of 404 unless the caller may list the bucket, and ListBucket here only holds for
    the prefix, so GetObject covers the bare key too. No Put or Delete: the server cannot change
    or remove a log (the bucket's lifecycle rule expires them).
    """
    folder = prefix.strip("/")
    return _document(
        {
            "Sid": "ListEventLogPrefix",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket_arn],
            "Condition": {"StringLike": {"s3:prefix": [folder, f"{folder}/*"]}},
        },
        {
            "Sid": "ReadEventLogs",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"{bucket_arn}/{folder}", f"{bucket_arn}/{folder}/*"],
        },
    )


def autoscaler_policy(cluster_name: str) -> str:
    """The cluster-autoscaler's AWS policy: describe anything, scale only this cluster's groups."""
    return _document(
        {
            "Sid": "DescribeScalingInputs",
            "Effect": "Allow",
            "Action": [
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations",
                "autoscaling:DescribeScalingActivities",
                "autoscaling:DescribeTags",
                "ec2:DescribeImages",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:GetInstanceTypesFromInstanceRequirements",
                "eks:DescribeNodegroup",
            ],
            # Describe calls support no resource-level permissions.
            "Resource": ["*"],
        },
        {
            "Sid": "ScaleOwnGroupsOnly",
            "Effect": "Allow",
            "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
            "Resource": ["*"],
            "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}},
        },
    )


def irsa_trust_policy(
    oidc_provider_arn: str, oidc_provider_url: str, namespace: str, service_accounts: Sequence[str]
) -> str:
    """Only the named service accounts, through the cluster's OIDC provider, may assume the role.

    A list of values under one StringEquals key matches any of them (IAM User Guide, "Creating
    a condition with multiple keys or values").
    """
    issuer = oidc_provider_url.removeprefix("https://")
    subjects = [f"system:serviceaccount:{namespace}:{account}" for account in service_accounts]
    return _document(
        {
            "Effect": "Allow",
            "Principal": {"Federated": oidc_provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    f"{issuer}:sub": subjects[0] if len(subjects) == 1 else subjects,
                    f"{issuer}:aud": "sts.amazonaws.com",
                }
            },
        }
    )


def ec2_trust_policy() -> str:
    return _document(
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    )


class NodeRole(pulumi.ComponentResource):
    """The EC2 role of both managed node groups: join the cluster, run the CNI, pull images."""

    role: aws.iam.Role

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spark-eks-spot:infra:NodeRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        self.role = aws.iam.Role(f"{name}-role", assume_role_policy=ec2_trust_policy(), opts=child)
        for policy in NODE_MANAGED_POLICIES:
            aws.iam.RolePolicyAttachment(
                f"{name}-{policy}",
                role=self.role.name,
                policy_arn=pulumi.Output.concat("arn:", partition, ":iam::aws:policy/", policy),
                opts=child,
            )
        self.register_outputs({"roleArn": self.role.arn})


@dataclass(frozen=True)
class IrsaRoleArgs:
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]
    namespace: str
    service_accounts: tuple[str, ...]


class IrsaRole(pulumi.ComponentResource):
    """An IAM role that only the named Kubernetes service accounts assume (IRSA)."""

    role: aws.iam.Role
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: IrsaRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spark-eks-spot:infra:IrsaRole", name, None, opts)
        trust = pulumi.Output.all(args.oidc_provider_arn, args.oidc_provider_url).apply(
            lambda values: irsa_trust_policy(values[0], values[1], args.namespace, args.service_accounts)
        )
        self.role = aws.iam.Role(f"{name}-role", assume_role_policy=trust, opts=pulumi.ResourceOptions(parent=self))
        self.arn = self.role.arn
        self.register_outputs({"roleArn": self.arn})


@dataclass(frozen=True)
class PolicyAttachmentArgs:
    document: pulumi.Input[str]
    role_name: pulumi.Input[str]
    description: str


class AttachedPolicy(pulumi.ComponentResource):
    """A customer-managed policy and its attachment to one role."""

    policy: aws.iam.Policy

    def __init__(self, name: str, args: PolicyAttachmentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spark-eks-spot:infra:AttachedPolicy", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.policy = aws.iam.Policy(f"{name}-policy", policy=args.document, description=args.description, opts=child)
        aws.iam.RolePolicyAttachment(f"{name}-attachment", role=args.role_name, policy_arn=self.policy.arn, opts=child)
        self.register_outputs({"policyArn": self.policy.arn})


@dataclass(frozen=True)
class SparkS3AccessArgs:
    bucket_arn: pulumi.Input[str]
    via: str  # "irsa" or "nodeRole", from settings.s3AccessVia
    node_role_name: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]
    namespace: str
    # The driver's and the executors' accounts: both read and write the bucket.
    service_accounts: tuple[str, ...]


class SparkS3Access(pulumi.ComponentResource):
    """The bucket policy for Spark, attached to Spark's IRSA role or, if asked, to the node role."""

    role_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: SparkS3AccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spark-eks-spot:infra:SparkS3Access", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.via == "irsa":
            role = IrsaRole(
                f"{name}-irsa",
                IrsaRoleArgs(args.oidc_provider_arn, args.oidc_provider_url, args.namespace, args.service_accounts),
                opts=child,
            )
            self.role_arn = role.arn
            role_name: pulumi.Input[str] = role.role.name
        else:
            # The AWS blog post's way: every pod on every node gets the bucket. Only on request.
            self.role_arn = None
            role_name = args.node_role_name
        AttachedPolicy(
            f"{name}-bucket",
            PolicyAttachmentArgs(
                document=pulumi.Output.from_input(args.bucket_arn).apply(s3_access_policy),
                role_name=role_name,
                description="Spark jobs: read and write the project bucket",
            ),
            opts=child,
        )
        self.register_outputs({"roleArn": self.role_arn or ""})


@dataclass(frozen=True)
class EventLogReaderArgs:
    bucket_arn: pulumi.Input[str]
    prefix: str  # the event-log prefix, e.g. "spark-events/"
    oidc_provider_arn: pulumi.Input[str]
    oidc_provider_url: pulumi.Input[str]
    namespace: str
    service_account: str


class EventLogReader(pulumi.ComponentResource):
    """An IRSA role for one service account that may only list and read the event-log prefix."""

    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: EventLogReaderArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spark-eks-spot:infra:EventLogReader", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = IrsaRole(
            f"{name}-irsa",
            IrsaRoleArgs(args.oidc_provider_arn, args.oidc_provider_url, args.namespace, (args.service_account,)),
            opts=child,
        )
        AttachedPolicy(
            f"{name}-read",
            PolicyAttachmentArgs(
                document=pulumi.Output.from_input(args.bucket_arn).apply(
                    lambda arn: event_log_read_policy(arn, args.prefix)
                ),
                role_name=role.role.name,
                description="Spark History Server: list and read the event logs, nothing else",
            ),
            opts=child,
        )
        self.role_arn = role.arn
        self.register_outputs({"roleArn": self.role_arn})
