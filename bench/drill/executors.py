"""Find this drill's executor JVMs and interrupt them the way a Spot reclaim does on EKS.

On `local-cluster[N,C,M]` every executor is its own JVM, started by a standalone worker that
runs inside the driver's JVM, with a command line like Spark's `decom.sh` looks for:
`java … org.apache.spark.executor.CoarseGrainedExecutorBackend --driver-url … --executor-id 1
… --app-id app-… --worker-url …`. A process is taken for one of ours only if all three hold:
that class is an argument of its own, `--app-id` is this run's application, and the process
descends from the spark-submit the drill started. Other helpers' Spark runs, Python workers
and the driver never match.

Signals go through a pidfd opened before the process is checked, so a pid that is reused
after the executor exits can never receive the SIGKILL.
"""

from __future__ import annotations

import os
import select
import signal
from dataclasses import dataclass
from pathlib import Path

EXECUTOR_CLASS = "org.apache.spark.executor.CoarseGrainedExecutorBackend"
PROC = Path("/proc")


def _argv(pid: int, proc: Path = PROC) -> list[str]:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def _parent(pid: int, proc: Path = PROC) -> int | None:
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields resume after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


def descends_from(pid: int, ancestor: int, proc: Path = PROC) -> bool:
    seen = set()
    current: int | None = pid
    while current and current not in seen:
        if current == ancestor:
            return True
        seen.add(current)
        current = _parent(current, proc)
    return False


def _flag(argv: list[str], name: str) -> str | None:
    for index, part in enumerate(argv[:-1]):
        if part == name:
            return argv[index + 1]
    return None


def executor_id_of(pid: int, app_id: str, ancestor: int, proc: Path = PROC) -> str | None:
    """The executor id if `pid` is an executor JVM of `app_id` under `ancestor`, else None."""
    argv = _argv(pid, proc)
    if EXECUTOR_CLASS not in argv or _flag(argv, "--app-id") != app_id:
        return None
    if not descends_from(pid, ancestor, proc):
        return None
    return _flag(argv, "--executor-id")


def executor_pids(app_id: str, ancestor: int, proc: Path = PROC) -> dict[str, int]:
    """executor id → pid, for the executors of `app_id` started under process `ancestor`."""
    found: dict[str, int] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            executor = executor_id_of(int(entry.name), app_id, ancestor, proc)
            if executor is not None:
                found[executor] = int(entry.name)
    return found


@dataclass
class ExecutorHandle:
    """One executor JVM held by a pidfd: signals reach it, or nothing."""

    executor_id: str
    pid: int
    pidfd: int

    @classmethod
    def open(cls, executor_id: str, pid: int, app_id: str, ancestor: int) -> ExecutorHandle | None:
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return None
        # Checked after the pidfd is held: the pid now names this process or one already gone.
        if executor_id_of(pid, app_id, ancestor) != executor_id:
            os.close(pidfd)
            return None
        return cls(executor_id, pid, pidfd)

    def send(self, signum: signal.Signals) -> bool:
        """Send `signum`; False if the process had already exited."""
        try:
            signal.pidfd_send_signal(self.pidfd, signum)
            return True
        except ProcessLookupError:
            return False

    def exited(self) -> bool:
        readable, _, _ = select.select([self.pidfd], [], [], 0)
        return bool(readable)

    def close(self) -> None:
        os.close(self.pidfd)
