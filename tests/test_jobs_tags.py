"""The default image tag: a hash of exactly what `docker build` puts into the image."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from jobs.image import PLATFORM
from jobs.tags import TagError, default_image_tag, image_inputs
from tests.conftest import REPO_ROOT


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the image's inputs (Dockerfile, .dockerignore, jobs/apps/) plus unrelated files."""
    (tmp_path / "image").mkdir()
    shutil.copy(REPO_ROOT / "image" / "Dockerfile", tmp_path / "image" / "Dockerfile")
    shutil.copy(REPO_ROOT / ".dockerignore", tmp_path / ".dockerignore")
    shutil.copytree(REPO_ROOT / "jobs" / "apps", tmp_path / "jobs" / "apps", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "README.md").write_text("readme\n")
    return tmp_path


def test_tag_is_a_content_hash(repo: Path) -> None:
    """`img-` and 16 hex digits; the same inputs in another directory give the same tag."""
    tag = default_image_tag(repo)
    assert re.fullmatch(r"img-[0-9a-f]{16}", tag)
    assert default_image_tag(REPO_ROOT) == tag


@pytest.mark.parametrize("path", ["outputs.json", "outputs-prod.json", "my-job.yaml", "README.md", "jobs/spec.py"])
def test_files_outside_the_image_leave_the_tag_alone(repo: Path, path: str) -> None:
    """A spec, the README's outputs.json (kubeconfig inside) or the submitter's own code are not in the
    image (.dockerignore keeps only jobs/apps/), so they cannot make a pushed image's tag go stale."""
    before = default_image_tag(repo)
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("changed\n")
    assert default_image_tag(repo) == before


@pytest.mark.parametrize("path", ["jobs/apps/wordcount.py", "jobs/apps/new_app.py", "image/Dockerfile", ".dockerignore"])
def test_each_image_input_moves_the_tag(repo: Path, path: str) -> None:
    before = default_image_tag(repo)
    with open(repo / path, "a", encoding="utf-8") as handle:
        handle.write("# changed\n")
    assert default_image_tag(repo) != before


def test_pycache_is_not_an_input_and_the_platform_is(repo: Path) -> None:
    """.dockerignore drops jobs/apps/**/__pycache__; a different --platform is a different image."""
    before = default_image_tag(repo, PLATFORM)
    (repo / "jobs" / "apps" / "__pycache__").mkdir()
    (repo / "jobs" / "apps" / "__pycache__" / "wordcount.cpython-311.pyc").write_bytes(b"\0")
    assert default_image_tag(repo, PLATFORM) == before
    assert default_image_tag(repo, "linux/arm64") != before
    assert Path("jobs/apps/__pycache__/wordcount.cpython-311.pyc") not in image_inputs(repo)


def test_inputs_match_what_dockerignore_lets_through() -> None:
    """The tag's inputs are the Dockerfile, .dockerignore and jobs/apps/, the only path the
    .dockerignore re-includes and the only COPY source of the Dockerfile."""
    patterns = [p.strip() for p in (REPO_ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*" and [p for p in patterns if p.startswith("!")] == ["!jobs/apps/"]
    copies = [line.split()[1] for line in (REPO_ROOT / "image" / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")]
    assert copies == ["jobs/apps/"]
    inputs = image_inputs(REPO_ROOT)
    assert inputs[:2] == [Path("image/Dockerfile"), Path(".dockerignore")]
    assert all(path.parts[:2] == ("jobs", "apps") for path in inputs[2:])


def test_missing_dockerfile_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(TagError, match=r"image/Dockerfile is missing from .*; restore it from git or set image.tag"):
        default_image_tag(tmp_path)
