"""What .ci/checkov scans: the rendered Spark RBAC manifests, and the skip list's reasons."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.plan import ROOT
from infra.spark_rbac import IRSA_ANNOTATION, rbac_manifests
from policy.manifests import main, stack_rbac_manifests, write_manifests


def test_rendered_manifests_are_the_programs_own(tmp_path: Path) -> None:
    """One YAML file per object, equal to what infra.spark_rbac gives the Pulumi program."""
    manifests = stack_rbac_manifests("dev")
    paths = write_manifests(manifests, tmp_path)
    assert sorted(p.name for p in paths) == [
        "namespace-spark.yaml",
        "role-spark-driver.yaml",
        "rolebinding-spark-driver.yaml",
        "serviceaccount-spark-executor.yaml",
        "serviceaccount-spark.yaml",
    ]
    loaded = [yaml.safe_load(p.read_text()) for p in paths]
    expected = rbac_manifests("spark", "spark", loaded[1]["metadata"]["annotations"][IRSA_ANNOTATION])
    assert loaded == expected
    assert loaded[1]["metadata"]["annotations"][IRSA_ANNOTATION].startswith("arn:aws:iam::")


def test_rendering_never_overwrites_and_answers_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--stack", "dev"]) == 0
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    capsys.readouterr()
    assert main([str(tmp_path), "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "already exists" in err
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before
    assert main([str(tmp_path / "other"), "--stack", "no-such-stack"]) == 2
    assert "Pulumi.no-such-stack.yaml" in capsys.readouterr().err


def test_rendering_runs_as_a_module(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "policy.manifests", str(tmp_path / "out"), "--stack", "dev"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 5


def test_every_skipped_checkov_check_has_its_reason() -> None:
    """The config names the kubernetes framework and gives each skip a reason on its line."""
    text = (ROOT / ".checkov.yaml").read_text()
    config = yaml.safe_load(text)
    assert config["framework"] == ["kubernetes"]
    skipped = config["skip-check"]
    assert skipped and len(skipped) == len(set(skipped))
    for check in skipped:
        assert re.fullmatch(r"CKV2?_K8S_\d+", check), check
        line = next(line for line in text.splitlines() if re.match(rf"\s*-\s*{check}\s", line + " "))
        reason = line.split("#", 1)[1].strip() if "#" in line else ""
        assert len(reason.split()) >= 5, f"{check} has no reason"


def test_the_ci_script_scans_pod_templates_and_every_stacks_rbac() -> None:
    script = (ROOT / ".ci" / "checkov").read_text()
    assert "-d pod_templates" in script
    assert "python -m policy.manifests" in script and "Pulumi.*.yaml" in script
    assert "requirements-checkov.txt" in script and "--config-file .checkov.yaml" in script
    pins = [line for line in (ROOT / "requirements-checkov.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert "checkov==3.3.30" in pins and all("==" in line for line in pins)
