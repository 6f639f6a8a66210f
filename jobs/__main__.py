"""`python -m jobs`: submit a job spec to the stack's EKS cluster (or run it locally), follow it.

    python -m jobs submit SPEC.yaml (--outputs FILE | --stack NAME) [--dry-run [--json]]
                          [--wait [--timeout DURATION]] [--set FIELD=VALUE ...] [--conf KEY=VALUE ...]
                          [--overwrite] [--strict]
    python -m jobs submit SPEC.yaml --local [--dry-run [--json]] [--set ...] [--conf ...] [--overwrite] [--strict]
    python -m jobs status NAME | logs NAME [--follow] | list | kill NAME   (--outputs FILE | --stack NAME)
    python -m jobs image build [--tag T]
    python -m jobs image push [--tag T] (--outputs FILE | --stack NAME)

The image tag defaults to a hash of what goes into the image (image/Dockerfile, .dockerignore,
jobs/apps/) for `image build`, `image push` and `submit` alike, so build → push → submit agree
on it and unrelated files (a spec, outputs.json) never change it.

Exit codes: 0 ok; 1 the job or a step failed; 2 bad input or a missing tool (one line).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import NoReturn, Sequence

from jobs import POD_TEMPLATE_DIR, PROJECT_ROOT
from jobs.command import (
    EVENT_LOG_KEY,
    PodTemplates,
    app_upload,
    cluster_argv,
    cluster_conf,
    cluster_env,
    data_paths,
    dependency_uploads,
    dry_run_document,
    dry_run_json,
    executor_settings,
    local_argv,
    local_env,
    local_files,
    shell_command,
    signed_later,
)
from jobs.conf_keys import unknown_conf_lines
from jobs.image import (
    LOCAL_REPOSITORY,
    MULTI_PLATFORM_HINT,
    PLATFORM,
    build_argv,
    check_tag,
    docker_login,
    ecr_credentials,
    image_in_registry,
    local_image,
    login_argv,
    push_argv,
    registry_host,
    remote_image,
    require_docker,
    require_multiarch_builder,
    run_docker,
)
from jobs.kube import KubeError, core_api, follow_submission, job_statuses, kill, latest_status
from jobs.kube import render_table, status_line, write_logs
from jobs.launch import (
    LaunchError,
    ensure_folder,
    file_digest,
    find_spark,
    guard_local_output,
    guard_output,
    presigned_url,
    private_kubeconfig,
    require_cluster_access,
    require_java,
    require_local_input,
    run_spark_submit,
    s3_client,
    upload_app,
)
from jobs.outputs import KUBE_KEYS, SUBMIT_KEYS, OutputsError, StackOutputs, load_outputs
from jobs.sizing import fit_problem, nodes_of, pod_memory_mib
from jobs.spec import JobSpec, SpecError, duration_seconds, load_spec
from jobs.tags import TagError, default_image_tag

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line instead of argparse's usage block.
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see --help)\n")


class BadInput(Exception):
    """A flag combination that cannot work."""


def _say(message: str) -> None:
    print(message, flush=True)


def _fail(message: str) -> None:
    print(f"jobs: {message}", file=sys.stderr, flush=True)


def _outputs(args: argparse.Namespace, required: Sequence[str]) -> StackOutputs:
    return load_outputs(outputs_file=args.outputs, stack=args.stack, required=required)


def _pod_templates() -> PodTemplates:
    templates = PodTemplates(POD_TEMPLATE_DIR / "driver.yaml", POD_TEMPLATE_DIR / "executor.yaml")
    for path in (templates.driver, templates.executor):
        if not path.is_file():
            raise LaunchError(f"pod template {path.name} is missing from {POD_TEMPLATE_DIR.name}/; restore it from git")
    return templates


def _with_image_tag(spec: JobSpec) -> JobSpec:
    return spec if spec.image.tag else spec.with_image_tag(default_image_tag(PROJECT_ROOT, PLATFORM))


def _warn(message: str) -> None:
    print(f"jobs: warning: {message}", file=sys.stderr, flush=True)


def _check_conf_keys(args: argparse.Namespace, spec: JobSpec) -> None:
    """Spark ignores a conf key it does not know: warn (or, with --strict, refuse) naming the closest."""
    lines = unknown_conf_lines(spec.conf)
    if lines and args.strict:
        raise SpecError([f"spec {args.spec}: {line}" for line in lines])
    for line in lines:
        _warn(f"{line} (--strict makes this an error)")


def _print_dry_run(args: argparse.Namespace, argv: list[str], env: dict[str, str], document: dict) -> None:
    if args.json:
        _say(dry_run_json(document))
    else:
        _say(shell_command(argv, env))
        for upload in document["uploads"]:
            _say(f"# uploads {upload['source']} to {upload['target']} unless that object exists")
        if "executor" in document:
            _say(f"# {document['executor']['shape']}")


def submit_local(args: argparse.Namespace, spec: JobSpec) -> int:
    _check_conf_keys(args, spec)
    spark = find_spark()
    argv = local_argv(str(spark.submit), spec, os.cpu_count() or 1)
    env = local_env(str(spark.home), sys.executable)
    if args.dry_run:
        _print_dry_run(args, argv, env, dry_run_document(argv, env, [], None))
        return EXIT_OK
    require_java()
    require_local_input(spec.app, "app")
    for field, path in _dependencies(spec):
        require_local_input(path, field)
    paths = data_paths(spec, None)
    if "input" in paths:
        require_local_input(paths["input"], "input")
    if "output" in paths:
        guard_local_output(paths["output"], args.overwrite)
    started = time.monotonic()
    code = run_spark_submit(argv, env)
    if code != 0:
        _fail(f"the local run of {spec.name} failed (spark-submit exit code {code}); its output is above")
        return EXIT_FAILED
    where = f"; output: {paths['output']}" if "output" in paths else ""
    _say(f"{spec.name} finished locally in {time.monotonic() - started:.1f}s{where}")
    return EXIT_OK


def _dependencies(spec: JobSpec) -> list[tuple[str, str]]:
    return [(f"{field}[{index}]", path) for field, attribute in (("pyFiles", "py_files"), ("jars", "jars"), ("files", "files"))
            for index, path in enumerate(getattr(spec, attribute))]


def _fit_problems(spec: JobSpec, node_groups: object, executor_memory: str, executor_cpu: str) -> list[str]:
    """Driver and executor pods against the largest node of their groups (nodeGroups output)."""
    problems = []
    for field, memory, cpu in (
        ("driver", spec.driver.memory, str(spec.driver.cores)),
        ("executor", executor_memory, executor_cpu),
    ):
        pod_memory = pod_memory_mib(field, memory, spec.conf, spec.is_python)
        problem = fit_problem(field, cpu, pod_memory, memory, nodes_of(node_groups, field))
        if problem:
            problems.append(problem)
    return problems


def _where(args: argparse.Namespace) -> str:
    return f"--stack {args.stack}" if args.stack else f"--outputs {args.outputs}"


def submit_cluster(args: argparse.Namespace, spec: JobSpec) -> int:
    outputs = _outputs(args, SUBMIT_KEYS)
    spec = _with_image_tag(spec)
    _check_conf_keys(args, spec)
    executor = executor_settings(spec, outputs.node_groups)
    problems = _fit_problems(spec, outputs.node_groups, executor.memory, executor.cpu_request)
    if problems:
        raise SpecError([f"spec {args.spec}: {problem}" for problem in problems])
    spark = find_spark()
    templates = _pod_templates()
    fields = {spec.app: "app", **{path: field for field, path in _dependencies(spec)}}
    digests = {path: file_digest(Path(path), fields[path]) for path in local_files(spec)}
    bucket = outputs.bucket_name
    upload = app_upload(spec, bucket, digests[spec.app]) if spec.app in digests else None
    url_of = signed_later(outputs.region) if args.dry_run else lambda item: presigned_url(outputs.region, item)
    dependency_uris, dependency_files = dependency_uploads(spec, bucket, digests, url_of)
    uploads = ([upload] if upload else []) + dependency_files
    app_uri = upload.s3a_uri if upload else spec.app
    submission = secrets.token_hex(4)
    conf = cluster_conf(spec, outputs, pod_templates=templates, submission_id=submission)
    argv = cluster_argv(
        str(spark.submit), spec, outputs, app_uri=app_uri, pod_templates=templates, submission_id=submission,
        dependency_uris=dependency_uris,
    )
    if args.dry_run:
        env = cluster_env(str(spark.home))
        document = dry_run_document(argv, env, uploads, templates)
        document["executor"] = {
            "cores": executor.cores, "cpuRequest": executor.cpu_request, "coresLimit": executor.cores_limit,
            "memory": executor.memory, "shape": executor.describe(),
        }
        _print_dry_run(args, argv, env, document)
        return EXIT_OK

    require_java()
    require_cluster_access(outputs.kubeconfig)
    s3 = s3_client(outputs.region)
    output = data_paths(spec, bucket).get("output")
    if output:
        guard_output(s3, output, args.overwrite)
    tag = spec.image.tag or ""
    if not image_in_registry(outputs.region, outputs.image_repository_url, tag):
        tag_flag = "" if tag == default_image_tag(PROJECT_ROOT, PLATFORM) else f" --tag {tag}"
        raise LaunchError(
            f"image tag {tag} is not in the ECR repository {outputs.image_repository_url}; "
            f"build and push it first: python -m jobs image build{tag_flag} && "
            f"python -m jobs image push{tag_flag} {_where(args)}"
        )
    event_log_dir = conf.get(EVENT_LOG_KEY, "")
    if conf.get("spark.eventLog.enabled", "false").lower() == "true" and event_log_dir.startswith("s3a://"):
        ensure_folder(s3, event_log_dir)
    for item in uploads:
        fresh = upload_app(s3, item)
        _say(f"{'uploaded' if fresh else 'unchanged, kept'} {item.source} at {item.s3_uri}")
    with private_kubeconfig(outputs.kubeconfig) as kubeconfig:
        code = run_spark_submit(argv, cluster_env(str(spark.home), str(kubeconfig)))
    if code != 0:
        _fail(f"spark-submit could not submit {spec.name} (exit code {code}); its output is above")
        return EXIT_FAILED
    _say(f"submitted {spec.name} (submission {submission}) to namespace {outputs.spark_namespace}")
    if not args.wait:
        _say(f"follow it with: python -m jobs status {spec.name} | logs {spec.name} --follow")
        return EXIT_OK
    core = core_api(outputs.kubeconfig)
    timeout = duration_seconds(args.timeout) if args.timeout else None
    try:
        final = follow_submission(core, outputs.spark_namespace, spec.name, submission, timeout=timeout)
    except KeyboardInterrupt:
        _fail(f"stopped following; {spec.name} keeps running (python -m jobs kill {spec.name} stops it)")
        return EXIT_INTERRUPTED
    if final.phase != "Succeeded":
        _fail(f"{spec.name} {final.phase.lower()}{f' ({final.detail})' if final.detail else ''}; "
              f"see python -m jobs logs {spec.name}")
        return EXIT_FAILED
    return EXIT_OK


def cmd_submit(args: argparse.Namespace) -> int:
    if args.json and not args.dry_run:
        raise BadInput("--json shapes the --dry-run output; add --dry-run")
    if args.local and (args.stack or args.outputs):
        raise BadInput("--local runs on this machine without the stack; drop --stack/--outputs")
    if args.local and args.wait:
        raise BadInput("--wait follows a cluster run; a --local run always waits")
    if args.timeout is not None and not args.wait:
        raise BadInput("--timeout bounds --wait; add --wait")
    if args.timeout is not None:
        duration_seconds(args.timeout, flag="--timeout")
    spec = load_spec(Path(args.spec), sets=args.set, confs=args.conf, local=args.local)
    return submit_local(args, spec) if args.local else submit_cluster(args, spec)


def _kube(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The stack outputs and a client, once the kubeconfig's credential plugin can run."""
    outputs = _outputs(args, KUBE_KEYS)
    require_cluster_access(outputs.kubeconfig)
    return outputs, core_api(outputs.kubeconfig)


def cmd_status(args: argparse.Namespace) -> int:
    outputs, core = _kube(args)
    status = latest_status(core, outputs.spark_namespace, args.name, explain=True)
    _say(status_line(status, datetime.now(timezone.utc)))
    return EXIT_FAILED if status.phase == "Failed" else EXIT_OK


def cmd_logs(args: argparse.Namespace) -> int:
    outputs, core = _kube(args)
    write_logs(core, outputs.spark_namespace, args.name, args.follow, sys.stdout)
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    outputs, core = _kube(args)
    statuses = job_statuses(core, outputs.spark_namespace)
    if args.json:
        _say(json.dumps([{**vars(s), "created": s.created.isoformat() if s.created else None} for s in statuses], indent=2))
    elif not statuses:
        _say(f"no jobs in namespace {outputs.spark_namespace}")
    else:
        _say(render_table(statuses, datetime.now(timezone.utc)))
    return EXIT_OK


def cmd_kill(args: argparse.Namespace) -> int:
    outputs, core = _kube(args)
    for pod in kill(core, outputs.spark_namespace, args.name):
        _say(f"deleted driver pod {pod}; its executors go with it")
    return EXIT_OK


IMAGE_PUSH_KEYS = ("region", "imageRepositoryUrl")


def _image_tag_of(args: argparse.Namespace) -> str:
    return check_tag(args.tag) if args.tag is not None else default_image_tag(PROJECT_ROOT, PLATFORM)


def _docker_step(step: str, argv: list[str], hint: str = "") -> None:
    _say(f"$ {shlex.join(argv)}")
    run_docker(step, argv, hint=hint)


def cmd_image_build(args: argparse.Namespace) -> int:
    require_docker()
    tag = _image_tag_of(args)
    require_multiarch_builder()
    _docker_step(f"docker buildx build of {local_image(tag)} for {PLATFORM}", build_argv(PROJECT_ROOT, tag),
                 hint=MULTI_PLATFORM_HINT)
    tag_flag = f" --tag {tag}" if args.tag is not None else ""
    _say(f"built {local_image(tag)} for {PLATFORM} (kept in buildx's build cache); push it with: "
         f"python -m jobs image push{tag_flag} --outputs FILE | --stack NAME")
    return EXIT_OK


def cmd_image_push(args: argparse.Namespace) -> int:
    require_docker()
    tag = _image_tag_of(args)
    outputs = _outputs(args, IMAGE_PUSH_KEYS)
    repository = outputs.image_repository_url
    registry = registry_host(repository)
    # The token first: missing AWS credentials stop the push before docker changes anything.
    credentials = ecr_credentials(outputs.region)
    submit_hint = f" --set image.tag={tag}" if args.tag is not None else ""
    if image_in_registry(outputs.region, repository, tag):
        # A tag names its inputs, and ECR tags may be immutable: the image is there already.
        _say(f"{remote_image(repository, tag)} is already in ECR; nothing to push. Run a job on it with: "
             f"python -m jobs submit SPEC.yaml{submit_hint} (same --outputs/--stack)")
        return EXIT_OK
    require_multiarch_builder()
    _say(f"$ {shlex.join(login_argv(registry, credentials.username))}   # the ECR password on stdin")
    docker_login(registry, credentials)
    # The build of `image build`, from buildx's cache, pushed as one manifest list of both platforms.
    _docker_step(f"docker buildx build --push of {remote_image(repository, tag)} for {PLATFORM}",
                 push_argv(PROJECT_ROOT, repository, tag), hint=MULTI_PLATFORM_HINT)
    _say(f"pushed {remote_image(repository, tag)}; run a job on it with: "
         f"python -m jobs submit SPEC.yaml{submit_hint} (same --outputs/--stack)")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    stack = _Parser(add_help=False)
    where = stack.add_argument_group("stack outputs (one of)")
    where.add_argument("--outputs", type=Path, metavar="FILE", help="JSON from `pulumi stack output --json --show-secrets`")
    where.add_argument("--stack", metavar="NAME", help="read the outputs through the Pulumi Automation API")

    parser = _Parser(prog="python -m jobs", description="Submit and follow Spark jobs on the spark-eks-spot cluster.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    submit = commands.add_parser("submit", parents=[stack], help="submit a job spec (or run it with --local)")
    submit.add_argument("spec", metavar="SPEC.yaml")
    submit.add_argument("--local", action="store_true", help="run on this machine with local[*] and local paths")
    submit.add_argument("--dry-run", action="store_true", help="print the command; upload, submit and touch nothing")
    submit.add_argument("--json", action="store_true", help="with --dry-run: print argv, env, uploads, pod templates as JSON")
    submit.add_argument("--wait", action="store_true", help="follow the driver and exit with its result")
    submit.add_argument("--timeout", metavar="DURATION", help="with --wait: give up after this long (e.g. 30m, 2h); exit 1")
    submit.add_argument("--strict", action="store_true", help="a Spark conf key Spark does not know is an error, not a warning")
    submit.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a spec field (dotted name)")
    submit.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="add or override one Spark setting")
    submit.add_argument("--overwrite", action="store_true", help="replace what the output already holds")
    submit.set_defaults(run=cmd_submit)

    status = commands.add_parser("status", parents=[stack], help="the newest driver of a job")
    status.add_argument("name")
    status.set_defaults(run=cmd_status)

    logs = commands.add_parser("logs", parents=[stack], help="the newest driver's log")
    logs.add_argument("name")
    logs.add_argument("--follow", action="store_true", help="stream until the driver ends")
    logs.set_defaults(run=cmd_logs)

    listing = commands.add_parser("list", parents=[stack], help="every job's drivers in the Spark namespace")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=cmd_list)

    killing = commands.add_parser("kill", parents=[stack], help="delete a job's running driver (and so its executors)")
    killing.add_argument("name")
    killing.set_defaults(run=cmd_kill)

    image = commands.add_parser("image", help="build the Spark image and push it to the stack's ECR repository")
    image_commands = image.add_subparsers(
        dest="image_command", metavar="{build,push}", required=True, parser_class=_Parser
    )
    tag_help = "image tag (default: img- and a hash of image/Dockerfile, .dockerignore and jobs/apps/)"
    build = image_commands.add_parser(
        "build", help=f"docker buildx build image/Dockerfile as {LOCAL_REPOSITORY}:TAG for {PLATFORM}"
    )
    build.add_argument("--tag", metavar="T", help=tag_help)
    build.set_defaults(run=cmd_image_build)
    push = image_commands.add_parser(
        "push", parents=[stack], help="log in to ECR, push imageRepositoryUrl:TAG for both platforms (buildx --push)"
    )
    push.add_argument("--tag", metavar="T", help=tag_help)
    push.set_defaults(run=cmd_image_push)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SpecError as error:
        for problem in error.problems:
            _fail(problem)
        return EXIT_BAD_INPUT
    except (OutputsError, TagError, BadInput) as error:
        _fail(str(error))
        return EXIT_BAD_INPUT
    except (LaunchError, KubeError) as error:
        _fail(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        _fail("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
