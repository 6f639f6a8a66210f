"""Spark conf keys Spark knows, and one line for each one a spec sets that it does not.

Spark ignores a key it does not know without a word (`spark.dynamicAllocation.maxExecutor`
is simply never read), so a typo silently changes nothing. The known keys are read from
jobs/spark_conf_keys.txt, generated from the jars of the installed pyspark by
`python -m jobs.generate_conf_keys` (its docstring says how).
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

from jobs.shown import plain
from jobs.spec import FIELD_OWNED_CONF

KEYS_FILE = Path(__file__).resolve().parent / "spark_conf_keys.txt"
# Keys Spark reads straight from SparkConf or the system properties rather than through a
# ConfigEntry or a config object's constant (SparkContext: spark.app.name, spark.master;
# SparkSubmit: spark.submit.pyFiles; ui/UIUtils.uiRoot and SparkContext: spark.ui.proxyBase, a
# literal in code, so the generator cannot find it).
DIRECT_KEYS = ("spark.app.name", "spark.master", "spark.app.id", "spark.submit.pyFiles", "spark.driver.host",
               "spark.ui.proxyBase")


@lru_cache(maxsize=1)
def known_keys() -> tuple[frozenset[str], tuple[str, ...]]:
    """(keys, prefixes) from the generated file."""
    keys: set[str] = set(DIRECT_KEYS)
    prefixes: list[str] = []
    for line in KEYS_FILE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("prefix "):
            prefixes.append(line.removeprefix("prefix "))
        else:
            keys.add(line)
    return frozenset(keys), tuple(prefixes)


def is_known(key: str) -> bool:
    keys, prefixes = known_keys()
    return key in keys or any(key.startswith(prefix) and len(key) > len(prefix) for prefix in prefixes)


def closest_key(key: str) -> str | None:
    keys, _ = known_keys()
    matches = difflib.get_close_matches(key, keys, n=1, cutoff=0.8)
    return matches[0] if matches else None


def unknown_conf_lines(conf: Mapping[str, str] | Iterable[str]) -> list[str]:
    """One line per `spark.*` key that Spark does not know, naming the closest known key."""
    lines = []
    for key in conf:
        if not key.startswith("spark.") or is_known(key):
            continue
        closest = closest_key(key)
        if closest is None:
            hint = "check the spelling against Spark's configuration docs"
        elif closest in FIELD_OWNED_CONF and not FIELD_OWNED_CONF[closest].startswith("("):
            hint = f"did you mean {closest}? The spec field {FIELD_OWNED_CONF[closest]} sets it"
        else:
            hint = f"did you mean {closest}?"
        lines.append(f"conf.{plain(key)}: Spark does not know this key and would ignore it; {hint}")
    return lines
