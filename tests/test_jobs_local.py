"""The word count run by the real spark-submit (pyspark, local[*]) on the shipped sample,
checked against a plain-Python count of the same file; the sample is reproducible."""

from __future__ import annotations

import csv
import os
import re
import shutil
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from examples.make_sample import DEFAULT_OUT, DEFAULT_ROWS, render
from jobs import PROJECT_ROOT
from jobs.__main__ import main
from tests.jobs_guard_helpers import ProcessSpy

pytestmark = pytest.mark.jvm  # starts Spark JVMs: scheduled first (tests/conftest.py)

SAMPLE = PROJECT_ROOT / "examples" / "data" / "amazon_reviews_sample.tsv"
# The app's definition of a word, restated here so the reference count is independent.
WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def python_word_count(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            counts.update(WORD.findall((row["review_body"] or "").lower()))
    return counts


def read_output(directory: Path) -> list[tuple[str, int]]:
    parts = sorted(directory.glob("part-*.csv"))
    assert len(parts) == 1, parts
    with parts[0].open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == ["word", "count"]
        return [(word, int(count)) for word, count in reader]


def test_sample_is_what_the_script_writes() -> None:
    """The committed sample is byte for byte what examples/make_sample.py generates."""
    assert DEFAULT_OUT == SAMPLE
    assert SAMPLE.read_text(encoding="utf-8") == render(DEFAULT_ROWS)


def test_sample_has_the_review_schema() -> None:
    with SAMPLE.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert len(rows) == DEFAULT_ROWS
    assert "review_body" in rows[0] and "star_rating" in rows[0] and "product_category" in rows[0]
    assert sum(1 for row in rows if row["review_body"] == "") > 0  # empty bodies occur, as in the dataset


@dataclass
class LocalRun:
    """What one real `submit examples/wordcount.yaml --local` did, for the tests below."""

    code: int
    out: str
    err: str
    source: Path
    output: Path
    scratch: Path
    spy: ProcessSpy
    elapsed: float


@contextmanager
def fds_captured(directory: Path) -> Iterator[tuple[Path, Path]]:
    """stdout and stderr of this process and its children (spark-submit, Spark's Python) in files,
    for a module-scoped run that pytest's function-scoped capfd cannot serve."""
    paths = directory / "stdout", directory / "stderr"
    with paths[0].open("w+b") as out, paths[1].open("w+b") as err:
        sys.stdout.flush(), sys.stderr.flush()
        saved_fds, saved_streams = (os.dup(1), os.dup(2)), (sys.stdout, sys.stderr)
        os.dup2(out.fileno(), 1), os.dup2(err.fileno(), 2)
        sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)
        try:
            yield paths
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            sys.stdout, sys.stderr = saved_streams
            os.dup2(saved_fds[0], 1), os.dup2(saved_fds[1], 2)
            os.close(saved_fds[0]), os.close(saved_fds[1])


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> LocalRun:
    """One real `submit examples/wordcount.yaml --local` (the README's command, from the checkout)
    for every test of this module: pyspark's spark-submit on the shipped sample, copied under a
    file name that is shell syntax, into an output directory named likewise, with two --conf
    values holding command substitutions, every process launch spied on."""
    scratch = tmp_path_factory.mktemp("local-run")
    source = scratch / "reviews $(touch canary-input) `touch canary-ticks`.tsv"
    shutil.copyfile(SAMPLE, source)
    output = scratch / "out; touch canary-output"
    with pytest.MonkeyPatch.context() as patch, fds_captured(scratch) as (out, err):
        spy = ProcessSpy().install(patch)
        patch.chdir(PROJECT_ROOT)
        started = time.monotonic()
        code = main(["submit", "examples/wordcount.yaml", "--local", "--set", f"input={source}",
                     "--set", f"output={output}", "--conf=spark.guard.substitution=$(touch canary-conf)",
                     "--conf=spark.guard.ticks=`touch canary-conf-ticks`"])
        elapsed = time.monotonic() - started
    return LocalRun(code, out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8"),
                    source, output, scratch, spy, elapsed)


def test_local_word_count_matches_a_plain_python_count(
    local_run: LocalRun, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """`submit examples/wordcount.yaml --local` runs pyspark's spark-submit and writes word,count
    rows equal to Python's count, most frequent first; a second run refuses to overwrite."""
    assert local_run.code == 0, local_run.err[-3000:]
    expected = python_word_count(SAMPLE)
    rows = read_output(local_run.output)
    assert dict(rows) == dict(expected)
    assert len(rows) == len(expected)  # each word once
    assert rows == sorted(rows, key=lambda row: (-row[1], row[0]))
    top_word, top_count = expected.most_common(1)[0]
    assert re.search(rf"^\s+{top_count}\s+{top_word}$", local_run.out, re.MULTILINE)
    assert f"{sum(expected.values())} words, {len(expected)} distinct" in local_run.out
    assert f"output: {local_run.output}" in local_run.out

    monkeypatch.chdir(PROJECT_ROOT)
    code = main(["submit", "examples/wordcount.yaml", "--local", "--set", f"input={local_run.source}",
                 "--set", f"output={local_run.output}"])
    assert code == 2
    assert capfd.readouterr().err == (
        f"jobs: error: output: {local_run.output} already holds files; choose a new output (--set local.output=...) "
        "or pass --overwrite to replace them\n"
    )
    print(f"\nlocal word count wall time: {local_run.elapsed:.1f}s", file=sys.stderr)  # shown with pytest -s


def test_local_word_count_runs_spark_submit_as_an_argv_list(local_run: LocalRun) -> None:
    """`submit --local` for real, reading a file and writing a directory whose names are shell
    syntax: Spark reads and writes exactly those names; no canary file appears (in the checkout,
    the run's working directory, where a relative `touch` would create one, nor beside the data)."""
    assert local_run.code == 0, local_run.err[-3000:]
    local_run.spy.assert_no_shell()
    [launch] = local_run.spy.of("spark-submit")
    assert list(launch.args[-2:]) == [str(local_run.source), str(local_run.output)]
    assert "spark.guard.substitution=$(touch canary-conf)" in launch.args
    assert len(list(local_run.output.glob("part-*.csv"))) == 1
    assert list(PROJECT_ROOT.glob("canary*")) == [] and list(local_run.scratch.glob("canary*")) == []


def test_missing_local_input_stops_before_spark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    code = main(["submit", "examples/wordcount.yaml", "--local", "--set", "input=no/such.tsv",
                 "--set", f"output={tmp_path / 'out'}"])
    assert code == 2
    assert capsys.readouterr().err == "jobs: error: input: no/such.tsv not found (paths are relative to the current directory)\n"


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--wait"], "jobs: error: --wait follows a cluster run; a --local run always waits\n"),
        (["--stack", "dev"], "jobs: error: --local runs on this machine without the stack; drop --stack/--outputs\n"),
        (["--json"], "jobs: error: --json shapes the --dry-run output; add --dry-run\n"),
    ],
)
def test_flags_that_do_not_fit_local(flags: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit", "examples/wordcount.yaml", "--local", *flags]) == 2
    assert capsys.readouterr().err == expected
