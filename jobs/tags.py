"""The image tag of a work tree: the short commit, `-dirty` when the tree has changes.

The image build and the submitter both call `default_image_tag`, so a job submitted from
a checkout runs the image built from that same checkout.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# A fixed abbreviation: git's default grows with the repository, which would give the
# same commit a different tag later on.
COMMIT_ABBREV = 12


class TagError(RuntimeError):
    """No tag can be derived (no git, or not a repository); the message says what to do."""


def _git(repo_root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo_root), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise TagError("git is not installed, so the image tag cannot default to the commit; set image.tag") from None
    if done.returncode != 0:
        raise TagError(
            f"{repo_root} is not a git work tree with a commit, so the image tag cannot default "
            "to the commit; set image.tag"
        )
    return done.stdout


def default_image_tag(repo_root: Path) -> str:
    """Short commit of HEAD, plus `-dirty` when tracked or untracked (not ignored) files changed."""
    commit = _git(repo_root, "rev-parse", f"--short={COMMIT_ABBREV}", "HEAD").strip()
    dirty = _git(repo_root, "status", "--porcelain").strip() != ""
    return f"{commit}-dirty" if dirty else commit
