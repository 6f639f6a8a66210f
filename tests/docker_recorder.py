"""A stand-in for the docker CLI: it records what it was given and exits as told.

No Docker engine runs here, so tests put an executable named `docker` first on PATH (only
inside the test, through the PATH variable) that runs this file. Each call appends one JSON
line to the file named by DOCKER_RECORDER_LOG: the arguments after `docker`, what arrived on
stdin (read only for `--password-stdin`, as docker does) and the environment it saw.
DOCKER_RECORDER_EXIT=push=1,login=3 makes those docker subcommands fail with that code (a buildx
subcommand is named `buildx-build`, `buildx-inspect` …).

It can say no the way docker does: DOCKER_RECORDER_BUILDX=absent answers every `docker buildx …`
as a docker CLI without the Buildx plugin does ("docker: 'buildx' is not a docker command.", a
non-zero exit); DOCKER_RECORDER_PLATFORMS sets what `docker buildx inspect` lists on its
`Platforms:` line (docker/buildx commands/inspect.go), by default a docker-container builder on an
x86_64 host with QEMU for arm64.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

LOG_VARIABLE = "DOCKER_RECORDER_LOG"
EXIT_VARIABLE = "DOCKER_RECORDER_EXIT"
BUILDX_VARIABLE = "DOCKER_RECORDER_BUILDX"
PLATFORMS_VARIABLE = "DOCKER_RECORDER_PLATFORMS"
DEFAULT_PLATFORMS = "linux/amd64*, linux/amd64/v2, linux/amd64/v3, linux/arm64, linux/riscv64, linux/386"


def inspect_output(platforms: str) -> str:
    """What `docker buildx inspect --bootstrap` prints for a one-node builder (tab-aligned by docker)."""
    return (
        "Name:          spark-builder\n"
        "Driver:        docker-container\n"
        "Last Activity: 2026-12-01 10:00:00 +0000 UTC\n"
        "\n"
        "Nodes:\n"
        "Name:                  spark-builder0\n"
        "Endpoint:              unix:///var/run/docker.sock\n"
        "Status:                running\n"
        "BuildKit version:      v0.23.2\n"
        f"Platforms:             {platforms}\n"
    )


def exit_codes(setting: str) -> dict[str, int]:
    """`push=1,login=3` → {"push": 1, "login": 3}."""
    codes = {}
    for item in filter(None, setting.split(",")):
        command, _, code = item.partition("=")
        codes[command.strip()] = int(code)
    return codes


def record(arguments: list[str]) -> int:
    stdin = sys.stdin.read() if "--password-stdin" in arguments else None
    entry = {"argv": arguments, "stdin": stdin, "env": dict(os.environ)}
    with open(os.environ[LOG_VARIABLE], "a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")
    command = arguments[0] if arguments else ""
    if command == "buildx":
        if os.environ.get(BUILDX_VARIABLE) == "absent":
            print("docker: 'buildx' is not a docker command.\nSee 'docker --help'", file=sys.stderr)
            return 1
        command = "buildx-" + (arguments[1] if len(arguments) > 1 else "")
    code = exit_codes(os.environ.get(EXIT_VARIABLE, "")).get(command, 0)
    if code:
        # Like docker: its own complaint on stderr, which the CLI leaves on the terminal.
        print(f"recorded docker {command}: failing with exit code {code} as the test asked", file=sys.stderr)
    elif command == "login":
        print("Login Succeeded")
    elif command == "buildx-version":
        print("github.com/docker/buildx v0.26.1 1a8287f")
    elif command == "buildx-inspect":
        print(inspect_output(os.environ.get(PLATFORMS_VARIABLE, DEFAULT_PLATFORMS)), end="")
    return code


def install(bin_dir: Path) -> Path:
    """Write `bin_dir/docker`, an executable that runs this recorder with the test's Python."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    docker = bin_dir / "docker"
    docker.write_text(
        f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(Path(__file__).resolve()))} \"$@\"\n",
        encoding="utf-8",
    )
    docker.chmod(0o755)
    return docker


def calls(log: Path) -> list[dict[str, Any]]:
    """Every recorded call, oldest first, with `argv` starting at `docker`."""
    if not log.exists():
        return []
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    return [{**entry, "argv": ["docker", *entry["argv"]]} for entry in entries]


if __name__ == "__main__":
    sys.exit(record(sys.argv[1:]))
