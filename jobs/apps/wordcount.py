"""The Spark application of the AWS blog post this design follows: count the words of Amazon Customer Reviews' review text.

    spark-submit wordcount.py INPUT OUTPUT [--format auto|tsv|parquet] [--top N]

INPUT is data in the Amazon Customer Reviews schema: tab-separated with a header row
(optionally gzipped), or Parquet; only its `review_body` column is read. OUTPUT receives
one CSV file with a `word,count` header, most frequent first. The top N words are also
printed (to the driver's stdout: the terminal locally, the driver log on the cluster).

A word is a run of ASCII letters and digits, lower-cased, that may carry inner
apostrophes (don't, customer's); everything else separates words.

This file is submitted to Spark as it is, so it imports nothing from the project.
"""

from __future__ import annotations

import argparse
import sys

WORD_PATTERN = r"[a-z0-9]+(?:'[a-z0-9]+)*"
TEXT_COLUMN = "review_body"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="wordcount.py", description="Count the words of review_body.")
    parser.add_argument("input", help="TSV (with a header row) or Parquet in the Amazon Customer Reviews schema")
    parser.add_argument("output", help="directory for the word,count CSV")
    parser.add_argument("--format", choices=("auto", "tsv", "parquet"), default="auto")
    parser.add_argument("--top", type=int, default=10, help="how many of the most frequent words to print")
    return parser.parse_args(argv)


def input_format(path: str, requested: str) -> str:
    """`auto`: Parquet when the path says so (…/parquet/…, *.parquet), else TSV."""
    if requested != "auto":
        return requested
    lowered = path.lower().rstrip("/")
    return "parquet" if lowered.endswith(".parquet") or "/parquet" in lowered or lowered == "parquet" else "tsv"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from pyspark.sql import SparkSession, functions as F

    spark = SparkSession.builder.appName("wordcount").getOrCreate()
    try:
        if input_format(args.input, args.format) == "parquet":
            reviews = spark.read.parquet(args.input)
        else:
            # The dataset's TSV has no quoting: a quote character is just text.
            reviews = spark.read.csv(args.input, sep="\t", header=True, quote="", escape="")
        if TEXT_COLUMN not in reviews.columns:
            print(
                f"wordcount: {args.input} has no {TEXT_COLUMN} column (columns: {', '.join(reviews.columns)})",
                file=sys.stderr,
            )
            return 2
        words = reviews.select(
            F.explode(F.regexp_extract_all(F.lower(F.col(TEXT_COLUMN)), F.lit(WORD_PATTERN), 0)).alias("word")
        )
        counts = words.groupBy("word").count().orderBy(F.desc("count"), F.asc("word")).cache()
        # One small file: the vocabulary is tiny next to the input.
        counts.coalesce(1).write.mode("overwrite").option("header", True).csv(args.output)
        top = counts.limit(args.top).collect()
        total = counts.agg(F.sum("count")).first()[0] or 0
        print(f"{total} words, {counts.count()} distinct; top {len(top)}:")
        for row in top:
            print(f"{row['count']:>10}  {row['word']}")
        return 0
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
