"""`python -m jobs image build|push`: the docker commands it runs, the ECR login, the tag.

docker is the recorder in tests/docker_recorder.py, first on PATH only inside each test (it can
lack the buildx plugin or an arm64-capable builder); ECR is moto's server on 127.0.0.1 (it hands
out a real-shaped authorization token). Both commands build for linux/amd64 and linux/arm64 with
buildx: `build` into buildx's cache, `push` the same build with --push (jobs/image.py says why).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest

from jobs.__main__ import main
from jobs.image import PLATFORM, PLATFORMS, RegistryCredentials, builder_platforms, decode_authorization
from jobs.launch import LaunchError
from jobs.tags import default_image_tag
from tests import docker_recorder
from tests.conftest import REPO_ROOT, TEST_REGION

MISSING_DOCKER = "jobs: error: docker not found: install Docker (the CLI and a running engine) and put docker on PATH\n"
PREFLIGHT = [["docker", "buildx", "version"], ["docker", "buildx", "inspect", "--bootstrap"]]
TWO_PLATFORMS_HINT = ("a build for two platforms needs a docker-container builder "
                      "(docker buildx create --driver docker-container --use --bootstrap) or Docker's containerd image store")


@dataclass
class Docker:
    """The recorder on PATH: what each docker call received; `fail` makes a subcommand fail."""

    log: Path
    monkeypatch: pytest.MonkeyPatch

    def calls(self) -> list[dict[str, Any]]:
        return docker_recorder.calls(self.log)

    def argvs(self) -> list[list[str]]:
        return [call["argv"] for call in self.calls()]

    def fail(self, command: str, code: int) -> None:
        self.monkeypatch.setenv(docker_recorder.EXIT_VARIABLE, f"{command}={code}")

    def without_buildx(self) -> None:
        self.monkeypatch.setenv(docker_recorder.BUILDX_VARIABLE, "absent")

    def builder_offers(self, platforms: str) -> None:
        self.monkeypatch.setenv(docker_recorder.PLATFORMS_VARIABLE, platforms)


@pytest.fixture
def docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Docker:
    bin_dir = docker_recorder.install(tmp_path / "recorder-bin").parent
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    log = tmp_path / "docker-calls.jsonl"
    monkeypatch.setenv(docker_recorder.LOG_VARIABLE, str(log))
    for variable in (docker_recorder.EXIT_VARIABLE, docker_recorder.BUILDX_VARIABLE, docker_recorder.PLATFORMS_VARIABLE):
        monkeypatch.delenv(variable, raising=False)
    return Docker(log, monkeypatch)


def _ecr() -> Any:
    return boto3.session.Session(region_name=TEST_REGION).client("ecr")


@pytest.fixture
def repository_url(aws_env: str) -> str:
    """A repository in moto's ECR, as the stack's imageRepositoryUrl would name it."""
    created = _ecr().create_repository(repositoryName=f"spark-test-{uuid.uuid4().hex[:8]}/spark")
    return created["repository"]["repositoryUri"]


@pytest.fixture
def ecr_token(aws_env: str) -> dict[str, str]:
    """What moto's ECR hands out, decoded here independently of the code under test."""
    [data] = _ecr().get_authorization_token()["authorizationData"]
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return {"token": data["authorizationToken"], "username": username, "password": password,
            "proxyEndpoint": data["proxyEndpoint"]}


def _only_error_line(err: str) -> str:
    """The CLI's own complaint (docker's output may stand above it): exactly one line."""
    ours = [line for line in err.splitlines() if line.startswith("jobs:")]
    assert len(ours) == 1, err
    assert err.splitlines()[-1] == ours[0]
    return ours[0]


# --- build ---------------------------------------------------------------------------------


def test_build_checks_buildx_then_builds_both_platforms(docker: Docker, capfd: pytest.CaptureFixture[str]) -> None:
    """buildx present, its builder offers both platforms, then one `docker buildx build` of image/Dockerfile,
    the checkout as context, for linux/amd64 and linux/arm64, with no output (the build cache keeps it)."""
    assert main(["image", "build", "--tag", "v1.2"]) == 0
    assert docker.argvs() == [*PREFLIGHT, [
        "docker", "buildx", "build", "--platform", "linux/amd64,linux/arm64",
        "-f", str(REPO_ROOT / "image" / "Dockerfile"),
        "-t", "spark-eks-spot:v1.2",
        str(REPO_ROOT),
    ]]
    assert [call["stdin"] for call in docker.calls()] == [None, None, None]
    out, err = capfd.readouterr()
    assert out.splitlines()[-1] == (
        "built spark-eks-spot:v1.2 for linux/amd64,linux/arm64 (kept in buildx's build cache); "
        "push it with: python -m jobs image push --tag v1.2 --outputs FILE | --stack NAME"
    )
    assert err == ""


def test_build_tag_defaults_to_the_checkout_tag_that_submit_uses(docker: Docker) -> None:
    """Without --tag the image gets jobs.tags.default_image_tag of this checkout."""
    assert main(["image", "build"]) == 0
    call = docker.argvs()[-1]
    assert call[call.index("-t") + 1] == f"spark-eks-spot:{default_image_tag(REPO_ROOT)}"


def test_failing_build_exits_1_with_one_line(docker: Docker, capfd: pytest.CaptureFixture[str]) -> None:
    """buildx's own error stays above; our line names the step and the usual cause (docker/buildx
    build/utils.go: a multi-platform build "is not supported for the docker driver")."""
    docker.fail("buildx-build", 1)
    assert main(["image", "build", "--tag", "v1"]) == 1
    assert _only_error_line(capfd.readouterr().err) == (
        "jobs: error: docker buildx build of spark-eks-spot:v1 for linux/amd64,linux/arm64 failed (docker exit code 1); "
        f"docker's output is above; {TWO_PLATFORMS_HINT}"
    )


MISSING_BUILDX = ("jobs: error: docker buildx not found: install the Docker Buildx plugin (docker-buildx-plugin, or Docker "
                  "Desktop), which builds the image for linux/amd64 and linux/arm64")


@pytest.mark.parametrize("command", [["image", "build", "--tag", "v1"], ["image", "push", "--tag", "v1"]])
def test_missing_buildx_is_one_line_exit_2_before_anything_is_built_or_logged_in(
    docker: Docker, repository_url: str, write_outputs: Callable[..., Path], capfd: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """A docker CLI without the Buildx plugin answers `docker buildx` with "'buildx' is not a docker
    command": one line saying what to install, exit 2, and no login or build."""
    docker.without_buildx()
    extra = ["--outputs", str(write_outputs(imageRepositoryUrl=repository_url))] if command[1] == "push" else []
    assert main([*command, *extra]) == 2
    assert _only_error_line(capfd.readouterr().err) == MISSING_BUILDX
    assert docker.argvs() == PREFLIGHT[:1]


@pytest.mark.parametrize("command", [["image", "build", "--tag", "v1"], ["image", "push", "--tag", "v1"]])
def test_a_builder_without_arm64_is_one_line_naming_the_fix(
    docker: Docker, repository_url: str, write_outputs: Callable[..., Path], capfd: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """An x86_64 host's builder without QEMU lists no linux/arm64 (docker docs, multi-platform builds
    need emulation or a native node): exit 2 with the binfmt command, before any build or login."""
    docker.builder_offers("linux/amd64*, linux/amd64/v2, linux/amd64/v3, linux/386")
    extra = ["--outputs", str(write_outputs(imageRepositoryUrl=repository_url))] if command[1] == "push" else []
    assert main([*command, *extra]) == 2
    assert _only_error_line(capfd.readouterr().err) == (
        "jobs: error: the current buildx builder cannot build linux/arm64 (it offers linux/386, linux/amd64, linux/amd64/v2, "
        "linux/amd64/v3): add QEMU emulation with `docker run --privileged --rm tonistiigi/binfmt --install all`, "
        "or `docker buildx use` a builder with a node of that architecture"
    )
    assert docker.argvs() == PREFLIGHT


def test_an_inspect_that_fails_is_one_line_exit_1(docker: Docker, capfd: pytest.CaptureFixture[str]) -> None:
    docker.fail("buildx-inspect", 1)
    assert main(["image", "build", "--tag", "v1"]) == 1
    assert _only_error_line(capfd.readouterr().err) == (
        "jobs: error: docker buildx inspect --bootstrap failed (exit code 1: recorded docker buildx-inspect: failing with "
        "exit code 1 as the test asked); check that the Docker engine runs"
    )


def test_builder_platforms_reads_every_nodes_platforms_line() -> None:
    """docker/buildx commands/inspect.go prints one `Platforms:` line per node, comma-separated,
    with `*` after the platforms the node was configured for."""
    text = ("Name:   multi\nDriver: docker-container\n\nNodes:\nName:      multi0\nPlatforms: linux/amd64*, linux/386\n"
            "\nName:      multi1\nPlatforms: linux/arm64*, linux/arm/v7\n")
    assert builder_platforms(text) == {"linux/amd64", "linux/386", "linux/arm64", "linux/arm/v7"}
    assert builder_platforms("Name: x\nDriver: docker\n") == set()


@pytest.mark.parametrize("tag", ["-v1", "v1:latest", "a" * 129, "v 1"])
def test_bad_tag_is_one_line_before_docker_runs(docker: Docker, capfd: pytest.CaptureFixture[str], tag: str) -> None:
    assert main(["image", "build", f"--tag={tag}"]) == 2
    assert capfd.readouterr().err == (
        f"jobs: error: --tag {tag!r} is not an image tag: use up to 128 letters, digits, '_', '.' or '-', "
        "not starting with '.' or '-'\n"
    )
    assert docker.calls() == []


@pytest.mark.parametrize("command", [["image", "build"], ["image", "push", "--outputs", "outputs.json"]])
def test_missing_docker_is_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capfd: pytest.CaptureFixture[str], command: list[str]) -> None:
    """No docker on PATH: one line, exit 2, before the tag, the outputs or AWS are looked at."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("docker") is None
    assert main(command) == 2
    out, err = capfd.readouterr()
    assert (out, err) == ("", MISSING_DOCKER)


def test_platforms_are_every_node_group_amis_architecture() -> None:
    """The image is built for each CPU architecture a node group's AMI may run (AL2023 x86_64 and
    ARM_64), and the tag covers the pair, so one tag names an image every executor group can run."""
    from infra.nodegroups import AMI_TYPES

    architectures = {"x86_64": "linux/amd64", "ARM_64": "linux/arm64"}
    wanted = {value for ami in AMI_TYPES.values() for arch, value in architectures.items() if arch in ami}
    assert set(PLATFORMS) == wanted and PLATFORM == "linux/amd64,linux/arm64"
    assert default_image_tag(REPO_ROOT) == default_image_tag(REPO_ROOT, PLATFORM) != default_image_tag(REPO_ROOT, "linux/amd64")


# --- push ----------------------------------------------------------------------------------


def test_push_logs_in_and_pushes_one_manifest_list(docker: Docker, repository_url: str, ecr_token: dict[str, str],
                                                     write_outputs: Callable[..., Path], capfd: pytest.CaptureFixture[str]) -> None:
    """Exactly preflight → login → `buildx build --push` of both platforms under the repository's name;
    the login registry is the repository's host (the token's default registry)."""
    outputs = write_outputs(imageRepositoryUrl=repository_url)
    assert main(["image", "push", "--tag", "v1", "--outputs", str(outputs)]) == 0
    registry = repository_url.split("/")[0]
    assert registry == ecr_token["proxyEndpoint"].removeprefix("https://")
    assert docker.argvs() == [
        *PREFLIGHT,
        ["docker", "login", "--username", "AWS", "--password-stdin", registry],
        ["docker", "buildx", "build", "--platform", "linux/amd64,linux/arm64", "-f", str(REPO_ROOT / "image" / "Dockerfile"),
         "-t", f"{repository_url}:v1", "--push", str(REPO_ROOT)],
    ]
    out, err = capfd.readouterr()
    assert err == ""
    assert out.splitlines()[-1] == (
        f"pushed {repository_url}:v1; run a job on it with: python -m jobs submit SPEC.yaml --set image.tag=v1 "
        "(same --outputs/--stack)"
    )


def test_password_only_on_logins_stdin(docker: Docker, repository_url: str, ecr_token: dict[str, str],
                                       write_outputs: Callable[..., Path], capfd: pytest.CaptureFixture[str]) -> None:
    """The ECR password (and the token that encodes it) reach docker login's stdin and nowhere else."""
    outputs = write_outputs(imageRepositoryUrl=repository_url)
    assert main(["image", "push", "--tag", "v1", "--outputs", str(outputs)]) == 0
    out, err = capfd.readouterr()
    calls = docker.calls()
    assert [call["stdin"] for call in calls] == [None, None, ecr_token["password"], None]
    for secret in (ecr_token["password"], ecr_token["token"]):
        for call in calls:
            assert not any(secret in argument for argument in call["argv"])
            assert not any(secret in value for value in call["env"].values())
        assert not any(secret in value for value in os.environ.values())
        assert secret not in out and secret not in err
    assert ecr_token["password"] not in repr(decode_authorization({"authorizationToken": ecr_token["token"]}))


def test_failing_login_keeps_the_password_out_of_the_message(
    docker: Docker, repository_url: str, ecr_token: dict[str, str],
    write_outputs: Callable[..., Path], capfd: pytest.CaptureFixture[str],
) -> None:
    docker.fail("login", 1)
    outputs = write_outputs(imageRepositoryUrl=repository_url)
    assert main(["image", "push", "--tag", "v1", "--outputs", str(outputs)]) == 1
    out, err = capfd.readouterr()
    registry = repository_url.split("/")[0]
    assert _only_error_line(err) == (
        f"jobs: error: docker login to {registry} failed (docker exit code 1); docker's output is above"
    )
    assert ecr_token["password"] not in out + err
    assert [argv[1] for argv in docker.argvs()] == ["buildx", "buildx", "login"]


def test_failing_push_exits_1_with_one_line(docker: Docker, repository_url: str, write_outputs: Callable[..., Path],
                                            capfd: pytest.CaptureFixture[str]) -> None:
    docker.fail("buildx-build", 1)
    outputs = write_outputs(imageRepositoryUrl=repository_url)
    assert main(["image", "push", "--tag", "v1", "--outputs", str(outputs)]) == 1
    assert _only_error_line(capfd.readouterr().err) == (
        f"jobs: error: docker buildx build --push of {repository_url}:v1 for linux/amd64,linux/arm64 failed (docker exit code 1); "
        f"docker's output is above; {TWO_PLATFORMS_HINT}"
    )
    assert [argv[1] for argv in docker.argvs()] == ["buildx", "buildx", "login", "buildx"]


def test_push_without_outputs_is_one_line(docker: Docker, capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["image", "push", "--tag", "v1"]) == 2
    assert capfd.readouterr().err == (
        "jobs: error: this command needs the stack's outputs: pass --outputs FILE (from `pulumi stack output --json "
        "--show-secrets`) or --stack NAME\n"
    )
    assert docker.calls() == []


@pytest.mark.parametrize(("overrides", "line"), [
    ({"imageRepositoryUrl": ""}, "stack output imageRepositoryUrl is empty in {path}; "),
    ({"imageRepositoryUrl": "registry.example.invalid/spark:v1"},
     "stack output imageRepositoryUrl in {path} is 'registry.example.invalid/spark:v1'; "
     "it must be a repository (HOST/NAME) without a tag"),
    ({"region": "Oregon"}, "stack output region in {path} is 'Oregon', not an AWS region such as us-west-2"),
])
def test_unusable_outputs_are_one_line_before_docker_runs(
    docker: Docker, write_outputs: Callable[..., Path], capfd: pytest.CaptureFixture[str],
    overrides: dict[str, str], line: str,
) -> None:
    outputs = write_outputs(**overrides)
    assert main(["image", "push", "--tag", "v1", "--outputs", str(outputs)]) == 2
    err = capfd.readouterr().err
    assert err.startswith("jobs: error: " + line.format(path=outputs)) and err.count("\n") == 1
    assert docker.calls() == []


def test_no_aws_credentials_stop_before_docker(docker: Docker, repository_url: str,
                                               write_outputs: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    outputs = write_outputs(imageRepositoryUrl=repository_url)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert main(["image", "push", "--tag", "v1", "--outputs", str(outputs)]) == 2
    assert capfd.readouterr().err == (
        f"jobs: error: ECR login token (region {TEST_REGION}): no AWS credentials; "
        "configure them (aws configure, AWS_PROFILE or SSO login)\n"
    )
    assert docker.calls() == []


def test_unreachable_ecr_exits_1_before_docker(docker: Docker, write_outputs: Callable[..., Path], aws_env: str,
                                              monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    outputs = write_outputs()
    assert main(["image", "push", "--tag", "v1", "--outputs", str(outputs)]) == 1
    line = _only_error_line(capfd.readouterr().err)
    assert line.startswith(f"jobs: error: ECR login token (region {TEST_REGION}): EndpointConnectionError: ")
    assert docker.calls() == []


# --- the token -----------------------------------------------------------------------------


def test_token_decodes_to_user_and_password() -> None:
    token = base64.b64encode(b"AWS:pa:ss").decode()
    credentials = decode_authorization({"authorizationToken": token})
    assert credentials == RegistryCredentials("AWS", "pa:ss")
    assert "pa:ss" not in repr(credentials)


@pytest.mark.parametrize("token", ["not base64!", base64.b64encode(b"no-separator").decode(),
                                   base64.b64encode(b":password-only").decode(), ""])
def test_malformed_token_is_one_line_without_the_token(token: str) -> None:
    with pytest.raises(LaunchError) as raised:
        decode_authorization({"authorizationToken": token})
    assert raised.value.exit_code == 1
    assert str(raised.value) == "ECR returned an authorization token that is not base64 of user:password; try again"


def put_image(repository_url: str, tag: str) -> None:
    """Record `tag` in moto's ECR repository, as a finished `docker push` would."""
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                           "digest": "sha256:" + "0" * 64}, "layers": []}
    _ecr().put_image(repositoryName=repository_url.split("/", 1)[1], imageManifest=json.dumps(manifest), imageTag=tag)


def test_push_of_a_tag_already_in_ecr_pushes_nothing(docker: Docker, repository_url: str, ecr_token: dict[str, str],
                                                     write_outputs: Callable[..., Path],
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    """A tag names its inputs and ECR tags may be immutable (a second push of a tag is refused with
    ImageTagAlreadyExistsException, ECR user guide "Image tag mutability"): when ECR's
    DescribeImages finds the tag, push says so and docker is not run."""
    put_image(repository_url, "v1")
    outputs = write_outputs(imageRepositoryUrl=repository_url)
    assert main(["image", "push", "--tag", "v1", "--outputs", str(outputs)]) == 0
    assert docker.calls() == []
    assert f"{repository_url}:v1 is already in ECR; nothing to push" in capfd.readouterr().out


# --- build → push → submit from a temporary checkout -------------------------------------


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the jobs CLI (with the infra modules it reads and the CLI convention module), the
    Dockerfile, pod templates and a spec."""
    repo = tmp_path / "checkout"
    ignore = shutil.ignore_patterns("__pycache__")
    for directory in ("jobs", "infra", "image", "pod_templates"):
        shutil.copytree(REPO_ROOT / directory, repo / directory, ignore=ignore)
    (repo / "examples").mkdir()
    for name in (".gitignore", ".dockerignore", "examples/wordcount.yaml", "cli_common.py"):
        shutil.copy(REPO_ROOT / name, repo / name)
    return repo


def _jobs(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m jobs ...` run from `repo`, so the copy's own code and files are used."""
    return subprocess.run([sys.executable, "-m", "jobs", *args], cwd=repo, capture_output=True, text=True,
                          check=False, timeout=120)


def test_build_push_submit_agree_on_the_tag_and_only_image_inputs_move_it(
    checkout: Path, docker: Docker, repository_url: str, write_outputs: Callable[..., Path],
) -> None:
    """build, push and submit use the same content tag; an outputs.json or a new spec beside the
    checkout leaves it alone, an edited app moves it."""
    first = default_image_tag(checkout)
    built = _jobs(checkout, "image", "build")
    assert built.returncode == 0, built.stderr
    assert docker.argvs()[-1][-3:] == ["-t", f"spark-eks-spot:{first}", str(checkout.resolve())]

    outputs = write_outputs(imageRepositoryUrl=repository_url)
    shutil.copy(outputs, checkout / "outputs.json")
    (checkout / "examples" / "mine.yaml").write_text("name: mine\napp: jobs/apps/wordcount.py\n")
    assert default_image_tag(checkout) == first

    with open(checkout / "jobs" / "apps" / "wordcount.py", "a", encoding="utf-8") as app:
        app.write("# a change that goes into the image\n")
    second = default_image_tag(checkout)
    assert second != first
    built = _jobs(checkout, "image", "build")
    assert built.returncode == 0, built.stderr
    assert docker.argvs()[-1][-3:] == ["-t", f"spark-eks-spot:{second}", str(checkout.resolve())]
    assert f"built spark-eks-spot:{second} for linux/amd64,linux/arm64" in built.stdout

    pushed = _jobs(checkout, "image", "push", "--outputs", "outputs.json")
    assert pushed.returncode == 0, pushed.stderr
    assert [argv[1:] for argv in docker.argvs()[-2:]] == [
        ["login", "--username", "AWS", "--password-stdin", repository_url.split("/")[0]],
        ["buildx", "build", "--platform", "linux/amd64,linux/arm64", "-f", str(checkout.resolve() / "image" / "Dockerfile"),
         "-t", f"{repository_url}:{second}", "--push", str(checkout.resolve())],
    ]

    submitted = _jobs(checkout, "submit", "examples/wordcount.yaml", "--outputs", "outputs.json", "--dry-run", "--json")
    assert submitted.returncode == 0, submitted.stderr
    argv = json.loads(submitted.stdout)["argv"]
    assert f"spark.kubernetes.container.image={repository_url}:{second}" in argv
