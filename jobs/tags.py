"""The image tag of a checkout: a hash of exactly what goes into the image.

`docker buildx build` reads image/Dockerfile and a context that .dockerignore cuts down to
jobs/apps/ (less `__pycache__`), and builds it for every platform in IMAGE_PLATFORMS into one
manifest list. The tag hashes those inputs and the platform list and nothing else: a tag names
an image for both architectures the node groups may run, and a job spec, a README edit or an
`outputs.json` next to the checkout leaves it alone, so the image pushed before them is still
the image a submission names. The same inputs always give the same tag, so a tag never has to
move (ECR tags can be immutable).

The image build and the submitter both call `default_image_tag`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# The architectures of the node groups' AMIs (infra/nodegroups.py AMI_TYPES: AL2023 x86_64 and
# ARM_64): one image for both, so an executor runs on whichever Spot group the autoscaler grows.
IMAGE_PLATFORMS = ("linux/amd64", "linux/arm64")
# What goes into the image besides the platforms; .dockerignore re-includes only jobs/apps/.
DOCKERFILE = Path("image") / "Dockerfile"
DOCKERIGNORE = Path(".dockerignore")
APPS = Path("jobs") / "apps"
# Left out of the build context by .dockerignore (`jobs/apps/**/__pycache__`).
IGNORED_PARTS = ("__pycache__",)
TAG_PREFIX = "img-"
DIGEST_CHARS = 16


class TagError(RuntimeError):
    """No tag can be derived (an input is missing); the message says what to do."""


def image_inputs(repo_root: Path) -> list[Path]:
    """The files that go into the image, relative to the checkout, in a stable order."""
    for required in (DOCKERFILE, DOCKERIGNORE):
        if not (repo_root / required).is_file():
            raise TagError(f"{required.as_posix()} is missing from {repo_root}, so the image tag cannot be derived; "
                           "restore it from git or set image.tag")
    apps = sorted(
        path.relative_to(repo_root)
        for path in (repo_root / APPS).rglob("*")
        if path.is_file() and not any(part in IGNORED_PARTS for part in path.relative_to(repo_root).parts)
    )
    return [DOCKERFILE, DOCKERIGNORE, *apps]


def default_image_tag(repo_root: Path, platform: str = ",".join(IMAGE_PLATFORMS)) -> str:
    """`img-` and 16 hex digits of SHA-256 over the platform list and each input's path and bytes."""
    digest = hashlib.sha256(f"platform\0{platform}\0".encode())
    for relative in image_inputs(repo_root):
        content = (repo_root / relative).read_bytes()
        digest.update(f"{relative.as_posix()}\0{len(content)}\0".encode())
        digest.update(content)
    return TAG_PREFIX + digest.hexdigest()[:DIGEST_CHARS]
