"""The Spark image: build it from this checkout, tag it for the stack's ECR repository, push it.

Pure functions give each docker command as an argv list (never a shell string);
`require_docker`, `ecr_credentials` and `run_docker` are the I/O. The ECR password travels
only on `docker login --password-stdin`'s standard input: never in an argv, the
environment, a repr or a message.
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

DOCKER = "docker"
# The name `image build` gives the image locally; `image push` adds the ECR name as a second tag.
LOCAL_REPOSITORY = "spark-eks-spot"
DOCKERFILE = Path("image") / "Dockerfile"
# The node groups run AL2023_x86_64_STANDARD (infra/nodegroups.py). Without a fixed platform an
# arm64 laptop builds an arm64 image, and every pod on the cluster fails with "exec format error".
PLATFORM = "linux/amd64"
NO_DOCKER = "docker not found: install Docker (the CLI and a running engine) and put docker on PATH"


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


def build_argv(repo_root: Path, tag: str) -> list[str]:
    """`docker build` of image/Dockerfile with the checkout as context (.dockerignore keeps it to jobs/apps/)."""
    return [
        DOCKER, "build",
        "--platform", PLATFORM,
        "-f", str(repo_root / DOCKERFILE),
        "-t", local_image(tag),
        str(repo_root),
    ]


def tag_argv(repository_url: str, tag: str) -> list[str]:
    return [DOCKER, "tag", local_image(tag), remote_image(repository_url, tag)]


def login_argv(registry: str, username: str) -> list[str]:
    """`docker login` that reads the password from stdin; the argv holds no secret."""
    return [DOCKER, "login", "--username", username, "--password-stdin", registry]


def push_argv(repository_url: str, tag: str) -> list[str]:
    return [DOCKER, "push", remote_image(repository_url, tag)]


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

