"""Pure: whether a failed attempt is tried again, and with what driver memory.

A retry is a new submission of the same job: a new driver pod with the same run id and the
next attempt number (jobs.command RUN_LABEL, ATTEMPT_LABEL). Only failures a new pod can fix
are retried: the driver's node was lost or the driver was evicted (jobs.kube RETRYABLE_CAUSES,
read from the pod's DisruptionTarget condition or status reason, or, for a driver that vanished
with nothing on it, from its node being gone: jobs.kube.vanished_reason). An OOMKilled driver is retried
only with `--retry-on-oom FACTOR`, which raises the driver's memory by FACTOR:
`spark.driver.memory`, and `spark.driver.memoryOverhead` too when the job sets it, because
Spark uses an explicit overhead as it is instead of a share of the heap
(BasicDriverFeatureStep), so raising the heap alone would leave the room that ran out
unchanged. An app that exits non-zero, an image that cannot be pulled or a driver someone
deleted fail the same way again: never retried.

EMR on EKS retries every driver failure, with an interval that doubles from 10 s up to 6
minutes (EMR on EKS developer guide, "Using job retry policies"); the interval here follows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from jobs.kube import CAUSE_OOM, RETRYABLE_CAUSES
from jobs.sizing import fit_problem, nodes_of, pod_memory_mib, size_mib
from jobs.spec import JobSpec

DEFAULT_INTERVAL_SECONDS = 10.0
MAX_INTERVAL_SECONDS = 360.0
MAX_RETRIES = 10
OVERHEAD_KEY = "spark.driver.memoryOverhead"


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    why: str  # one line: what failed and what happens next
    spec: JobSpec | None = None  # the next attempt's spec, when retrying


def retry_interval(base_seconds: float, attempt: int) -> float:
    """Seconds to wait before attempt `attempt + 1`: doubling per attempt, at most 6 minutes."""
    return min(base_seconds * 2 ** max(0, attempt - 1), MAX_INTERVAL_SECONDS)


def scaled(size: str, factor: float) -> str:
    """A Spark size (`8g`, `1024m`, `1024` meaning MiB) times `factor`, in whole MiB."""
    return f"{math.ceil(size_mib(size) * factor)}m"


def with_more_driver_memory(spec: JobSpec, factor: float) -> JobSpec:
    conf = dict(spec.conf)
    if OVERHEAD_KEY in conf:
        conf[OVERHEAD_KEY] = scaled(conf[OVERHEAD_KEY], factor)
    driver = spec.driver.model_copy(update={"memory": scaled(spec.driver.memory, factor)})
    return spec.model_copy(update={"driver": driver, "conf": conf})


def driver_pod_mib(spec: JobSpec) -> int:
    return pod_memory_mib("driver", spec.driver.memory, spec.conf, spec.is_python)


def decide(
    *, cause: str, reason: str, attempt: int, max_attempts: int, spec: JobSpec, oom_factor: float | None,
    node_groups: Any,
) -> RetryDecision:
    """After attempt `attempt` of `max_attempts` failed with `cause` (jobs.kube CAUSE_*)."""
    failed = f"attempt {attempt} of {max_attempts} failed ({reason})"
    if cause not in RETRYABLE_CAUSES and cause != CAUSE_OOM:
        return RetryDecision(False, f"{failed}; not retried: a new attempt fails the same way")
    if cause == CAUSE_OOM and oom_factor is None:
        return RetryDecision(False, f"{failed}; not retried: the driver ran out of memory, and only "
                                    "--retry-on-oom FACTOR retries that, with more memory")
    if attempt >= max_attempts:
        return RetryDecision(False, f"{failed}; no retries left (--retries {max_attempts - 1})")
    if cause != CAUSE_OOM:
        return RetryDecision(True, f"{failed}; a new driver pod can fix that: attempt {attempt + 1}", spec)
    assert oom_factor is not None
    bigger = with_more_driver_memory(spec, oom_factor)
    memory = bigger.driver.memory
    pod = driver_pod_mib(bigger)
    problem = fit_problem("driver", str(bigger.driver.cores), pod, memory, nodes_of(node_groups, "driver"))
    if problem is not None:
        return RetryDecision(False, f"{failed}; not retried: with {oom_factor:g}x memory {problem}")
    overhead = f", memoryOverhead {bigger.conf[OVERHEAD_KEY]}" if OVERHEAD_KEY in bigger.conf else ""
    return RetryDecision(
        True,
        f"{failed}; attempt {attempt + 1} with {oom_factor:g}x driver memory: {memory}{overhead} "
        f"(a {pod} MiB pod instead of {driver_pod_mib(spec)} MiB)",
        bigger,
    )
