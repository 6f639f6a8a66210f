"""The drill's two jobs, their generated data and where each is interrupted.

- wordcount: the project's own jobs/apps/wordcount.py on generated reviews
  (examples/make_sample.py's generator, so the same bytes every time), split into a fixed
  number of map tasks so the map stage runs several waves on the executors.
- shuffle-cache: bench/drill/shuffle_cache.py, a cached RDD then a wide shuffle of all of
  it, so there are cached blocks and shuffle files to lose, and a shuffle read long enough
  to interrupt.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench.drill.runner import Point
from examples.make_sample import render
from jobs import PROJECT_ROOT

WORDCOUNT_APP = PROJECT_ROOT / "jobs" / "apps" / "wordcount.py"
SHUFFLE_CACHE_APP = Path(__file__).resolve().parent / "shuffle_cache.py"
# Four waves of tasks on three one-core executors: an executor lost mid-stage has finished
# work to lose and work still running.
TASKS_PER_STAGE = 12


@dataclass(frozen=True)
class Workload:
    name: str
    app: Path
    size: str
    arguments: Callable[[Path], list[str]]  # output directory → the app's arguments
    plan: tuple[Point, ...]
    conf: dict[str, str] = field(default_factory=dict)


def wordcount(rows: int, data_dir: Path, plan: tuple[Point, ...]) -> Workload:
    """The word count on `rows` generated reviews (written once into `data_dir`)."""
    data = data_dir / f"reviews-{rows}.tsv"
    if not data.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        data.write_text(render(rows), encoding="utf-8", newline="\n")
    size = data.stat().st_size
    return Workload(
        name="wordcount",
        app=WORDCOUNT_APP,
        size=f"{rows:,} reviews ({size / 1e6:.0f} MB TSV)",
        arguments=lambda output: [str(data), str(output)],
        plan=plan,
        conf={
            # Spark splits files into min(maxPartitionBytes, size per core) pieces.
            "spark.sql.files.maxPartitionBytes": str(-(-size // TASKS_PER_STAGE)),
            "spark.sql.shuffle.partitions": str(TASKS_PER_STAGE),
        },
    )


def shuffle_cache(rows: int, plan: tuple[Point, ...]) -> Workload:
    """The cached-RDD + wide-shuffle job on `rows` records made by the app itself."""
    return Workload(
        name="shuffle-cache",
        app=SHUFFLE_CACHE_APP,
        size=f"{rows:,} generated records",
        arguments=lambda output: [str(output), "--rows", str(rows), "--partitions", str(TASKS_PER_STAGE)],
        plan=plan,
    )


def output_rows(directory: Path) -> list[bytes]:
    """Every line of the job's part files, sorted: the bytes two runs must agree on."""
    parts = sorted(directory.glob("part-*"))
    if not parts:
        raise FileNotFoundError(f"{directory}: no part files; the job wrote no output")
    lines: list[bytes] = []
    for part in parts:
        lines.extend(line for line in part.read_bytes().split(b"\n") if line)
    return sorted(lines)


def differing_rows(expected: list[bytes], actual: list[bytes]) -> int:
    """Rows in one output and not the other (counting repeats): 0 when the sorted bytes agree."""
    left, right = Counter(expected), Counter(actual)
    return sum((left - right).values()) + sum((right - left).values())
