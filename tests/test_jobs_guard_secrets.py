"""The submitter never prints or writes a secret.

The kubeconfig output carries a distinctive bearer token and a real client certificate and
key (client-key-data). Every command then runs for real: submit --dry-run (text and
--json), a cluster submission through the real spark-submit against the loopback
Kubernetes API recorder (and one the API server refuses), status, list, list --json,
logs and kill, and a kubeconfig output that is not YAML. Everything printed (stdout and
stderr at the file-descriptor level, so spark-submit's JVM is included), every file
written (the run's working directory, TMPDIR, HOME and the JVM's temp directory all point
into one scratch tree), every object uploaded to S3 and every request body sent to the
API server is searched for the token and the key, in every encoding they were given.

And the secrets did reach the one place they must: the private kubeconfig file that
spark-submit was handed (mode 0600, deleted afterwards), as the Authorization header of
the requests the JVM and the Kubernetes client sent proves.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from jobs.__main__ import main
from tests.conftest import aws_test_environment, ecr_image, kubeconfig_for, new_bucket, s3, stack_outputs
from tests.jobs_guard_helpers import PODS, ProcessSpy, cluster_spec, drivers_succeed, posted_driver
from tests.k8s_recorder import K8sRecorder, RecordedRequest, pod_list_route

pytestmark = pytest.mark.jvm  # starts Spark JVMs: scheduled first (tests/conftest.py)


def client_certificate() -> tuple[bytes, bytes, bytes]:
    """A throwaway client key and self-signed certificate: (key PEM, key DER, certificate PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "guard-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    key_der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key_pem, key_der, certificate.public_bytes(serialization.Encoding.PEM)


class Secrets:
    """The token and the client key, and every form in which they could leak."""

    def __init__(self) -> None:
        self.token = f"guard-token-{secrets.token_hex(16)}"
        key_pem, key_der, cert_pem = client_certificate()
        self.client_key_data = base64.b64encode(key_pem).decode()
        self.client_certificate_data = base64.b64encode(cert_pem).decode()
        pem_body = "".join(line for line in key_pem.decode().splitlines() if not line.startswith("-----"))
        self.forms: dict[str, bytes] = {
            "token": self.token.encode(),
            "client-key-data": self.client_key_data.encode(),
            "key PEM body line": key_pem.decode().splitlines()[1].encode(),
            "key base64 (unwrapped)": pem_body[64:128].encode(),
            "key DER": key_der[-64:],
        }

    def kubeconfig(self, server: str) -> dict[str, Any]:
        kubeconfig = kubeconfig_for(server)
        kubeconfig["users"][0]["user"] = {
            "token": self.token,
            "client-certificate-data": self.client_certificate_data,
            "client-key-data": self.client_key_data,
        }
        return kubeconfig

    def found_in(self, data: bytes) -> list[str]:
        return [form for form, needle in self.forms.items() if needle in data]


@pytest.fixture
def scratch(tmp_path: Path, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One tree for everything the run may write: working directory, TMPDIR, HOME, and the
    JVM's java.io.tmpdir and user.home (which ignore the environment)."""
    for name in ("work", "tmp", "home"):
        (tmp_path / name).mkdir()
    for name, value in aws_test_environment(moto_url, tmp_path / "home").items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SPARK_SUBMIT_OPTS", f"{os.environ.get('SPARK_SUBMIT_OPTS', '')} "
                       f"-Djava.io.tmpdir={tmp_path / 'tmp'} -Duser.home={tmp_path / 'home'}".strip())
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path


def written_files(root: Path, inputs: set[Path]) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file() and path not in inputs}


def sent(requests: list[RecordedRequest]) -> bytes:
    """What was sent, less the Authorization header (where the token belongs)."""
    return json.dumps([[r.method, r.path, r.query, r.content_type, r.body] for r in requests]).encode()


def test_no_command_prints_or_writes_a_secret(
    scratch: Path, recorder: K8sRecorder, moto_url: str, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    secret = Secrets()
    spy = ProcessSpy().install(monkeypatch)
    bucket = new_bucket(moto_url)
    inputs_dir = scratch / "inputs"
    inputs_dir.mkdir()
    spec = cluster_spec(inputs_dir, bucket)
    outputs = inputs_dir / "outputs.json"
    outputs.write_text(json.dumps(stack_outputs(
        apiServerUrl=recorder.url, kubeconfig=json.dumps(secret.kubeconfig(recorder.url)), bucketName=bucket,
        imageRepositoryUrl=ecr_image(moto_url, "guard-test"))))
    kube_only = inputs_dir / "kube-outputs.json"
    kube_only.write_text(json.dumps({"kubeconfig": json.dumps(secret.kubeconfig(recorder.url)), "sparkNamespace": "spark"}))
    not_yaml = inputs_dir / "not-yaml.json"
    not_yaml.write_text(json.dumps({"kubeconfig": f"users: [{{token: {secret.token}", "sparkNamespace": "spark"}))
    inputs = {spec, outputs, kube_only, not_yaml}
    printed: list[str] = []

    def run(*argv: str) -> int:
        code = main(list(argv))
        captured = capfd.readouterr()
        printed.extend([captured.out, captured.err])
        return code

    # Dry runs: print the command, touch nothing.
    assert run("submit", str(spec), "--outputs", str(outputs), "--dry-run") == 0
    assert run("submit", str(spec), "--outputs", str(outputs), "--dry-run", "--json") == 0
    # A real submission, followed to the end.
    drivers_succeed(recorder)
    assert run("submit", str(spec), "--outputs", str(outputs), "--wait") == 0, printed[-1][-3000:]
    # The commands that read the cluster.
    driver = dict(posted_driver(recorder), status={"phase": "Running"})
    driver["metadata"] = {**driver["metadata"], "namespace": "spark", "creationTimestamp": "2026-01-01T00:00:00Z"}
    recorder.route("GET", PODS, pod_list_route(lambda: [driver]))
    recorder.route("GET", f"{PODS}/{driver['metadata']['name']}/log", lambda request: (200, "driver log line\n"))
    for argv in (["status", "wordcount"], ["list"], ["list", "--json"], ["logs", "wordcount"], ["kill", "wordcount"]):
        assert run(*argv, "--outputs", str(kube_only)) == 0, argv
    # Failures, where secrets tend to leak: a kubeconfig that is not YAML, and an API
    # server that refuses the driver (spark-submit prints its exception).
    assert run("status", "wordcount", "--outputs", str(not_yaml)) == 2
    recorder.route("POST", PODS, lambda request: (403, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                        "reason": "Forbidden", "message": "pods is forbidden", "code": 403}))
    assert run("submit", str(spec), "--outputs", str(outputs)) == 1

    # Nothing printed, written, uploaded or sent (but the Authorization header) holds a secret.
    leaks = {"printed": secret.found_in("".join(printed).encode())}
    for path, content in written_files(scratch, inputs).items():
        leaks[str(path.relative_to(scratch))] = secret.found_in(content)
    store = s3(moto_url)
    for item in store.list_objects_v2(Bucket=bucket).get("Contents", []):
        leaks[f"s3://{bucket}/{item['Key']}"] = secret.found_in(store.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    leaks["sent to the API server"] = secret.found_in(sent(recorder.requests))
    assert {where: forms for where, forms in leaks.items() if forms} == {}
    assert "driver log line" in "".join(printed) and any("submitted wordcount" in text for text in printed)

    # The secrets reached the private kubeconfig spark-submit read, and only for that run.
    launches = spy.of("spark-submit")
    assert len(launches) == 2
    for launch in launches:
        assert launch.kubeconfig_path and launch.kubeconfig_text
        assert launch.kubeconfig_mode == 0o600
        handed = json.loads(launch.kubeconfig_text)["users"][0]["user"]
        assert (handed["token"], handed["client-key-data"]) == (secret.token, secret.client_key_data)
        assert not Path(launch.kubeconfig_path).exists() and not Path(launch.kubeconfig_path).parent.exists()
        assert launch.env is not None and not secret.found_in(json.dumps(launch.env).encode())
    # ... and the JVM and the Kubernetes client used it.
    from_jvm = [r for r in recorder.requests if r.method == "POST"]
    from_python = [r for r in recorder.requests if r.method in ("GET", "DELETE")]
    assert from_jvm and from_python
    assert all(r.authorization == f"Bearer {secret.token}" for r in from_jvm + from_python)
