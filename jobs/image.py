"""The Spark image: build it from this checkout for both node architectures, push it to the stack's ECR repository.

One image serves x86_64 and arm64 (Graviton) executor groups: `docker buildx build --platform
linux/amd64,linux/arm64` makes one image per platform and, with `--push`, one manifest list
that each node resolves to its own architecture (docker docs, build/building/multi-platform.md).

How build and push split: a multi-platform result cannot be `--load`ed into Docker's classic
image store ("docker exporter does not currently support exporting manifest lists", docker/buildx
build/opt.go), so `image build` builds both platforms into buildx's build cache (no output: the
builder keeps the layers; with the containerd image store the default builder loads it too), which
proves the Dockerfile builds for both, and `image push` runs the same build with `--push`, which
the cache makes a re-use rather than a rebuild. Both check first that buildx is installed and that
its builder can build both platforms (`docker buildx inspect --bootstrap`, its Platforms lines).

Pure functions give each docker command as an argv list (never a shell string);
`require_docker`, `require_multiarch_builder`, `ecr_credentials` and `run_docker` are the I/O.
The ECR password travels only on `docker login --password-stdin`'s standard input: never in an
argv, the environment, a repr or a message.
"""

from __future__ import annotations

import base64
import binascii
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from jobs.launch import EXIT_FAILED, LaunchError
from jobs.spec import IMAGE_TAG
from jobs.tags import IMAGE_PLATFORMS

DOCKER = "docker"
# The name `image build` gives the image; `image push` gives it the ECR repository's name.
LOCAL_REPOSITORY = "spark-eks-spot"
DOCKERFILE = Path("image") / "Dockerfile"
# Node groups run AL2023 x86_64 or ARM_64 (infra/nodegroups.py AMI_TYPES). An image for one platform
# only fails with "exec format error" on the other's nodes, so every build is for both.
PLATFORMS = IMAGE_PLATFORMS
PLATFORM = ",".join(PLATFORMS)  # the --platform value
NO_DOCKER = "docker not found: install Docker (the CLI and a running engine) and put docker on PATH"
NO_BUILDX = ("docker buildx not found: install the Docker Buildx plugin (docker-buildx-plugin, or Docker Desktop), "
             f"which builds the image for {' and '.join(IMAGE_PLATFORMS)}")
# QEMU for the platform this machine lacks (docker docs, multi-platform builds with emulation).
BINFMT_HINT = "docker run --privileged --rm tonistiigi/binfmt --install all"
# When buildx refuses a multi-platform build: its default `docker` driver cannot build one with the
# classic image store (docker/buildx build/utils.go notSupported: "Switch to a different driver, or
# turn on the containerd image store").
MULTI_PLATFORM_HINT = ("a build for two platforms needs a docker-container builder "
                       "(docker buildx create --driver docker-container --use --bootstrap) or Docker's containerd image store")


@dataclass(frozen=True)
class RegistryCredentials:
    """What ECR's authorization token decodes to; the password never shows in a repr."""

    username: str
    password: str = field(repr=False)


def check_tag(tag: str) -> str:
    """A docker tag, or LaunchError naming --tag and the rule."""
    if not IMAGE_TAG.match(tag):
        raise LaunchError(
            f"--tag {tag!r} is not an image tag: use up to 128 letters, digits, '_', '.' or '-', "
            "not starting with '.' or '-'"
        )
    return tag


def local_image(tag: str) -> str:
    return f"{LOCAL_REPOSITORY}:{tag}"


def remote_image(repository_url: str, tag: str) -> str:
    return f"{repository_url}:{tag}"


def registry_host(repository_url: str) -> str:
    """The registry part of `HOST/NAME`: docker keys its stored login by this host."""
    return repository_url.split("/", 1)[0]


def _buildx_argv(repo_root: Path, image: str, *output: str) -> list[str]:
    return [
        DOCKER, "buildx", "build",
        "--platform", PLATFORM,
        "-f", str(repo_root / DOCKERFILE),
        "-t", image,
        *output,
        str(repo_root),
    ]


def build_argv(repo_root: Path, tag: str) -> list[str]:
    """`docker buildx build` of image/Dockerfile for both platforms, the checkout as context
    (.dockerignore keeps it to jobs/apps/), no output: the result stays in the build cache."""
    return _buildx_argv(repo_root, local_image(tag))


def push_argv(repo_root: Path, repository_url: str, tag: str) -> list[str]:
    """The same build with `--push`: one manifest list of both platforms in the repository."""
    return _buildx_argv(repo_root, remote_image(repository_url, tag), "--push")


def buildx_version_argv() -> list[str]:
    return [DOCKER, "buildx", "version"]


def buildx_inspect_argv() -> list[str]:
    """The current builder, started if it is not (`--bootstrap`), so its platforms are known."""
    return [DOCKER, "buildx", "inspect", "--bootstrap"]


def builder_platforms(inspect_output: str) -> set[str]:
    """Every platform the builder's nodes offer, from `docker buildx inspect`'s `Platforms:` lines
    (docker/buildx commands/inspect.go; a `*` marks one a node was configured for)."""
    found: set[str] = set()
    for line in inspect_output.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Platforms":
            found.update(item.strip().rstrip("*") for item in value.split(",") if item.strip())
    return found


def login_argv(registry: str, username: str) -> list[str]:
    """`docker login` that reads the password from stdin; the argv holds no secret."""
    return [DOCKER, "login", "--username", username, "--password-stdin", registry]


def decode_authorization(data: Mapping[str, Any]) -> RegistryCredentials:
    """One entry of `get_authorization_token`'s authorizationData: base64 of `user:password`."""
    token = data.get("authorizationToken")
    try:
        decoded = base64.b64decode(str(token), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    username, _, password = decoded.partition(":")
    if not token or not username or not password:
        # Never echo the token: it is the password.
        raise LaunchError(
            "ECR returned an authorization token that is not base64 of user:password; try again", EXIT_FAILED
        )
    return RegistryCredentials(username, password)


_ECR_HOST = re.compile(r"^([0-9]{12})\.dkr\.ecr\.")


def repository_name(repository_url: str) -> str:
    """`123456789012.dkr.ecr.us-west-2.amazonaws.com/spark-dev/spark` → `spark-dev/spark`."""
    return repository_url.split("/", 1)[1] if "/" in repository_url else repository_url


def registry_id(repository_url: str) -> str | None:
    """The account of an ECR registry host; None for another host (the caller's own registry)."""
    match = _ECR_HOST.match(repository_url)
    return match.group(1) if match else None


def image_in_registry(region: str, repository_url: str, tag: str) -> bool:
    """Whether ECR's repository holds `tag` (ecr:DescribeImages; ImageNotFoundException means no)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    request: dict[str, Any] = {"repositoryName": repository_name(repository_url), "imageIds": [{"imageTag": tag}]}
    account = registry_id(repository_url)
    if account:
        request["registryId"] = account
    try:
        boto3.session.Session(region_name=region).client("ecr").describe_images(**request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ImageNotFoundException":
            return False
        raise _aws_failure(region, error, f"ECR image {remote_image(repository_url, tag)}") from None
    except BotoCoreError as error:
        raise _aws_failure(region, error, f"ECR image {remote_image(repository_url, tag)}") from None
    return True


def _aws_failure(region: str, error: Exception, action: str = "") -> LaunchError:
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    action = action or f"ECR login token (region {region})"
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return LaunchError(f"{action}: no AWS credentials; configure them (aws configure, AWS_PROFILE or SSO login)")
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "error")
        message = error.response.get("Error", {}).get("Message", "")
        return LaunchError(f"{action}: ECR refused ({code}{': ' + message if message else ''})", EXIT_FAILED)
    first_line = (str(error).splitlines() or [""])[0]
    return LaunchError(f"{action}: {error.__class__.__name__}: {first_line}", EXIT_FAILED)


def ecr_credentials(region: str) -> RegistryCredentials:
    """A 12-hour docker login for ECR in the stack's region, from the caller's AWS credentials.

    The token opens every registry the caller may use (ECR's GetAuthorizationToken), so we
    log in to the host of imageRepositoryUrl, where the push goes, rather than to the
    token's proxyEndpoint (the caller's own default registry).
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        # A session of its own: boto3's module-level default session caches credentials.
        response = boto3.session.Session(region_name=region).client("ecr").get_authorization_token()
    except (BotoCoreError, ClientError) as error:
        raise _aws_failure(region, error) from None
    entries = response.get("authorizationData") or []
    if not entries:
        raise LaunchError(
            f"ECR login token (region {region}): ECR returned no authorization data; try again", EXIT_FAILED
        )
    return decode_authorization(entries[0])


def require_docker() -> None:
    if shutil.which(DOCKER) is None:
        raise LaunchError(NO_DOCKER)


def _capture(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise LaunchError(NO_DOCKER) from None


def require_multiarch_builder() -> None:
    """buildx is installed and its current builder builds every platform in PLATFORMS, or one line
    saying which is missing and how to add it (exit 2: a missing tool)."""
    if _capture(buildx_version_argv()).returncode != 0:
        raise LaunchError(NO_BUILDX)
    inspected = _capture(buildx_inspect_argv())
    if inspected.returncode != 0:
        first = next((line.strip() for line in (inspected.stderr or inspected.stdout).splitlines() if line.strip()), "")
        raise LaunchError(f"docker buildx inspect --bootstrap failed (exit code {inspected.returncode}"
                          f"{': ' + first if first else ''}); check that the Docker engine runs", EXIT_FAILED)
    offered = builder_platforms(inspected.stdout)
    missing = [platform for platform in PLATFORMS if platform not in offered]
    if missing:
        raise LaunchError(
            f"the current buildx builder cannot build {', '.join(missing)} (it offers {', '.join(sorted(offered)) or 'none'}): "
            f"add QEMU emulation with `{BINFMT_HINT}`, or `docker buildx use` a builder with a node of that architecture"
        )


def run_docker(step: str, argv: list[str], stdin_text: str | None = None, hint: str = "") -> None:
    """Run one docker command with its output on the terminal; LaunchError naming the step if it fails.

    `stdin_text` (the password, for login) goes to the process's stdin only. Every other
    step gets an empty stdin, so docker can never stop to ask for input.
    """
    try:
        if stdin_text is None:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, check=False)
        else:
            done = subprocess.run(argv, input=stdin_text, text=True, check=False)
    except FileNotFoundError:
        raise LaunchError(NO_DOCKER) from None
    if done.returncode != 0:
        message = f"{step} failed (docker exit code {done.returncode}); docker's output is above"
        raise LaunchError(f"{message}; {hint}" if hint else message, EXIT_FAILED)


def docker_login(registry: str, credentials: RegistryCredentials) -> None:
    """Log docker in to `registry`; the password goes on stdin, as `--password-stdin` expects."""
    argv = login_argv(registry, credentials.username)
    run_docker(f"docker login to {registry}", argv, stdin_text=credentials.password)

