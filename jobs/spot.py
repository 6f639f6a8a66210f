"""What executors on Spot need from Spark, in one place: the cluster submission and the
interruption drill (`python -m bench drill`) use the same keys.

On a Spot reclaim notice the executor pod's preStop hook sends SIGPWR (Spark's
`decom.sh`); with these settings the executor then hands its shuffle and cached RDD
blocks to peers, or to the fallback storage when no peer can take them, before the
instance goes.
"""

from __future__ import annotations


def decommission_conf(fallback_storage_path: str | None) -> dict[str, str]:
    """Spark's graceful-decommissioning settings; blocks fall back to `fallback_storage_path` if given."""
    conf = {
        "spark.decommission.enabled": "true",
        "spark.storage.decommission.enabled": "true",
        "spark.storage.decommission.shuffleBlocks.enabled": "true",
        "spark.storage.decommission.rddBlocks.enabled": "true",
    }
    if fallback_storage_path is not None:
        conf["spark.storage.decommission.fallbackStorage.path"] = fallback_storage_path
        conf["spark.storage.decommission.fallbackStorage.cleanUp"] = "true"
    return conf


# A Spot reclaim gives two minutes' notice. Since Spark 4.1, Spark itself sets every executor
# pod's terminationGracePeriodSeconds from this conf (default 30s) and overrides the pod
# template's value (BasicExecutorFeatureStep; Config.scala
# KUBERNETES_EXECUTOR_TERMINATION_GRACE_PERIOD_SECONDS): 90 s leaves decommissioning time to
# move blocks and still ends inside the notice.
SPOT_NOTICE_SECONDS = 120
EXECUTOR_TERMINATION_GRACE_SECONDS = 90
EXECUTOR_GRACE_KEY = "spark.kubernetes.executor.terminationGracePeriodSeconds"


def executor_grace_conf(seconds: int = EXECUTOR_TERMINATION_GRACE_SECONDS) -> dict[str, str]:
    """The executor pods' termination grace period, which Spark (not the pod template) sets."""
    return {EXECUTOR_GRACE_KEY: f"{seconds}s"}
