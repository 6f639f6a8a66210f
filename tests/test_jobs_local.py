"""The word count run by the real spark-submit (pyspark, local[*]) on the shipped sample,
checked against a plain-Python count of the same file; the sample is reproducible."""

from __future__ import annotations

import csv
import re
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from examples.make_sample import DEFAULT_OUT, DEFAULT_ROWS, render
from jobs import PROJECT_ROOT
from jobs.__main__ import main

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


def test_local_word_count_matches_a_plain_python_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """`submit examples/wordcount.yaml --local` runs pyspark's spark-submit and writes word,count
    rows equal to Python's count, most frequent first; a second run refuses to overwrite."""
    monkeypatch.chdir(PROJECT_ROOT)
    output = tmp_path / "wordcount"
    started = time.monotonic()
    code = main(["submit", "examples/wordcount.yaml", "--local", "--set", f"output={output}"])
    elapsed = time.monotonic() - started
    captured = capfd.readouterr()
    assert code == 0, captured.err[-3000:]

    expected = python_word_count(SAMPLE)
    rows = read_output(output)
    assert dict(rows) == dict(expected)
    assert len(rows) == len(expected)  # each word once
    assert rows == sorted(rows, key=lambda row: (-row[1], row[0]))
    top_word, top_count = expected.most_common(1)[0]
    assert re.search(rf"^\s+{top_count}\s+{top_word}$", captured.out, re.MULTILINE)
    assert f"{sum(expected.values())} words, {len(expected)} distinct" in captured.out
    assert f"output: {output}" in captured.out

    code = main(["submit", "examples/wordcount.yaml", "--local", "--set", f"output={output}"])
    assert code == 2
    assert capfd.readouterr().err == (
        f"jobs: error: output: {output} already holds files; choose a new output (--set local.output=...) "
        "or pass --overwrite to replace them\n"
    )
    print(f"\nlocal word count wall time: {elapsed:.1f}s", file=sys.stderr)  # shown with pytest -s


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
