"""`python -m jobs`: submit a job spec to the stack's EKS cluster (or run it locally), follow it.

    python -m jobs submit SPEC.yaml (--outputs FILE | --stack NAME) [--dry-run [--json]]
                          [--wait [--timeout DURATION] [--retries N [--retry-on-oom FACTOR] [--retry-interval D]]]
                          [--set FIELD=VALUE ...] [--conf KEY=VALUE ...] [--overwrite] [--strict] [--quiet]
    python -m jobs submit SPEC.yaml --local [--dry-run [--json]] [--set ...] [--conf ...] [--overwrite] [--strict]
                          [--quiet]
    python -m jobs status NAME [--json] | describe NAME [--json] | list [--json] | kill NAME
    python -m jobs logs NAME [--follow] [--submission ID | --executor ID]
    python -m jobs clean --older-than AGE [--dry-run] [--json]
    python -m jobs ui NAME [--port N] | history [--port N]        (each: --outputs FILE | --stack NAME)
    python -m jobs image build [--tag T]
    python -m jobs image push [--tag T] (--outputs FILE | --stack NAME)

`--stack NAME` asks the Pulumi engine for the stack's outputs (Automation API: needs the pulumi
CLI); `--outputs FILE` reads them from `pulumi stack output --json --show-secrets > FILE`.
The image tag defaults to a hash of what goes into the image (image/Dockerfile, .dockerignore,
jobs/apps/) for `image build`, `image push` and `submit` alike, so build → push → submit agree
on it and unrelated files (a spec, outputs.json) never change it.

Exit codes: 0 ok; 1 the job or a step failed; 2 bad input or a missing tool (one line:
`jobs: error: …`); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

from cli_common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    STACK_ONLINE_HELP,
    CliError,
    Parser,
    Progress,
    add_quiet,
    exit_codes,
    finish_subcommands,
    is_terminal,
    print_error,
    print_warning,
    progress,
)
from jobs import POD_TEMPLATE_DIR, PROJECT_ROOT
from jobs.command import (
    DRIVER_LOG_DIR_KEY,
    DRIVER_LOG_ENABLED_KEY,
    EVENT_LOG_KEY,
    LOCAL_HADOOP_VARIABLES,
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
from jobs.clean import age_seconds, clean, plan_clean, read_namespace
from jobs.forward import forward_until_stopped
from jobs.kube import (
    CANCELLED,
    COMPLETED,
    FAILED,
    PENDING,
    RUNNING,
    SUBMITTED,
    KubeError,
    active_drivers,
    core_api,
    follow_submission,
    job_statuses,
    kill,
    latest_status,
    list_pods,
    name_of,
    status_json,
    status_line,
)
from jobs.records import Records, SubmissionRecord
from jobs.retry import DEFAULT_INTERVAL_SECONDS, MAX_RETRIES, decide, retry_interval
from jobs.runs import (
    describe,
    failure_line,
    finalize,
    new_record,
    submission_views,
    views_json,
    with_log_reason,
    write_driver_log,
    write_executor_log,
)
from jobs.runs import render_table as render_runs_table
from jobs.ui import HISTORY_UI_PORT, SPARK_UI_PORT, history_endpoint, history_not_ready, pod_ready
from jobs.launch import (
    LaunchError,
    client_classpath,
    ensure_folder,
    file_digest,
    find_spark,
    guard_local_output,
    guard_output,
    private_kubeconfig,
    require_cluster_access,
    require_java,
    require_local_input,
    run_spark_submit,
    s3_client,
    upload_app,
)
from jobs.outputs import BUCKET_KEYS, KUBE_KEYS, SUBMIT_KEYS, OutputsError, StackOutputs, load_outputs
from jobs.sizing import fit_problem, nodes_of, pod_memory_mib
from jobs.spec import JobSpec, SpecError, duration_seconds, load_spec
from jobs.tags import TagError, default_image_tag

TOOL = "jobs"
EXIT_INTERRUPTED = 130
EXIT_CODES = exit_codes("the job or a step failed (a job that failed with --wait, a FAILED status, an AWS or "
                        "Kubernetes step)") + "\n  130  interrupted (Ctrl-C)"


class BadInput(Exception):
    """A flag combination that cannot work."""


def _say(message: str) -> None:
    print(message, flush=True)


def _fail(message: str) -> None:
    print_error(TOOL, message)


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
    print_warning(TOOL, message)


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
    # Spark's own stage progress bar is the local run's progress line (it cannot share the
    # terminal with ours while spark-submit prints the app's output).
    argv = local_argv(str(spark.submit), spec, os.cpu_count() or 1,
                      console_progress=not args.quiet and is_terminal(sys.stderr))
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


@dataclass
class Prepared:
    """What every attempt of one cluster submission shares."""

    outputs: StackOutputs
    spark: Any
    templates: PodTemplates
    app_uri: str
    dependency_uris: dict[str, list[str]]
    uploads: list[Any]


def _prepare_cluster(args: argparse.Namespace, spec: JobSpec, outputs: StackOutputs) -> Prepared:
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
    dependency_uris, dependency_files = dependency_uploads(spec, bucket, digests)
    uploads = ([upload] if upload else []) + dependency_files
    return Prepared(outputs, spark, templates, upload.s3a_uri if upload else spec.app, dependency_uris, uploads)


def _attempt_argv(prepared: Prepared, spec: JobSpec, submission: str, run: str, attempt: int) -> list[str]:
    return cluster_argv(
        str(prepared.spark.submit), spec, prepared.outputs, app_uri=prepared.app_uri,
        pod_templates=prepared.templates, submission_id=submission, dependency_uris=prepared.dependency_uris,
        run_id=run, attempt=attempt,
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _submit_attempt(prepared: Prepared, spec: JobSpec, records: Records, shown: Progress, *, submission: str,
                    run: str, attempt: int, max_attempts: int, output: str | None) -> bool:
    """One spark-submit, recorded in the bucket before and after; whether it was submitted."""
    outputs = prepared.outputs
    record = SubmissionRecord(job=spec.name, submission=submission, run=run, attempt=attempt,
                              max_attempts=max_attempts, state=PENDING, submitted_at=_now(), output=output or "",
                              driver_memory=spec.driver.memory)
    records.put(record)
    if output:
        records.claim_output(output, spec.name, run, attempt, record.submitted_at)
    argv = _attempt_argv(prepared, spec, submission, run, attempt)
    which = f" (attempt {attempt} of {max_attempts})" if max_attempts > 1 else ""
    shown.step(f"spark-submit is starting {spec.name}{which}: a JVM on this machine, then the driver pod")
    with private_kubeconfig(outputs.kubeconfig) as kubeconfig, client_classpath() as classpath:
        code = run_spark_submit(argv, cluster_env(str(prepared.spark.home), str(kubeconfig), str(classpath)),
                                on_output=shown.echo if shown.shown else None, without=LOCAL_HADOOP_VARIABLES)
    if code != 0:
        records.put(record.updated(state=FAILED, reason=f"spark-submit exit code {code}", cause="submit",
                                   ended_at=_now()))
        _fail(f"spark-submit could not submit {spec.name} (exit code {code}); its output is above")
        return False
    records.put(record.updated(state=SUBMITTED))
    which = f"attempt {attempt} of {max_attempts}, " if max_attempts > 1 else ""
    _say(f"submitted {spec.name} ({which}submission {submission}) to namespace {outputs.spark_namespace}")
    return True


def submit_cluster(args: argparse.Namespace, spec: JobSpec, shown: Progress) -> int:
    if args.stack:
        shown.step(f"asking the Pulumi engine for the outputs of stack {args.stack}")
    outputs = _outputs(args, SUBMIT_KEYS)
    spec = _with_image_tag(spec)
    _check_conf_keys(args, spec)
    prepared = _prepare_cluster(args, spec, outputs)
    run = secrets.token_hex(4)  # the first attempt's submission id names the run
    if args.dry_run:
        executor = executor_settings(spec, outputs.node_groups)
        argv = _attempt_argv(prepared, spec, run, run, 1)
        env = cluster_env(str(prepared.spark.home))
        document = dry_run_document(argv, env, prepared.uploads, prepared.templates)
        document["executor"] = {
            "cores": executor.cores, "cpuRequest": executor.cpu_request, "coresLimit": executor.cores_limit,
            "memory": executor.memory, "shape": executor.describe(),
        }
        _print_dry_run(args, argv, env, document)
        return EXIT_OK

    require_java()
    shown.step(f"checking access to cluster {outputs.cluster_name or outputs.api_server_url}")
    require_cluster_access(outputs.kubeconfig)
    for name in LOCAL_HADOOP_VARIABLES:
        if os.environ.get(name):
            _warn(f"{name} is set; spark-submit runs without it (Spark would mount this machine's Hadoop "
                  "configuration into the driver pod; the job's S3A settings are spark.hadoop.* confs)")
    s3 = s3_client(outputs.region)
    records = Records(s3, outputs.bucket_name)
    bucket = outputs.bucket_name
    output = data_paths(spec, bucket).get("output")
    if output:
        shown.step(f"checking that the output {output} is free")
        guard_output(s3, output, args.overwrite)
    tag = spec.image.tag or ""
    shown.step(f"looking for image tag {tag} in ECR")
    if not image_in_registry(outputs.region, outputs.image_repository_url, tag):
        tag_flag = "" if tag == default_image_tag(PROJECT_ROOT, PLATFORM) else f" --tag {tag}"
        raise LaunchError(
            f"image tag {tag} is not in the ECR repository {outputs.image_repository_url}; "
            f"build and push it first: python -m jobs image build{tag_flag} && "
            f"python -m jobs image push{tag_flag} {_where(args)}"
        )
    conf = cluster_conf(spec, outputs, pod_templates=prepared.templates, submission_id=run)
    # Spark 4.3 needs both folders to exist; on S3 a folder exists only through an object.
    for key, enabled in ((EVENT_LOG_KEY, "spark.eventLog.enabled"), (DRIVER_LOG_DIR_KEY, DRIVER_LOG_ENABLED_KEY)):
        folder = conf.get(key, "")
        if conf.get(enabled, "false").lower() == "true" and folder.startswith("s3a://"):
            ensure_folder(s3, folder)
    for item in prepared.uploads:
        shown.step(f"uploading {item.source}")
        fresh = upload_app(s3, item)
        _say(f"{'uploaded' if fresh else 'unchanged, kept'} {item.source} at {item.s3_uri}")

    max_attempts = args.retries + 1
    retry_base = (
        duration_seconds(args.retry_interval, flag="--retry-interval") if args.retry_interval else DEFAULT_INTERVAL_SECONDS
    )
    timeout = duration_seconds(args.timeout) if args.timeout else None
    core = core_api(outputs.kubeconfig) if args.wait else None
    attempt, submission = 1, run
    while True:
        if not _submit_attempt(prepared, spec, records, shown, submission=submission, run=run, attempt=attempt,
                               max_attempts=max_attempts, output=output):
            return EXIT_FAILED
        if not args.wait:
            _say(f"follow it with: python -m jobs status {spec.name} | logs {spec.name} --follow | describe {spec.name}")
            return EXIT_OK
        try:
            final = follow_submission(core, outputs.spark_namespace, spec.name, submission, timeout=timeout,
                                      on_status=shown.step)
        except KeyboardInterrupt:
            _fail(f"stopped following; {spec.name} keeps running (python -m jobs kill {spec.name} stops it)")
            return EXIT_INTERRUPTED
        record = finalize(core, outputs.spark_namespace, records, final, records.get(spec.name, submission))
        if final.state == COMPLETED:
            return EXIT_OK
        if record is not None and record.state == CANCELLED:
            _fail(f"{spec.name} was cancelled ({record.reason}); not retried")
            return EXIT_FAILED
        _fail(failure_line(spec.name, final))
        reason = record.reason if record is not None and record.reason else (final.detail or final.state)
        cause = final.reason.cause if final.reason is not None else ""
        if max_attempts == 1:
            return EXIT_FAILED
        decision = decide(cause=cause, reason=reason, attempt=attempt, max_attempts=max_attempts, spec=spec,
                          oom_factor=args.retry_on_oom, node_groups=outputs.node_groups)
        _say(decision.why)
        if not decision.retry or decision.spec is None:
            return EXIT_FAILED
        pause = retry_interval(retry_base, attempt)
        shown.step(f"waiting {pause:.0f}s before attempt {attempt + 1} of {max_attempts}")
        time.sleep(pause)
        attempt, submission, spec = attempt + 1, secrets.token_hex(4), decision.spec
        if output:
            guard_output(s3, output, args.overwrite, own_run=(spec.name, run), claim=records.claim_of(output))


def cmd_submit(args: argparse.Namespace) -> int:
    if args.json and not args.dry_run:
        raise BadInput("--json shapes the --dry-run output; add --dry-run")
    if args.local and (args.stack or args.outputs):
        raise BadInput("--local runs on this machine without the stack; drop --stack/--outputs")
    if args.local and args.wait:
        raise BadInput("--wait follows a cluster run; a --local run always waits")
    if args.timeout is not None and not args.wait:
        raise BadInput("--timeout bounds --wait; add --wait")
    if args.local and args.retries:
        raise BadInput("--retries resubmits a cluster run; drop it with --local")
    if args.retries and not args.wait:
        raise BadInput("--retries resubmits after a failure that --wait sees; add --wait")
    if args.retry_on_oom is not None and not args.retries:
        raise BadInput("--retry-on-oom raises the memory of a retry; add --retries N")
    if args.retry_interval is not None and not args.retries:
        raise BadInput("--retry-interval spaces retries; add --retries N")
    if args.timeout is not None:
        duration_seconds(args.timeout, flag="--timeout")
    if args.retry_interval is not None:
        duration_seconds(args.retry_interval, flag="--retry-interval")
    spec = load_spec(Path(args.spec), sets=args.set, confs=args.conf, local=args.local)
    if args.local:
        return submit_local(args, spec)
    with progress(args.quiet or args.dry_run) as shown:
        return submit_cluster(args, spec, shown)


def _kube(args: argparse.Namespace) -> tuple[StackOutputs, Any]:
    """The stack outputs and a client, once the kubeconfig's credential plugin can run."""
    outputs = load_outputs(outputs_file=args.outputs, stack=args.stack, required=KUBE_KEYS, optional=BUCKET_KEYS)
    require_cluster_access(outputs.kubeconfig)
    return outputs, core_api(outputs.kubeconfig)


def _records(outputs: StackOutputs) -> Records | None:
    """The bucket's records, when the outputs name the bucket and its region."""
    if not (outputs.bucket_name and outputs.region):
        return None
    return Records(s3_client(outputs.region), outputs.bucket_name)


def _print_json(document: Any) -> None:
    _say(json.dumps(document, indent=2))


def cmd_status(args: argparse.Namespace) -> int:
    outputs, core = _kube(args)
    status = latest_status(core, outputs.spark_namespace, args.name, explain=True)
    if args.json:
        _print_json(status_json(status))
    else:
        _say(status_line(status, datetime.now(timezone.utc)))
    return EXIT_FAILED if status.state == FAILED else EXIT_OK


def cmd_describe(args: argparse.Namespace) -> int:
    outputs, core = _kube(args)
    namespace = outputs.spark_namespace
    records = _records(outputs)
    views = [with_log_reason(core, namespace, view) for view in describe(core, namespace, records, args.name)]
    if not views:
        where = f" or records in {records.uri('spark-events/jobs/' + args.name + '/')}" if records else ""
        raise KubeError(f"job {args.name} has no driver pod in namespace {namespace}{where}; "
                        "`python -m jobs list` shows the jobs")
    if args.json:
        _print_json(views_json(views))
        return EXIT_OK
    runs = {view.run for view in views}
    _say(f"{args.name}: {len(views)} submission{'s' if len(views) != 1 else ''} in {len(runs)} run{'s' if len(runs) != 1 else ''}"
         f"{'' if records else ' (no bucket in the outputs: finished submissions whose pods are gone are not shown)'}")
    _say(render_runs_table(views))
    return EXIT_OK


def cmd_logs(args: argparse.Namespace) -> int:
    outputs, core = _kube(args)
    if args.executor is not None:
        if args.submission is not None:
            raise BadInput("--executor reads the newest submission's executor; drop --submission")
        write_executor_log(core, outputs.spark_namespace, args.name, args.executor, args.follow, sys.stdout)
        return EXIT_OK
    write_driver_log(core, outputs.spark_namespace, _records(outputs), args.name, args.submission, args.follow,
                     sys.stdout)
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    outputs, core = _kube(args)
    records = _records(outputs)
    statuses = job_statuses(core, outputs.spark_namespace)
    views = submission_views(statuses, records.newest() if records is not None else [], records)
    if args.json:
        _print_json(views_json(views))
    elif not views:
        _say(f"no jobs in namespace {outputs.spark_namespace}")
    else:
        _say(render_runs_table(views))
    return EXIT_OK


def cmd_kill(args: argparse.Namespace) -> int:
    outputs, core = _kube(args)
    namespace = outputs.spark_namespace
    active = active_drivers(core, namespace, args.name)
    records = _records(outputs)
    if records is not None:
        for status in active:
            record = records.get(args.name, status.submission) or new_record(status)
            records.put(record.updated(state=CANCELLED, reason=f"killed with `python -m jobs kill` at {_now()}",
                                       ended_at=_now(), driver_pod=status.pod, app_id=status.app_id))
    for pod in kill(core, namespace, args.name, active):
        _say(f"deleted driver pod {pod}; its executors go with it")
    return EXIT_OK


def cmd_clean(args: argparse.Namespace) -> int:
    try:
        older_than = timedelta(seconds=age_seconds(args.older_than))
    except ValueError as error:
        raise BadInput(str(error)) from None
    outputs, core = _kube(args)
    namespace = outputs.spark_namespace
    records = _records(outputs)
    pods, objects = read_namespace(core, namespace, _warn)
    plan = plan_clean(pods, objects, datetime.now(timezone.utc), older_than)
    done = clean(core, namespace, records, plan, args.dry_run)
    if args.json:
        _print_json({"dryRun": args.dry_run, "deleted": [removal.as_json() for removal in done],
                     "keptActive": plan.active, "keptRecent": plan.recent})
        return EXIT_OK
    verb = "would delete" if args.dry_run else "deleted"
    for removal in done:
        if removal.kind == "Pod":
            owned = ", ".join(f"{kind.lower()} {name}" for kind, name in removal.goes_with) or "nothing"
            saved = f"; its log is at {removal.log}" if removal.log else ""
            _say(f"{verb} driver pod {removal.name} ({removal.state}, {removal.why}); with it, through its owner "
                 f"references: {owned}{saved}")
        else:
            _say(f"{verb} {removal.kind.lower()} {removal.name} ({removal.why})")
    if not done:
        _say(f"nothing to clean in namespace {namespace}: no driver finished more than {args.older_than} ago")
    if plan.active:
        _say(f"left alone: {len(plan.active)} pending or running driver{'s' if len(plan.active) != 1 else ''}")
    if records is None and plan.drivers and not args.dry_run:
        _warn("the outputs name no bucket (bucketName, region): the deleted drivers' logs were not saved")
    return EXIT_OK


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535; 0 picks a free one)")
    return int(text)


def _forward(args: argparse.Namespace, core: Any, namespace: str, pod: str, remote_port: int, what: str) -> int:
    def announce(url: str) -> None:
        if args.json:  # one line, so a script can read it while the forward runs
            _say(json.dumps({"url": url, "namespace": namespace, "pod": pod, "port": remote_port}))
        else:
            _say(f"{what} at {url} (port-forward to {pod}:{remote_port}; Ctrl-C stops it)")

    connections = forward_until_stopped(core, namespace, pod, remote_port, args.port, announce=announce, warn=_warn)
    if not args.json:
        _say(f"stopped the port-forward after {connections} connection{'s' if connections != 1 else ''}")
    return EXIT_OK


def cmd_ui(args: argparse.Namespace) -> int:
    outputs, core = _kube(args)
    status = latest_status(core, outputs.spark_namespace, args.name, explain=True)
    if status.state != RUNNING:
        detail = f" ({status.detail})" if status.detail else ""
        raise KubeError(f"the newest driver of {args.name}, {status.pod}, is {status.state}{detail}: the Spark UI lives "
                        "only while the driver runs; `python -m jobs history` shows finished applications")
    return _forward(args, core, outputs.spark_namespace, status.pod, SPARK_UI_PORT, f"Spark UI of {args.name}")


def cmd_history(args: argparse.Namespace) -> int:
    outputs, core = _kube(args)
    server = history_endpoint(outputs.history_server)
    pods = list_pods(core, server["namespace"], server["podSelector"], "find the History Server")
    ready = [pod for pod in pods if pod_ready(pod)]
    if not ready:
        raise KubeError(history_not_ready(core, server, pods))
    return _forward(args, core, server["namespace"], name_of(ready[0]), server["port"], "Spark History Server")


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


def _retries(text: str) -> int:
    if not text.isdigit() or int(text) > MAX_RETRIES:
        raise argparse.ArgumentTypeError(f"--retries {text!r}: use a whole number from 0 to {MAX_RETRIES}")
    return int(text)


def _factor(text: str) -> float:
    try:
        factor = float(text)
    except ValueError:
        factor = 0.0
    if not 1 < factor <= 4:
        raise argparse.ArgumentTypeError(f"--retry-on-oom {text!r}: use a factor above 1 and at most 4, such as 1.5")
    return factor


def build_parser() -> Parser:
    stack = argparse.ArgumentParser(add_help=False)
    where = stack.add_argument_group("stack outputs (one of)")
    where.add_argument("--outputs", type=Path, metavar="FILE",
                       help="read the stack outputs from this JSON file (`pulumi stack output --json --show-secrets > FILE`)")
    where.add_argument("--stack", metavar="NAME", help=f"{STACK_ONLINE_HELP}: its outputs")

    parser = Parser(prog=f"python -m {TOOL}", description="\n\n".join(__doc__.split("\n\n")[:3]), epilog=EXIT_CODES)
    commands = parser.add_subparsers(dest="command", metavar="command", required=True, parser_class=Parser,
                                     title="commands (each has its own --help)")

    submit = commands.add_parser("submit", parents=[stack], help="submit a job spec (or run it with --local)")
    submit.add_argument("spec", metavar="SPEC.yaml")
    submit.add_argument("--local", action="store_true", help="run on this machine with local[*] and local paths")
    submit.add_argument("--dry-run", action="store_true", help="print the command; upload, submit and touch nothing")
    submit.add_argument("--json", action="store_true",
                        help="with --dry-run: print JSON on stdout (argv, env, uploads, pod templates)")
    submit.add_argument("--wait", action="store_true", help="follow the driver and exit with its result")
    submit.add_argument("--timeout", metavar="DURATION", help="with --wait: give up after this long (e.g. 30m, 2h); exit 1")
    submit.add_argument("--strict", action="store_true", help="a Spark conf key Spark does not know is an error, not a warning")
    submit.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a spec field (dotted name)")
    submit.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="add or override one Spark setting")
    submit.add_argument("--overwrite", action="store_true", help="replace what the output already holds")
    submit.add_argument("--retries", type=_retries, default=0, metavar="N",
                        help="with --wait: resubmit up to N times when the driver's node was lost or it was evicted")
    submit.add_argument("--retry-on-oom", type=_factor, metavar="FACTOR",
                        help="with --retries: also retry an OOMKilled driver, its memory times FACTOR (e.g. 1.5)")
    submit.add_argument("--retry-interval", metavar="DURATION",
                        help="with --retries: wait before the first retry, doubling after (default 10s, at most 6m)")
    add_quiet(submit)
    submit.set_defaults(run=cmd_submit)

    status = commands.add_parser("status", parents=[stack], help="the newest driver of a job")
    status.add_argument("name")
    status.add_argument("--json", action="store_true", help="print JSON on stdout")
    status.set_defaults(run=cmd_status)

    describing = commands.add_parser(
        "describe", parents=[stack],
        help="each submission of a job: state, start, end, attempt, failure reason (pods, then the bucket's records)",
    )
    describing.add_argument("name")
    describing.add_argument("--json", action="store_true", help="print JSON on stdout")
    describing.set_defaults(run=cmd_describe)

    logs = commands.add_parser("logs", parents=[stack],
                               help="the newest driver's log: from its pod, or from the bucket once the pod is gone")
    logs.add_argument("name")
    logs.add_argument("--follow", action="store_true", help="stream until the driver ends")
    logs.add_argument("--submission", metavar="ID", help="a given submission's driver (see describe)")
    logs.add_argument("--executor", metavar="ID", help="an executor's log, while its pod exists")
    logs.set_defaults(run=cmd_logs)

    listing = commands.add_parser("list", parents=[stack], help="every job's submissions, with the describe columns")
    listing.add_argument("--json", action="store_true", help="print JSON on stdout")
    listing.set_defaults(run=cmd_list)

    killing = commands.add_parser("kill", parents=[stack], help="delete a job's running driver (and so its executors)")
    killing.add_argument("name")
    killing.set_defaults(run=cmd_kill)

    cleaning = commands.add_parser(
        "clean", parents=[stack],
        help="delete finished driver pods (never running ones), what they own, and orphans Spark left",
    )
    cleaning.add_argument("--older-than", required=True, metavar="AGE", help="finished more than AGE ago (90m, 12h, 7d)")
    cleaning.add_argument("--dry-run", action="store_true", help="say what would be deleted; delete nothing")
    cleaning.add_argument("--json", action="store_true", help="print JSON on stdout: what was (or would be) deleted")
    cleaning.set_defaults(run=cmd_clean)

    ui = commands.add_parser("ui", parents=[stack],
                             help="forward 127.0.0.1:PORT to the running driver's Spark UI (Ctrl-C stops)")
    ui.add_argument("name")
    ui.add_argument("--port", type=_port, default=SPARK_UI_PORT, help=f"local port (default {SPARK_UI_PORT}; 0: any free)")
    ui.add_argument("--json", action="store_true", help="print JSON on stdout: the URL, namespace, pod and port")
    ui.set_defaults(run=cmd_ui)

    history = commands.add_parser("history", parents=[stack],
                                  help="forward 127.0.0.1:PORT to the stack's Spark History Server (Ctrl-C stops)")
    history.add_argument("--port", type=_port, default=HISTORY_UI_PORT,
                         help=f"local port (default {HISTORY_UI_PORT}; 0: any free)")
    history.add_argument("--json", action="store_true", help="print JSON on stdout: the URL, namespace, pod and port")
    history.set_defaults(run=cmd_history)

    image = commands.add_parser("image", help="build the Spark image and push it to the stack's ECR repository")
    image_commands = image.add_subparsers(dest="image_command", metavar="{build,push}", required=True, parser_class=Parser)
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
    finish_subcommands(parser, EXIT_CODES)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except CliError as error:
        _fail(str(error))
        return error.exit_code
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
