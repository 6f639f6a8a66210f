"""The job spec: every bad field is one line naming it and what is allowed; overrides work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobs.__main__ import main
from jobs.spec import JobSpec, SpecError, load_spec, spec_from_mapping
from tests.conftest import REPO_ROOT

BASE: dict[str, Any] = {
    "name": "wordcount",
    "app": "jobs/apps/wordcount.py",
    "input": "s3a://{bucket}/in/",
    "output": "s3a://{bucket}/out/",
}


def problems_of(document: dict[str, Any], **kwargs: Any) -> list[str]:
    with pytest.raises(SpecError) as raised:
        spec_from_mapping(document, source="job.yaml", **kwargs)
    return raised.value.problems


def with_(**changes: Any) -> dict[str, Any]:
    document = dict(BASE)
    for key, value in changes.items():
        if value is _DROP:
            document.pop(key, None)
        else:
            document[key] = value
    return document


_DROP = object()

BAD_FIELDS = [
    # (case, document, the one line's expected text after "spec job.yaml: ")
    ("name not DNS", with_(name="Word_Count"), "name: 'Word_Count' is not a DNS-1123 label"),
    ("name too long", with_(name="a" * 64), f"name: '{'a' * 64}' is not a DNS-1123 label: use 1-63"),
    ("name missing", with_(name=_DROP), "name: is required"),
    ("name not text", with_(name=12), "name: must be text, not 12"),
    ("app missing", with_(app=_DROP), "app: is required"),
    ("app empty", with_(app=""), "app: must not be empty"),
    ("app s3 scheme", with_(app="s3://b/wordcount.py"), "app: 's3://b/wordcount.py' uses s3://; Spark's S3 connector reads s3a://"),
    ("app other scheme", with_(app="hdfs://nn/wordcount.py"), "app: 'hdfs://nn/wordcount.py': use a local file, s3a://BUCKET/KEY or local:///PATH-IN-IMAGE"),
    ("app kind", with_(app="job.txt"), "app: 'job.txt' must be a Python file (.py) or a jar (.jar)"),
    ("jar needs class", with_(app="wordcount.jar"), "mainClass: is required for a .jar app"),
    ("class on python", with_(mainClass="org.example.Main"), "mainClass: only applies to a .jar app; remove it"),
    ("class name", with_(app="w.jar", mainClass="1st.Main"), "mainClass: '1st.Main' is not a Java class name"),
    ("args not a list", with_(args="{input}"), "args: must be a list"),
    ("args item", with_(args=["{input}", 3]), "args[1]: must be text, not 3"),
    ("args placeholder", with_(args=["{inptu}"]), "args[0]: unknown placeholder {inptu}; known: {input}, {output}, {bucket}"),
    ("args brace", with_(args=["{input"]), "args[0]: '{input' has an unmatched brace"),
    ("image tag", with_(image={"tag": "v1 beta"}), "image.tag: 'v1 beta' is not an image tag"),
    ("image not mapping", with_(image="v1"), "image: must be a mapping of fields"),
    ("image field", with_(image={"repository": "x"}), "image.repository: is not a field here; allowed: tag"),
    ("driver cores zero", with_(driver={"cores": 0}), "driver.cores: must be at least 1, not 0"),
    ("driver cores text", with_(driver={"cores": "two"}), "driver.cores: must be a whole number, not 'two'"),
    ("driver cores fraction", with_(driver={"cores": 1.5}), "driver.cores: must be a whole number, not 1.5"),
    ("driver cores boolean", with_(driver={"cores": True}), "driver.cores: must be a whole number, not True"),
    ("executor cores too many", with_(executor={"cores": 65}), "executor.cores: must be at most 64, not 65"),
    ("limit below request", with_(executor={"cores": 3, "coresLimit": 2}), "executor.coresLimit: 2 is below executor.cores (3)"),
    ("memory unit", with_(executor={"memory": "8x"}), "executor.memory: '8x' is not a size; use a whole number with a unit, like 8g or 512m"),
    ("memory number", with_(driver={"memory": 8}), "driver.memory: 8 is not a size"),
    ("memory too small", with_(executor={"memory": "256m"}), "executor.memory: '256m' is below Spark's minimum; use at least 512m"),
    ("resource field typo", with_(executor={"memroy": "4g"}), "executor.memroy: is not a field here; allowed: cores, coresLimit, memory"),
    ("top-level typo", with_(inputs="s3a://b/x"), "inputs: is not a field here; allowed: name, app, mainClass, args, image, driver"),
    ("max executors", with_(dynamicAllocation={"maxExecutors": 0}), "dynamicAllocation.maxExecutors: must be at least 1, not 0"),
    ("min above max", with_(dynamicAllocation={"minExecutors": 5, "maxExecutors": 2}), "dynamicAllocation.minExecutors: 5 is above maxExecutors (2)"),
    ("initial outside", with_(dynamicAllocation={"initialExecutors": 50, "maxExecutors": 10}), "dynamicAllocation.initialExecutors: 50 must lie between minExecutors (0) and maxExecutors (10)"),
    ("ratio zero", with_(dynamicAllocation={"executorAllocationRatio": 0}), "dynamicAllocation.executorAllocationRatio: must be more than 0, not 0"),
    ("ratio above one", with_(dynamicAllocation={"executorAllocationRatio": 1.5}), "dynamicAllocation.executorAllocationRatio: must be at most 1, not 1.5"),
    ("timeout infinite", with_(dynamicAllocation={"shuffleTrackingTimeout": "infinity"}), "dynamicAllocation.shuffleTrackingTimeout: 'infinity' is not a finite duration"),
    ("allocation typo", with_(dynamicAllocation={"maxExecutor": 3}), "dynamicAllocation.maxExecutor: is not a field here; allowed: minExecutors, initialExecutors, maxExecutors"),
    ("conf not mapping", with_(conf=["spark.x=1"]), "conf: must be a mapping of fields"),
    ("conf not spark", with_(conf={"foo.bar": 1}), "conf.foo.bar: not a Spark setting; keys start with 'spark.'"),
    ("conf list value", with_(conf={"spark.jars": ["a", "b"]}), "conf.spark.jars: must be one value (text, a number or true/false), not list"),
    ("conf insecure tls", with_(conf={"spark.hadoop.fs.s3a.connection.ssl.enabled": False}), "conf.spark.hadoop.fs.s3a.connection.ssl.enabled: false turns off TLS between Spark and S3; remove it"),
    ("conf credential", with_(conf={"spark.hadoop.fs.s3a.secret.key": "abc"}), "conf.spark.hadoop.fs.s3a.secret.key: carries a credential; a spec holds none"),
    ("conf owned by field", with_(conf={"spark.executor.memory": "4g"}), "conf.spark.executor.memory: is set by the spec field executor.memory; set that instead (--set executor.memory=...)"),
    ("conf owned by submitter", with_(conf={"spark.master": "local[*]"}), "conf.spark.master: is set by the submitter (the submitter: --master); remove it"),
    ("input local path", with_(input="data/reviews.tsv"), "input: 'data/reviews.tsv' is a local path, which a cluster job cannot see; use s3a://BUCKET/PREFIX/"),
    ("input s3 scheme", with_(input="s3://b/reviews/"), "input: 's3://b/reviews/' uses s3://; Spark's S3 connector reads s3a://"),
    ("input placeholder", with_(input="s3a://{buckt}/in/"), "input: unknown placeholder {buckt}; known: {bucket}"),
    ("output not s3a", with_(output="gs://b/out/"), "output: 'gs://b/out/': a cluster job writes to s3a://BUCKET/PREFIX/"),
    ("output required by args", with_(output=_DROP), "output: is required, because args use {output}"),
    ("input required by args", with_(input=_DROP), "input: is required, because args use {input}"),
    ("local not mapping", with_(local="out/"), "local: must be a mapping of fields"),
    ("local field", with_(local={"inputs": "x"}), "local.inputs: is not a field here; allowed: input, output"),
]


@pytest.mark.parametrize("document, expected", [case[1:] for case in BAD_FIELDS], ids=[case[0] for case in BAD_FIELDS])
def test_bad_field_is_one_line_naming_it(document: dict[str, Any], expected: str) -> None:
    """Each bad field gives exactly one problem line, prefixed with the spec and naming the field."""
    problems = problems_of(document)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"spec job.yaml: {expected}"), problems[0]
    assert "\n" not in problems[0]


LOCAL_BAD = [
    ("s3a input", with_(local={"output": "out/"}), "input: 's3a://{bucket}/in/' needs the cluster; with --local give a local path (set local.input in the spec or --set input=PATH)"),
    ("bucket placeholder", with_(local={"input": "{bucket}/in", "output": "out/"}), "local.input: '{bucket}/in' needs the cluster"),
    ("remote app", with_(app="s3a://b/apps/wc.py", local={"input": "in/", "output": "out/"}), "app: 's3a://b/apps/wc.py' is not on this machine; with --local, app must be a local file"),
    ("local output missing", with_(output=_DROP, local={"input": "in/"}), "local.output: is required, because args use {output}"),
]


@pytest.mark.parametrize("document, expected", [case[1:] for case in LOCAL_BAD], ids=[case[0] for case in LOCAL_BAD])
def test_bad_local_field(document: dict[str, Any], expected: str) -> None:
    """With --local, paths and the app must be on this machine; the line says how to fix it."""
    problems = problems_of(document, local=True)
    assert len(problems) == 1
    assert problems[0].startswith(f"spec job.yaml: {expected}"), problems[0]


def test_several_bad_fields_give_one_line_each() -> None:
    """Two bad fields are both reported, each on its own line, so one round of fixes suffices."""
    problems = problems_of(with_(name="Bad Name", executor={"memory": "lots"}))
    assert len(problems) == 2
    assert problems[0].startswith("spec job.yaml: name:") and problems[1].startswith("spec job.yaml: executor.memory:")


def test_defaults_are_the_seed_settings() -> None:
    """A minimal spec gets the seed's driver and bounds and a finite shuffle-tracking timeout; the
    executor is left to the node's default shape (jobs.command.executor_settings)."""
    spec = spec_from_mapping(BASE, source="job.yaml")
    assert (spec.driver.cores, spec.driver.cores_limit, spec.driver.memory) == (2, 4, "8g")
    assert (spec.executor.cores, spec.executor.cores_limit, spec.executor.memory) == (None, None, None)
    assert spec.dynamic_allocation.max_executors == 100
    assert spec.dynamic_allocation.executor_allocation_ratio == 0.33
    assert spec.dynamic_allocation.shuffle_tracking_timeout == "300s"
    assert spec.args == ("{input}", "{output}")
    assert spec.image.tag is None


def test_values_are_normalised() -> None:
    """Sizes are lower-cased without a trailing b; YAML scalars in conf become Spark's strings."""
    spec = spec_from_mapping(
        with_(executor={"memory": "16GB"}, conf={"spark.sql.shuffle.partitions": 64, "spark.sql.adaptive.enabled": True}),
        source="job.yaml",
    )
    assert spec.executor.memory == "16g"
    assert spec.conf == {"spark.sql.shuffle.partitions": "64", "spark.sql.adaptive.enabled": "true"}


def test_secret_references_are_not_credentials() -> None:
    """Mounting or referencing a Kubernetes Secret names it without holding its value: allowed."""
    conf = {
        "spark.kubernetes.driver.secrets.db-creds": "/mnt/secrets",
        "spark.kubernetes.executor.secretKeyRef.DB_PASSWORD": "db-creds:password",
        "spark.kubernetes.authenticate.submission.oauthTokenFile": "/var/run/token",
    }
    assert spec_from_mapping(with_(conf=conf), source="job.yaml").conf == conf


def test_set_overrides_dotted_fields_with_yaml_values() -> None:
    """--set reaches nested fields, parses numbers, and keeps Spark conf keys whole after conf."""
    spec = spec_from_mapping(
        BASE,
        source="job.yaml",
        sets=["executor.memory=4g", "dynamicAllocation.maxExecutors=20", "conf.spark.sql.shuffle.partitions=8", "input=s3a://other/x/"],
        confs=["spark.kubernetes.submission.waitAppCompletion=true"],
    )
    assert spec.executor.memory == "4g"
    assert spec.dynamic_allocation.max_executors == 20
    assert spec_from_mapping(BASE, source="job.yaml", sets=["image.tag=20240101"]).image.tag == "20240101"
    assert spec.input == "s3a://other/x/"
    assert spec.conf == {"spark.sql.shuffle.partitions": "8", "spark.kubernetes.submission.waitAppCompletion": "true"}


def test_overrides_do_not_change_the_loaded_document() -> None:
    """The parsed document is not mutated by --set (a caller may reuse it)."""
    document = with_(executor={"memory": "8g"})
    spec_from_mapping(document, source="job.yaml", sets=["executor.memory=4g"])
    assert document["executor"] == {"memory": "8g"}


@pytest.mark.parametrize(
    "sets, confs, expected",
    [
        (["executor.memory"], [], "--set 'executor.memory': expected FIELD=VALUE"),
        (["=4g"], [], "--set '=4g': expected FIELD=VALUE"),
        (["name.first=x"], [], "--set name.first: name is not a section, so it has no field 'first'"),
        (["executor..memory=4g"], [], "--set executor..memory: not a field name"),
        ([], ["spark.executor.instances"], "--conf 'spark.executor.instances': expected FIELD=VALUE"),
        (["executor.cpus=2"], [], "spec job.yaml: executor.cpus: is not a field here; allowed: cores, coresLimit, memory"),
        ([], ["spark.dynamicAllocation.maxExecutors=3"], "spec job.yaml: conf.spark.dynamicAllocation.maxExecutors: is set by the spec field dynamicAllocation.maxExecutors"),
    ],
)
def test_bad_overrides(sets: list[str], confs: list[str], expected: str) -> None:
    """A malformed --set/--conf, or one naming an unknown or field-owned key, is one clear line."""
    problems = problems_of(BASE, sets=sets, confs=confs)
    assert len(problems) == 1
    assert problems[0].startswith(expected), problems[0]


def test_local_paths_replace_input_and_output_with_local() -> None:
    """--local reads local.input/local.output; an explicit --set input= still wins."""
    document = with_(local={"input": "examples/data/x.tsv", "output": "output/wc"})
    spec = spec_from_mapping(document, source="job.yaml", local=True)
    assert (spec.input, spec.output) == ("examples/data/x.tsv", "output/wc")
    spec = spec_from_mapping(document, source="job.yaml", local=True, sets=["input=other.tsv"])
    assert (spec.input, spec.output) == ("other.tsv", "output/wc")
    cluster = spec_from_mapping(document, source="job.yaml")
    assert cluster.input == "s3a://{bucket}/in/"


def test_example_spec_is_valid_for_both_modes() -> None:
    """examples/wordcount.yaml validates for the cluster and for --local."""
    path = REPO_ROOT / "examples" / "wordcount.yaml"
    cluster = load_spec(path)
    local = load_spec(path, local=True)
    assert isinstance(cluster, JobSpec) and cluster.output == "s3a://{bucket}/output/wordcount/"
    assert local.input == "examples/data/amazon_reviews_sample.tsv" and local.output == "output/wordcount"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name: a\nname: b\napp: x.py\n", "not valid YAML at line 2, column 1: key 'name' appears twice"),
        ("name: [unclosed\n", "not valid YAML at line 2, column 1"),
        ("", "is empty; it needs at least name and app"),
        ("- name: a\n", "must be a mapping of fields (name, app, ...), not a list"),
    ],
)
def test_unreadable_spec_files(tmp_path: Path, text: str, expected: str) -> None:
    """Broken YAML, a duplicated key (which PyYAML would silently drop) and wrong shapes are one line."""
    path = tmp_path / "job.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert raised.value.problems == [f"spec {path}: {expected}"] or raised.value.problems[0].startswith(
        f"spec {path}: {expected}"
    )
    assert len(raised.value.problems) == 1


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as raised:
        load_spec(tmp_path / "nope.yaml")
    assert raised.value.problems == [
        f"spec {tmp_path / 'nope.yaml'}: not found; pass the path of a job spec such as examples/wordcount.yaml"
    ]


def test_cli_bad_spec_exits_2_before_touching_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], write_outputs: Any
) -> None:
    """Through the CLI: exit 2, one stderr line per bad field, nothing printed on stdout."""
    path = tmp_path / "job.yaml"
    path.write_text("name: wordcount\napp: jobs/apps/wordcount.py\nexecutor:\n  memory: 8x\n", encoding="utf-8")
    code = main(["submit", str(path), "--outputs", str(write_outputs()), "--dry-run"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert lines == [f"jobs: error: spec {path}: executor.memory: '8x' is not a size; use a whole number with a unit, like 8g or 512m"]


def test_cli_flag_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse's own errors are one line too (no usage block), exit 2."""
    assert main(["submit"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "SPEC.yaml" in err
