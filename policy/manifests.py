"""Render a stack's Spark RBAC and ServiceAccount manifests to YAML files for scanners (checkov).

    python -m policy.manifests OUT_DIR [--stack dev | --stack-file PATH]

The manifests are exactly what `infra.spark_rbac.rbac_manifests` gives the program, for
the namespace and service account the stack configures. The IRSA role ARN is only
known after `up`, so the ServiceAccount carries the offline plan's placeholder ARN
(the annotation is what a scanner looks at, not the account).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from cli_common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, CliError, Parser, add_offline_stack_arguments, exit_codes, print_error
from infra.plan import ACCOUNT_ID, StackFileError, read_stack
from infra.settings import PROJECT, ConfigError, settings_from_values
from infra.spark_rbac import rbac_manifests

PLACEHOLDER_ROLE = "spark-s3-irsa-role"


def stack_rbac_manifests(stack: str | None, stack_file: Path | None = None) -> list[dict]:
    """The RBAC manifests of a stack (`--stack` or `--stack-file`), with the S3 role only when it uses IRSA."""
    stack, config = read_stack(stack, stack_file)
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


TOOL = "policy.manifests"


def build_parser() -> Parser:
    parser = Parser(prog=f"python -m {TOOL}", description=__doc__.split("\n\nThe manifests")[0],
                    epilog=exit_codes("the stack config is invalid"))
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="directory to write the YAML files into")
    add_offline_stack_arguments(parser, default="dev")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        paths = write_manifests(stack_rbac_manifests(args.stack, args.stack_file), args.out_dir)
    except ConfigError as error:
        print_error(TOOL, error)
        return EXIT_FAILED
    except (CliError, StackFileError) as error:
        print_error(TOOL, error)
        return getattr(error, "exit_code", EXIT_BAD_INPUT)
    except FileExistsError as error:
        print_error(TOOL, f"{error.filename} already exists; pass an empty directory")
        return EXIT_BAD_INPUT
    except OSError as error:
        print_error(TOOL, f"cannot write to {args.out_dir} ({error.strerror}); pass a writable directory")
        return EXIT_BAD_INPUT
    for path in paths:
        print(path)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
