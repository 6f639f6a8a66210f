"""Where jobs keep things: the S3 bucket (apps, event logs, output) and the ECR image repository.

With versioning on, every overwrite and delete leaves a noncurrent version behind (S3A
renames by copy and delete; `--overwrite` replaces output), so a bucket-wide rule expires
noncurrent versions after `bucket.noncurrentVersionDays` and removes the delete markers
left with no version behind them (S3 API reference, LifecycleExpiration and
NoncurrentVersionExpiration; ExpiredObjectDeleteMarker "cannot be specified with Days or
Date", so it gets a rule of its own).

Image tags are immutable: the submitter tags an image with a hash of exactly what goes
into it (jobs/tags.py), so the same tag always names the same content and never has to move.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.settings import BucketSettings

EVENT_LOG_PREFIX = "spark-events/"
DECOMMISSION_PREFIX = "spark-decommission/"
# What a rolling event log names its folder and its status file by, under EVENT_LOG_PREFIX.
ROLLING_EVENT_LOG_PREFIXES = ("eventlog_v2_", "appstatus_")


@dataclass(frozen=True)
class StorageArgs:
    cluster_name: str
    bucket: BucketSettings
    image_retention_count: int


def ecr_lifecycle_policy(keep_last: int) -> str:
    """Expire untagged layers after a week; keep the newest `keep_last` tagged images."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "expire untagged images after 7 days",
                    "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7},
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"keep the newest {keep_last} images",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_last},
                    "action": {"type": "expire"},
                },
            ]
        }
    )


def tls_only_bucket_policy(bucket_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


class Storage(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    event_log_folder: aws.s3.BucketObjectv2
    image_repository_url: pulumi.Output[str]
    image_repository_arn: pulumi.Output[str]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spark-eks-spot:infra:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = args.bucket

        bucket = aws.s3.Bucket(f"{name}-data", force_destroy=settings.force_destroy, opts=child)
        public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-data",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        ownership_controls = aws.s3.BucketOwnershipControls(
            f"{name}-data",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-data",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms"
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        if settings.versioning:
            # Removing this resource later suspends versioning; "Disabled" is only valid at creation.
            aws.s3.BucketVersioning(
                f"{name}-data",
                bucket=bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=child,
            )
        noncurrent_expiry = (
            aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(noncurrent_days=1)
            if settings.versioning
            else None
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-data",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-event-logs",
                    status="Enabled",
                    # Not the zero-byte `spark-events/` marker: Spark refuses to start without the
                    # folder (jobs/launch.py puts it), and the History Server reads it all along.
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(
                        and_=aws.s3.BucketLifecycleConfigurationRuleFilterAndArgs(
                            prefix=EVENT_LOG_PREFIX, object_size_greater_than=0
                        )
                    ),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=settings.event_log_retention_days),
                    # With versioning on, expiry only adds delete markers; old versions go too.
                    noncurrent_version_expiration=noncurrent_expiry,
                ),
                # Spark rolls event logs by default: each app leaves a zero-byte folder marker
                # `eventlog_v2_<app>/` and a zero-byte `appstatus_<app>` beside its event files
                # (RollingEventLogFilesWriter), which the size filter above would keep forever.
                *(
                    aws.s3.BucketLifecycleConfigurationRuleArgs(
                        id=f"expire-{prefix.rstrip('_')}-markers",
                        status="Enabled",
                        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=f"{EVENT_LOG_PREFIX}{prefix}"),
                        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                            days=settings.event_log_retention_days
                        ),
                        noncurrent_version_expiration=noncurrent_expiry,
                    )
                    for prefix in ROLLING_EVENT_LOG_PREFIXES
                ),
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    # Blocks a Spot executor migrated on its way out; useless after the job.
                    id="expire-decommission-fallback",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=DECOMMISSION_PREFIX),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=2),
                    noncurrent_version_expiration=noncurrent_expiry,
                ),
                *(
                    [
                        aws.s3.BucketLifecycleConfigurationRuleArgs(
                            id="expire-noncurrent-versions",
                            status="Enabled",
                            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                                noncurrent_days=settings.noncurrent_version_days
                            ),
                            # S3 allows this flag with no Days or Date in the same expiration.
                            expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                                expired_object_delete_marker=True
                            ),
                        )
                    ]
                    if settings.versioning
                    else []
                ),
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="abort-incomplete-uploads",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=2
                    ),
                ),
            ],
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-data",
            bucket=bucket.id,
            policy=bucket.arn.apply(tls_only_bucket_policy),
            # S3 rejects concurrent changes to one bucket's configuration.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access_block, ownership_controls]),
        )

        repository = aws.ecr.Repository(
            f"{name}-spark-image",
            name=f"{args.cluster_name}/spark",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            image_tag_mutability="IMMUTABLE",
            force_delete=settings.force_destroy,
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")],
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-spark-image",
            repository=repository.name,
            policy=ecr_lifecycle_policy(args.image_retention_count),
            opts=child,
        )

        # Spark's event-log folder exists from the start: the History Server exits at start-up
        # when its log directory is missing (FsHistoryProvider.startPolling), its role cannot
        # create it, and S3A sees a folder only where a key has its prefix. The expiry rule above
        # spares this zero-byte marker.
        self.event_log_folder = aws.s3.BucketObjectv2(
            f"{name}-event-log-folder",
            bucket=bucket.id,
            key=EVENT_LOG_PREFIX,
            content="",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access_block, ownership_controls]),
        )
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.image_repository_url = repository.repository_url
        self.image_repository_arn = repository.arn
        self.register_outputs(
            {
                "bucketName": self.bucket_name,
                "bucketArn": self.bucket_arn,
                "imageRepositoryUrl": self.image_repository_url,
            }
        )
