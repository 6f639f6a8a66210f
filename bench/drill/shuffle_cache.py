"""The drill's second job: a cached RDD, then a wide shuffle of all of it.

    spark-submit shuffle_cache.py OUTPUT [--rows N] [--partitions P]

Records are made from their index alone (no input file, the same bytes in every run):
key = a multiplicative hash of the index over ~100,000 keys, payload = 64 hex characters.
The records are cached in executor memory (job 1 counts them, so every executor holds cached
blocks), then every record crosses the network to its key's partition (partitionBy: no
map-side combine), where each key's payloads are gathered, sorted and summarised as
`key<TAB>count<TAB>sha256 of the sorted payloads`, written as text, one line per key. Losing an executor mid-run loses cached blocks and
shuffle files: the output must still be the same.

This file is submitted to Spark as it is, so it imports nothing from the project.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from typing import Iterable, Iterator

KEYS = 100_003


def record(index: int) -> tuple[int, str]:
    key = (index * 2_654_435_761) % KEYS
    payload = format((index * 40_503) & 0xFFFFFFFF, "08x") * 8
    return key, payload


def summarise(pairs: Iterable[tuple[int, str]]) -> Iterator[str]:
    """All of a key's payloads, in sorted order, into one digest: any lost or doubled record shows."""
    groups: dict[int, list[str]] = {}
    for key, payload in pairs:
        groups.setdefault(key, []).append(payload)
    for key in sorted(groups):
        payloads = sorted(groups[key])
        digest = hashlib.sha256("\n".join(payloads).encode()).hexdigest()
        yield f"{key}\t{len(payloads)}\t{digest}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="shuffle_cache.py", description=__doc__.splitlines()[0])
    parser.add_argument("output", help="directory for the key<TAB>count<TAB>digest text files")
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--partitions", type=int, default=12, help="map and reduce partitions")
    args = parser.parse_args(argv)
    from pyspark import SparkContext, StorageLevel

    context = SparkContext(appName="drill-shuffle-cache")
    try:
        records = context.range(0, args.rows, numSlices=args.partitions).map(record)
        # In memory only: a lost executor's blocks are gone unless decommissioning moves them.
        cached = records.persist(StorageLevel.MEMORY_ONLY)
        print(f"{cached.count()} records cached")
        cached.partitionBy(args.partitions).mapPartitions(summarise).saveAsTextFile(args.output)
        return 0
    finally:
        context.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
