"""Hostile inputs for the job submitter, each with its exact outcome.

Every input here is either refused with the exact line(s) listed (one line per problem,
naming the field and the fix) or accepted, and then it reaches spark-submit as one
literal argv element: nothing in a spec or an output is ever interpreted by a shell.
The property tests (test_jobs_guard_properties.py) cover inputs nobody thought of;
this corpus pins the ones somebody will try.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobs.spec import JobSpec, SpecError, load_spec, spec_from_mapping

SOURCE = "job.yaml"
BASE: dict[str, Any] = {
    "name": "wordcount",
    "app": "jobs/apps/wordcount.py",
    "input": "s3a://{bucket}/in/",
    "output": "s3a://{bucket}/out/",
}
TOP_FIELDS = "name, app, mainClass, args, image, driver, executor, dynamicAllocation, conf, input, output, local"


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
    stays one line the CLI can print as `jobs: <line>`."""
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
