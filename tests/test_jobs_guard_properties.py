"""Property tests for the submitter's inputs: a job spec, --set/--conf, stack outputs.

For ANY input, reading it either gives a valid object or raises the module's own error
(SpecError, OutputsError) whose lines are one short line each; never another exception.
What is accepted must really be usable: the spark-submit argv builds, holds no NUL, and
the command --dry-run prints reads back (by a POSIX shell's rules) as that same argv.
The hostile corpus (test_jobs_guard_hostile.py) pins the inputs found this way.
"""

from __future__ import annotations

import json
import re
import shlex
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.__main__ import main
from jobs.command import PodTemplates, cluster_argv, cluster_env, local_argv, redact_env, shell_command
from jobs.kube import KubeError, core_api
from jobs.outputs import KUBE_KEYS, SUBMIT_KEYS, OutputsError, StackOutputs, api_url_problem, parse_kubeconfig
from jobs.outputs import parse_outputs, read_outputs_file
from jobs.spec import CONF_KEY, DNS_LABEL, JobSpec, SpecError, load_spec, spec_from_mapping
from tests.conftest import kubeconfig_for, stack_outputs

MAX_LINE = 1000
SOURCE = "job.yaml"
BASE: dict[str, Any] = {
    "name": "wordcount",
    "app": "jobs/apps/wordcount.py",
    "input": "s3a://{bucket}/in/",
    "output": "s3a://{bucket}/out/",
    "image": {"tag": "v1"},
}
OUTPUTS = parse_outputs(stack_outputs(), required=SUBMIT_KEYS, source="outputs.json")
TEMPLATES = PodTemplates(Path("/templates/driver.yaml"), Path("/templates/executor.yaml"))
SIZES_MIB = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}
MODERATE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies ----------------------------------------------------------------------------

# Pieces that meet the checks' edges, glued into paths, names and values.
PIECES = ["s3a://", "s3://", "file://", "local://", "{bucket}", "{input}", "{output}", "{", "}", "/", "..", ".",
          "out", "x.py", ".jar", "#", "?", " ", "\n", "\x00", "\u2028", "\u200b", "ü", "$(id)", "`id`", ";", "8g",
          "1t", "300s", "spark.", "-", "A"]
glued = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)
# Nesting past Python's recursion limit, in JSON and YAML flow and block style.
deep = st.builds(lambda count, piece: piece * count, st.integers(200, 5000), st.sampled_from(["[", '{"a":', "- ", "a:\n "]))
texts = st.one_of(st.text(max_size=20), glued)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
junk = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=10,
)
resources = st.fixed_dictionaries(
    {}, optional={"cores": st.one_of(st.integers(-2, 70), junk), "coresLimit": st.one_of(st.integers(-2, 70), junk),
                  "memory": st.one_of(st.sampled_from(["512m", "8g", "16GB", "1t", "2t", "256m"]), texts, junk)},
)
allocation = st.fixed_dictionaries(
    {}, optional={"minExecutors": st.one_of(st.integers(-2, 1002), junk), "initialExecutors": st.one_of(st.integers(-2, 1002), junk),
                  "maxExecutors": st.one_of(st.integers(-2, 1002), junk),
                  "executorAllocationRatio": st.one_of(st.floats(-1, 2), junk),
                  "shuffleTrackingTimeout": st.one_of(st.sampled_from(["300s", "10min", "24h", "25h", "1d"]), texts, junk)},
)
conf = st.dictionaries(st.one_of(st.sampled_from(["spark.sql.shuffle.partitions", "spark.guard.x", "spark.executor.memory",
                                                  "spark.hadoop.fs.s3a.secret.key"]), texts),
                       st.one_of(texts, scalars, junk), max_size=3)
spec_documents = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.sampled_from(["wordcount", "a", "x" * 63, "x" * 64]), texts, junk),
        "app": st.one_of(st.sampled_from(["jobs/apps/wordcount.py", "s3a://b/apps/x.py", "local:///opt/x.jar", "x.jar"]), glued, junk),
        "mainClass": st.one_of(st.sampled_from(["org.example.Main"]), texts, junk),
        "args": st.one_of(st.lists(st.one_of(st.sampled_from(["{input}", "{output}", "{bucket}"]), glued), max_size=3), junk),
        "image": st.one_of(st.fixed_dictionaries({}, optional={"tag": st.one_of(st.sampled_from(["v1", "20240101"]), texts, junk)}), junk),
        "driver": st.one_of(resources, junk),
        "executor": st.one_of(resources, junk),
        "dynamicAllocation": st.one_of(allocation, junk),
        "conf": st.one_of(conf, junk),
        "input": st.one_of(st.sampled_from(["s3a://{bucket}/in/", "s3a://b/x"]), glued, junk),
        "output": st.one_of(st.sampled_from(["s3a://{bucket}/out/", "s3a://b/o/"]), glued, junk),
        "local": st.one_of(st.fixed_dictionaries({}, optional={"input": st.one_of(glued, junk), "output": st.one_of(glued, junk)}), junk),
        "extra": junk,
    },
)
assignments = st.one_of(
    st.text(max_size=30),
    st.tuples(st.sampled_from(["executor.memory", "driver.cores", "conf.spark.x", "name", "image.tag", "args", "local.output",
                               "output", "dynamicAllocation.maxExecutors", "a.b.c", "", "conf."]), texts).map("=".join),
)


# --- what every answer must look like ---------------------------------------------------------


def assert_one_line_each(lines: list[str], prefixes: tuple[str, ...]) -> None:
    assert lines
    for line in lines:
        assert line.splitlines() == [line], repr(line)  # no \n, \r, \x85, \u2028 ... inside
        assert len(line) <= MAX_LINE, line[:200]
        assert line.startswith(prefixes), line


def segments_spelled_out(uri: str) -> bool:
    key = uri.split("://", 1)[1].partition("/")[2]
    parts = key.split("/")
    if parts[-1] == "":
        parts.pop()
    return all(part not in ("", ".", "..") for part in parts)


def assert_usable(spec: JobSpec, local: bool) -> None:
    """What an accepted spec promises: names that match whole, sizes within bounds, paths
    that Hadoop will not rewrite, and an argv that builds and quotes back exactly."""
    assert DNS_LABEL.fullmatch(spec.name)
    for resources in (spec.driver, spec.executor):
        if resources.memory is not None:  # an executor field left out is cut to fit the node
            number, unit = re.fullmatch(r"([0-9]+)([kmgt])", resources.memory).groups()  # type: ignore[union-attr]
            assert 512 <= int(number) * SIZES_MIB[unit] <= 1024 * 1024
        cores = resources.cores if resources.cores is not None else 1
        assert 1 <= cores <= (resources.cores_limit if resources.cores_limit is not None else 64) <= 64
    for key, value in spec.conf.items():
        assert CONF_KEY.fullmatch(key) and "\x00" not in value
    if local:
        argv = local_argv("/spark/bin/spark-submit", spec, 2)
    else:
        for uri in (spec.input, spec.output, spec.app):
            if uri is not None and uri.startswith("s3a://"):
                assert segments_spelled_out(uri) and uri.split("://", 1)[1].partition("/")[0]
        if spec.output is not None:
            assert spec.output.startswith("s3a://") and spec.output.split("://", 1)[1].partition("/")[2].strip("/")
        argv = cluster_argv("/spark/bin/spark-submit", spec.with_image_tag("v1"), OUTPUTS,
                            app_uri="s3a://spark-dev-data/apps/x.py", pod_templates=TEMPLATES, submission_id="abcd1234")
    assert all(isinstance(element, str) and "\x00" not in element for element in argv)
    env = cluster_env("/spark")
    assert shlex.split(shell_command(argv, env)) == [f"{k}={v}" for k, v in redact_env(env).items()] + argv


# --- the job spec ------------------------------------------------------------------------------


@MODERATE
@given(document=spec_documents, local=st.booleans())
def test_any_spec_mapping_is_a_spec_or_one_line_per_problem(document: dict[str, Any], local: bool) -> None:
    try:
        spec = spec_from_mapping(document, source=SOURCE, local=local)
    except SpecError as error:
        assert_one_line_each(error.problems, ("spec job.yaml: ",))
    else:
        assert_usable(spec, local)


@MODERATE
@given(document=junk)
def test_any_value_at_all_is_handled(document: Any) -> None:
    """Not even a mapping at the top, or a mapping of junk: still one line per problem."""
    mapping = document if isinstance(document, dict) else {"name": document}
    with pytest.raises(SpecError) as raised:
        spec_from_mapping(mapping, source=SOURCE)
    assert_one_line_each(raised.value.problems, ("spec job.yaml: ",))


@MODERATE
@given(sets=st.lists(assignments, max_size=3), confs=st.lists(assignments, max_size=3), local=st.booleans())
def test_any_set_and_conf_strings(sets: list[str], confs: list[str], local: bool) -> None:
    document = {**BASE, "local": {"input": "in.tsv", "output": "out/"}}
    try:
        spec = spec_from_mapping(document, source=SOURCE, sets=sets, confs=confs, local=local)
    except SpecError as error:
        assert_one_line_each(error.problems, ("spec job.yaml: ", "--set ", "--conf "))
    else:
        assert_usable(spec, local)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=200), deep, spec_documents.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
                      st.lists(st.sampled_from(["name: a\n", "app: x.py\n", "- ", ": ", "? ", "[", "]", "{", "}", "&a ", "*a ",
                                                "!!binary ", "!!python/name:os.system ", "<<: ", "\t", '"\\0"', "2024-13-01",
                                                "9" * 40, "---\n", "...\n", "%YAML 1.1\n", "#"]), max_size=12).map("".join)),
       local=st.booleans())
def test_any_spec_file_text(tmp_path: Path, text: str, local: bool) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        spec = load_spec(path, local=local)
    except SpecError as error:
        assert_one_line_each(error.problems, (f"spec {path}: ",))
    else:
        assert_usable(spec, local)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=200))
def test_any_spec_file_bytes(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "job.yaml"
    path.write_bytes(content)
    try:
        load_spec(path)
    except SpecError as error:
        assert_one_line_each(error.problems, (f"spec {path}: ",))


# --- stack outputs ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)
urls = st.one_of(st.sampled_from(["https://eks.example.invalid", "http://127.0.0.1:8001", "http://eks.example.invalid",
                                  "https://u:p@eks.example.invalid", "https://", "https://[::1", "http://[::1]:1"]), glued, texts)
# No `exec` or `auth-provider` users: the Kubernetes client would run their command.
users = st.fixed_dictionaries({}, optional={"token": texts, "username": texts, "password": texts, "client-key-data": texts})


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in children:
        found += _paths(child, (*path, key))
    return found


@st.composite
def mutated_kubeconfigs(draw: st.DrawFn) -> Any:
    """A valid kubeconfig with one or two of its nodes replaced (or removed): the shapes a
    hand-edited or truncated export has, which random documents rarely reach."""
    document: Any = kubeconfig_for(draw(urls))
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(_paths(document)))
        replacement = draw(st.one_of(json_values, urls, st.just(None)))
        if not path:
            document = replacement
            continue
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if replacement is None and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = replacement
    return document


kubeconfigs = st.one_of(mutated_kubeconfigs(), st.fixed_dictionaries(
    {},
    optional={
        "clusters": st.one_of(st.lists(st.one_of(st.fixed_dictionaries(
            {"name": st.sampled_from(["test", "other"])},
            optional={"cluster": st.one_of(st.fixed_dictionaries({}, optional={"server": st.one_of(urls, json_values)}), json_values)}),
            json_values), max_size=2), json_values),
        "contexts": st.one_of(st.lists(st.one_of(st.fixed_dictionaries(
            {"name": st.sampled_from(["test", "other"])},
            optional={"context": st.one_of(st.fixed_dictionaries({}, optional={
                "cluster": st.sampled_from(["test", "other", ""]), "user": st.sampled_from(["test", "other"]),
                "namespace": texts}), json_values)}), json_values), max_size=2), json_values),
        "users": st.one_of(st.lists(st.fixed_dictionaries({"name": st.sampled_from(["test", "other"])},
                                                          optional={"user": users}), max_size=2), json_values),
        "current-context": st.one_of(st.sampled_from(["test", "other"]), json_values),
    },
))
output_overrides = st.fixed_dictionaries(
    {},
    optional={
        "apiServerUrl": st.one_of(urls, json_values),
        "kubeconfig": st.one_of(kubeconfigs, kubeconfigs.map(json.dumps), kubeconfigs.map(yaml.safe_dump), texts, deep,
                                json_values),
        "region": st.one_of(st.sampled_from(["us-west-2", "eu-central-1"]), texts, json_values),
        "imageRepositoryUrl": st.one_of(st.sampled_from(["registry.example.invalid/spark", "localhost:5000/a/b"]), glued, json_values),
        "bucketName": st.one_of(st.sampled_from(["spark-dev-data"]), texts, json_values),
        "sparkNamespace": st.one_of(st.sampled_from(["spark"]), texts, json_values),
        "sparkServiceAccount": st.one_of(st.sampled_from(["spark"]), texts, json_values),
        "sparkRoleArn": st.one_of(st.sampled_from(["arn:aws:iam::123456789012:role/x"]), texts, json_values),
        "s3AccessVia": st.one_of(st.sampled_from(["irsa", "nodeRole"]), texts, json_values),
    },
)


def assert_usable_outputs(outputs: StackOutputs, required: tuple[str, ...]) -> None:
    if "apiServerUrl" in required:
        assert api_url_problem(outputs.api_server_url) is None
    # Whatever kubeconfig was accepted builds a client, or fails as KubeError (one line).
    try:
        core_api(outputs.kubeconfig)
    except KubeError as error:
        assert str(error).splitlines() == [str(error)]


@MODERATE
@given(overrides=output_overrides, drop=st.sets(st.sampled_from(SUBMIT_KEYS)), required=st.sampled_from([SUBMIT_KEYS, KUBE_KEYS]))
def test_any_outputs_are_usable_or_one_line(overrides: dict[str, Any], drop: set[str], required: tuple[str, ...]) -> None:
    raw = {key: value for key, value in stack_outputs(**overrides).items() if key not in drop}
    try:
        outputs = parse_outputs(raw, required=required, source="outputs.json")
    except OutputsError as error:
        assert_one_line_each([str(error)], ("stack output ",))
    else:
        assert_usable_outputs(outputs, required)


SECRET = "guard-secret-4f1c9a"


@MODERATE
@given(before=texts, after=texts, form=st.sampled_from(["raw", "json", "yaml"]))
def test_a_bad_kubeconfig_never_quotes_itself(before: str, after: str, form: str) -> None:
    """Whatever the kubeconfig text holds, the error names the output, never its content."""
    text = {"raw": before + SECRET + after,
            "json": json.dumps({"users": [{"user": {"token": SECRET}}], before: after}),
            "yaml": yaml.safe_dump({"users": [{"user": {"token": SECRET}}], "clusters": before})}[form]
    try:
        parse_kubeconfig(text, "outputs.json")
    except OutputsError as error:
        assert SECRET not in str(error)
        assert_one_line_each([str(error)], ("stack output kubeconfig in outputs.json ",))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=200), json_values.map(json.dumps), deep,
                      output_overrides.map(lambda o: json.dumps(stack_outputs(**o)))))
def test_any_outputs_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(text, encoding="utf-8")
    try:
        raw = read_outputs_file(path)
        outputs = parse_outputs(raw, required=SUBMIT_KEYS, source=str(path))
    except OutputsError as error:
        assert_one_line_each([str(error)], (f"--outputs {path}: ", "stack output "))
    else:
        assert_usable_outputs(outputs, SUBMIT_KEYS)


# --- the CLI end to end (dry run: nothing is uploaded or started) ----------------------------------


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(document=spec_documents, sets=st.lists(assignments, max_size=2), confs=st.lists(assignments, max_size=2),
       local=st.booleans(), as_json=st.booleans())
def test_cli_dry_run_answers_every_spec_with_exit_0_or_one_line_per_problem(
    capsys: pytest.CaptureFixture[str], document: dict[str, Any], sets: list[str], confs: list[str], local: bool, as_json: bool
) -> None:
    """`python -m jobs submit SPEC --dry-run` with any spec and any --set/--conf (passed as
    --set=VALUE, so a value may start with '-'): exit 0 with the command, or exit 2 with
    `jobs: error: ` lines only; never a traceback."""
    with tempfile.TemporaryDirectory() as scratch:
        spec_path = Path(scratch) / "job.yaml"
        spec_path.write_text(yaml.safe_dump({**document, "image": {"tag": "v1"}}, allow_unicode=True), encoding="utf-8")
        outputs_path = Path(scratch) / "outputs.json"
        outputs_path.write_text(json.dumps(stack_outputs()), encoding="utf-8")
        argv = ["submit", str(spec_path), "--dry-run", *(["--json"] if as_json else [])]
        argv += ["--local"] if local else ["--outputs", str(outputs_path)]
        argv += [f"--set={value}" for value in sets] + [f"--conf={value}" for value in confs]
        code = main(argv)
    captured = capsys.readouterr()
    if code == 0:
        assert captured.err == "" and captured.out
    else:
        assert code == 2 and captured.out == ""
        assert_one_line_each(captured.err.splitlines(), ("jobs: error: ",))
