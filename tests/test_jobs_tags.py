"""The default image tag: the short commit of the work tree, `-dirty` when it has changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.tags import COMMIT_ABBREV, TagError, default_image_tag
from tests.conftest import git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("build/\n")
    (tmp_path / "app.py").write_text("print(1)\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "first")
    return tmp_path


def test_clean_tree_is_the_short_commit(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    tag = default_image_tag(repo)
    assert tag == head[:COMMIT_ABBREV]


def test_changed_file_marks_dirty(repo: Path) -> None:
    (repo / "app.py").write_text("print(2)\n")
    assert default_image_tag(repo) == git(repo, "rev-parse", "HEAD")[:COMMIT_ABBREV] + "-dirty"


def test_untracked_file_marks_dirty_but_ignored_does_not(repo: Path) -> None:
    """An image build copies untracked files too; ignored build output does not count."""
    (repo / "build").mkdir()
    (repo / "build" / "out.bin").write_text("x")
    assert not default_image_tag(repo).endswith("-dirty")
    (repo / "new_app.py").write_text("print(3)\n")
    assert default_image_tag(repo).endswith("-dirty")


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(TagError, match="is not a git work tree with a commit, so the image tag cannot default to the commit; set image.tag"):
        default_image_tag(tmp_path)
