"""Helpers for the submitter's guard tests: a spy on process launches, a job spec for a
recorded cluster submission, and a reader for the Java properties spark-submit sends.

The spy wraps `subprocess.Popen.__init__` (and `os.system`): it records how each process
was launched and then calls the real function, so the real process still runs. Every
`subprocess.run`/`check_output`/`os.popen` goes through `Popen.__init__`.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from jobs import PROJECT_ROOT
from tests.k8s_recorder import K8sRecorder, pod_list_route

NAMESPACE = "spark"
PODS = f"/api/v1/namespaces/{NAMESPACE}/pods"
WORDCOUNT_APP = PROJECT_ROOT / "jobs" / "apps" / "wordcount.py"
SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "csh", "tcsh", "fish", "cmd", "cmd.exe", "powershell", "pwsh"}


@dataclass(frozen=True)
class Launch:
    """One process start as the caller asked for it."""

    args: Any
    shell: bool
    executable: Any
    env: dict[str, str] | None
    # The private kubeconfig handed over in KUBECONFIG, read at launch: it is gone afterwards.
    kubeconfig_path: str | None
    kubeconfig_text: str | None
    kubeconfig_mode: int | None

    @property
    def program(self) -> str:
        first = self.args[0] if isinstance(self.args, (list, tuple)) else str(self.args).split()[0]
        return Path(str(first)).name


@dataclass
class ProcessSpy:
    launches: list[Launch] = field(default_factory=list)
    system_calls: list[str] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> ProcessSpy:
        real_init: Callable[..., None] = subprocess.Popen.__init__
        signature = inspect.signature(real_init)

        def recording_init(popen: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
            bound = signature.bind(popen, *args, **kwargs)
            bound.apply_defaults()
            env = bound.arguments["env"]
            path = env.get("KUBECONFIG") if env else None
            handed = Path(path) if path and Path(path).is_file() else None
            self.launches.append(Launch(
                bound.arguments["args"], bound.arguments["shell"], bound.arguments["executable"],
                dict(env) if env is not None else None, path,
                handed.read_text(encoding="utf-8") if handed else None, handed.stat().st_mode & 0o777 if handed else None,
            ))
            real_init(popen, *args, **kwargs)

        real_system = os.system

        def recording_system(command: str) -> int:
            self.system_calls.append(command)
            return real_system(command)

        monkeypatch.setattr(subprocess.Popen, "__init__", recording_init)
        monkeypatch.setattr(os, "system", recording_system)
        return self

    def assert_no_shell(self) -> None:
        """Every launch: an argv list, shell=False, no other executable, no shell as the program."""
        assert self.system_calls == []
        for launch in self.launches:
            assert launch.shell is False, launch
            assert isinstance(launch.args, (list, tuple)) and all(isinstance(a, (str, os.PathLike)) for a in launch.args), launch
            assert launch.executable is None, launch
            assert launch.program not in SHELLS and "-c" not in launch.args[:2], launch

    def of(self, program: str) -> list[Launch]:
        return [launch for launch in self.launches if launch.program == program]


def cluster_spec(directory: Path, bucket: str, *, conf: dict[str, str] | None = None, args: list[str] | None = None) -> Path:
    """The word count as a spec for the cluster, with an image tag (no git needed) and extras."""
    spec = {
        "name": "wordcount",
        "app": str(WORDCOUNT_APP),
        "args": ["{input}", "{output}", *(args or [])],
        "image": {"tag": "guard-test"},
        "input": f"s3a://{bucket}/data/reviews/",
        "output": f"s3a://{bucket}/output/guard/",
        "conf": conf or {},
    }
    path = directory / "job.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def drivers_succeed(recorder: K8sRecorder) -> None:
    """Pod lists answer with every POSTed driver, Succeeded: `--wait` then ends at once."""

    def posted() -> list[dict[str, Any]]:
        pods = []
        for request in recorder.requests:
            if request.method == "POST" and request.path == PODS:
                pod = dict(request.body)
                pod["metadata"] = {**pod["metadata"], "namespace": NAMESPACE, "creationTimestamp": "2026-01-01T00:00:00Z"}
                pod["status"] = {"phase": "Succeeded"}
                pods.append(pod)
        return pods

    recorder.route("GET", PODS, pod_list_route(posted))


def posted_driver(recorder: K8sRecorder) -> dict[str, Any]:
    posts = [r.body for r in recorder.requests if r.method == "POST" and r.path == PODS]
    assert len(posts) == 1
    return posts[0]


def driver_properties(recorder: K8sRecorder) -> dict[str, str]:
    """The driver's spark.properties from the ConfigMap spark-submit applied."""
    maps = [r.body for r in recorder.requests if r.method == "PATCH" and "/configmaps/" in r.path]
    found = [m["data"]["spark.properties"] for m in maps if "spark.properties" in (m.get("data") or {})]
    assert len(found) == 1
    return java_properties(found[0])


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)",
                  lambda m: chr(int(m.group(1)[1:], 16)) if len(m.group(1)) == 5 else _ESCAPES.get(m.group(1), m.group(1)),
                  text)


def java_properties(text: str) -> dict[str, str]:
    """What java.util.Properties.store wrote (one entry a line, as Spark writes them)."""
    entries = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "!")):
            continue
        match = re.match(r"((?:\\.|[^=:\\])*)[=:](.*)", line)
        assert match, line
        entries[_unescape(match.group(1)).strip()] = _unescape(match.group(2))
    return entries
