"""Render a stack's Spark RBAC and ServiceAccount manifests to YAML files for scanners (checkov).

    python -m policy.manifests OUT_DIR [--stack dev]

The manifests are exactly what `infra.spark_rbac.rbac_manifests` gives the program, for
the namespace and service account the stack configures. The IRSA role ARN is only
known after `up`, so the ServiceAccount carries the offline plan's placeholder ARN
(the annotation is what a scanner looks at, not the account).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from infra.plan import ACCOUNT_ID, stack_config
from infra.settings import PROJECT, ConfigError, settings_from_values
from infra.spark_rbac import rbac_manifests

PLACEHOLDER_ROLE = "spark-s3-irsa-role"


def stack_rbac_manifests(stack: str) -> list[dict]:
    """The RBAC manifests of `stack`, with the S3 role only when the stack uses IRSA."""
    config = stack_config(stack)
    prefix = f"{PROJECT}:"
    settings = settings_from_values(
        {key[len(prefix):]: value for key, value in config.items() if key.startswith(prefix)},
        stack=stack,
        region=config.get("aws:region"),
    )
    role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{PLACEHOLDER_ROLE}" if settings.s3_access_via == "irsa" else None
    return rbac_manifests(settings.spark_namespace, settings.spark_service_account, role_arn)


def write_manifests(manifests: list[dict], directory: Path) -> list[Path]:
    """One file per manifest (kind-name.yaml), so a finding names its object; refuses to overwrite."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for manifest in manifests:
        path = directory / f"{manifest['kind'].lower()}-{manifest['metadata']['name']}.yaml"
        with path.open("x", encoding="utf-8") as handle:
            yaml.safe_dump(manifest, handle, sort_keys=False)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policy.manifests", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="directory to write the YAML files into")
    parser.add_argument("--stack", default="dev", help="stack whose Pulumi.<stack>.yaml names the namespace (default: dev)")
    args = parser.parse_args(argv)
    try:
        paths = write_manifests(stack_rbac_manifests(args.stack), args.out_dir)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except FileNotFoundError as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    except FileExistsError as error:
        print(f"error: {error.filename} already exists; pass an empty directory", file=sys.stderr)
        return 2
    except yaml.YAMLError as error:
        print(f"error: Pulumi.{args.stack}.yaml is not valid YAML ({str(error).splitlines()[0]})", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot write to {args.out_dir} ({error.strerror}); pass a writable directory", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
