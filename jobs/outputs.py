"""The stack's outputs, read from a file or through the Pulumi Automation API.

`--outputs FILE` takes what `pulumi stack output --json --show-secrets` prints; `--stack NAME`
asks `infra.automation.read_stack_outputs`. Either way `parse_outputs` checks the keys a
command needs and names the first missing or empty one with the fix. The kubeconfig is a
secret: it never appears in a repr, a message or a log line.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

import yaml

from jobs.shown import plain, shown

# camelCase output key → StackOutputs attribute
OUTPUT_KEYS = {
    "apiServerUrl": "api_server_url",
    "kubeconfig": "kubeconfig",
    "clusterName": "cluster_name",
    "region": "region",
    "imageRepositoryUrl": "image_repository_url",
    "bucketName": "bucket_name",
    "sparkNamespace": "spark_namespace",
    "sparkServiceAccount": "spark_service_account",
    "sparkExecutorServiceAccount": "spark_executor_service_account",
    "sparkRoleArn": "spark_role_arn",
    "s3AccessVia": "s3_access_via",
    "nodeGroups": "node_groups",
    "historyServer": "history_server",
}
SUBMIT_KEYS = (
    "apiServerUrl",
    "kubeconfig",
    "region",
    "imageRepositoryUrl",
    "bucketName",
    "sparkNamespace",
    "sparkServiceAccount",
    "s3AccessVia",
)
KUBE_KEYS = ("kubeconfig", "sparkNamespace")
# Where the submitter keeps records and saved logs: used by the kube commands when present.
BUCKET_KEYS = ("bucketName", "region")
S3_ACCESS_MODES = ("irsa", "nodeRole")
# What `pulumi stack output --json` prints for a secret without --show-secrets.
HIDDEN_SECRET = "[secret]"

_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# A repository reference without tag or digest (the Docker distribution grammar, lower case).
_REPOSITORY = re.compile(
    r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?"
    r"(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)+"
)
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")


class OutputsError(ValueError):
    """Stack outputs that cannot be used; the one-line message names the key and the fix."""


@dataclass(frozen=True)
class StackOutputs:
    api_server_url: str = ""
    kubeconfig: Mapping[str, Any] = field(default_factory=dict, repr=False)
    cluster_name: str = ""
    region: str = ""
    image_repository_url: str = ""
    bucket_name: str = ""
    spark_namespace: str = ""
    spark_service_account: str = ""
    # Optional: a stack from before executors had their own account runs them as the driver's.
    spark_executor_service_account: str = ""
    spark_role_arn: str = ""
    s3_access_via: str = ""
    node_groups: Any = None
    # {namespace, service, port, podSelector} of the History Server; absent when history.enabled is false.
    history_server: Any = None


def _fix(source: str) -> str:
    if source.startswith("stack "):
        return "run `pulumi up` on that stack first, or pass --outputs FILE"
    return "run `pulumi up`, then `pulumi stack output --json --show-secrets > FILE`, or pass --stack NAME"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


HTTPS_URL = "it must be the API server's https:// URL"


def api_url_problem(url: str) -> str | None:
    """Why `url` cannot carry the kubeconfig's credentials to an API server ("it must be ...");
    None when it can.

    The token goes wherever this URL points: https only, or plain http to this machine
    (`kubectl proxy`, a tunnel's local end), and never credentials in the URL itself."""
    if any(character.isspace() or not character.isprintable() for character in url):
        return f"{HTTPS_URL}, without whitespace or control characters"
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError:  # an unclosed [ or a port out of range
        return HTTPS_URL
    if parts.username is not None or parts.password is not None:
        return f"{HTTPS_URL} without credentials (user:password@); the kubeconfig holds them"
    if parts.scheme not in ("https", "http") or not host:
        return HTTPS_URL
    if parts.scheme == "http" and not _is_loopback(host):
        return (f"{HTTPS_URL}: plain http to another machine would send the kubeconfig's token in clear text "
                "(http is only for a loopback address, e.g. kubectl proxy)")
    return None


def named_entry(entries: Any, name: Any, body: str) -> Mapping[str, Any] | None:
    """The `body` mapping of the entry called `name` in a kubeconfig list (clusters, users...)."""
    if not isinstance(entries, list):
        return None
    for entry in entries:
        if isinstance(entry, dict) and entry.get("name") == name and isinstance(entry.get(body), dict):
            return entry[body]
    return None


def _kubeconfig_problem(document: Any) -> str | None:
    """What keeps a kubeconfig from configuring a client; never quotes it (it is a secret)."""
    if not isinstance(document, dict) or not isinstance(document.get("clusters"), list) or not document["clusters"]:
        return "is not a kubeconfig (it lists no clusters)"
    for index, entry in enumerate(document["clusters"]):
        cluster = entry.get("cluster") if isinstance(entry, dict) else None
        server = cluster.get("server") if isinstance(cluster, dict) else None
        if not isinstance(server, str):
            return f"is not a usable kubeconfig (clusters[{index}] has no server URL)"
        problem = api_url_problem(server.strip())
        if problem:
            return f"is not a usable kubeconfig (clusters[{index}]'s server: {problem})"
    current = document.get("current-context")
    if not isinstance(current, str) or not current:
        return "is not a usable kubeconfig (it has no current-context)"
    context = named_entry(document.get("contexts"), current, "context")
    if context is None:
        return "is not a usable kubeconfig (its current-context names no entry in contexts)"
    if named_entry(document["clusters"], context.get("cluster"), "cluster") is None:
        return "is not a usable kubeconfig (the current context names no entry in clusters)"
    if "user" in context and named_entry(document.get("users"), context["user"], "user") is None:
        return "is not a usable kubeconfig (the current context names no entry in users)"
    return None


def parse_kubeconfig(value: Any, source: str) -> dict[str, Any]:
    """The kubeconfig output as a mapping: Pulumi may give an object, JSON text or YAML text."""
    source = plain(source, limit=None)
    document = value
    if isinstance(value, str):
        if value.strip() == HIDDEN_SECRET:
            raise OutputsError(
                f"stack output kubeconfig in {source} is hidden as {HIDDEN_SECRET}; "
                "export it with `pulumi stack output --json --show-secrets`"
            )
        try:
            document = json.loads(value) if value.lstrip().startswith("{") else yaml.safe_load(value)
        except (ValueError, yaml.YAMLError, RecursionError):
            # Never echo the text: it is a secret.
            raise OutputsError(f"stack output kubeconfig in {source} is neither JSON nor YAML; {_fix(source)}") from None
    problem = _kubeconfig_problem(document)
    if problem:
        raise OutputsError(f"stack output kubeconfig in {source} {problem}; {_fix(source)}")
    return document


def _text(raw: Mapping[str, Any], key: str, source: str, required: bool) -> str:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            state = "missing from" if key not in raw else "empty in"
            raise OutputsError(f"stack output {key} is {state} {source}; {_fix(source)}")
        return ""
    if not isinstance(value, str):
        raise OutputsError(f"stack output {key} in {source} must be text, not {type(value).__name__}; {_fix(source)}")
    return value.strip()


def _check_values(outputs: StackOutputs, needed: set[str], source: str) -> None:
    """Values that are present but could not work; checked only for keys this command needs."""

    def bad(key: str, problem: str) -> OutputsError:
        return OutputsError(f"stack output {key} in {source} {problem}")

    if "apiServerUrl" in needed:
        problem = api_url_problem(outputs.api_server_url)
        if problem and "credentials" in problem:
            raise bad("apiServerUrl", f"holds credentials; {problem}")  # not quoted: it holds a password
        if problem:
            raise bad("apiServerUrl", f"is {shown(outputs.api_server_url)}; {problem}")
    if "region" in needed and not _REGION.fullmatch(outputs.region):
        raise bad("region", f"is {shown(outputs.region)}, not an AWS region such as us-west-2")
    if "bucketName" in needed and not _BUCKET.fullmatch(outputs.bucket_name):
        raise bad("bucketName", f"is {shown(outputs.bucket_name)}, not an S3 bucket name")
    if "imageRepositoryUrl" in needed and not _REPOSITORY.fullmatch(outputs.image_repository_url):
        raise bad(
            "imageRepositoryUrl",
            f"is {shown(outputs.image_repository_url)}; it must be a repository (HOST/NAME) without a tag",
        )
    for key, value in (
        ("sparkNamespace", outputs.spark_namespace),
        ("sparkServiceAccount", outputs.spark_service_account),
        ("sparkExecutorServiceAccount", outputs.spark_executor_service_account),
    ):
        if (key in needed or (key == "sparkExecutorServiceAccount" and value)) and not _DNS_LABEL.fullmatch(value):
            raise bad(key, f"is {shown(value)}, not a Kubernetes name")
    if "s3AccessVia" in needed:
        if outputs.s3_access_via not in S3_ACCESS_MODES:
            raise bad("s3AccessVia", f"is {shown(outputs.s3_access_via)}; expected one of {', '.join(S3_ACCESS_MODES)}")
        if outputs.s3_access_via == "irsa" and not _ROLE_ARN.fullmatch(outputs.spark_role_arn):
            state = "missing" if not outputs.spark_role_arn else f"{shown(outputs.spark_role_arn)}, not an IAM role ARN"
            raise OutputsError(
                f"stack output sparkRoleArn in {source} is {state}, but s3AccessVia is irsa; {_fix(source)}"
            )


def parse_outputs(
    raw: Mapping[str, Any], *, required: Iterable[str], source: str, optional: Iterable[str] = ()
) -> StackOutputs:
    """Stack outputs from their JSON form; every key in `required` must be present and usable,
    and every key in `optional` usable when present."""
    needed = set(required) | {key for key in optional if raw.get(key) not in (None, "")}
    source = plain(source, limit=None)
    values: dict[str, Any] = {}
    for key, attribute in OUTPUT_KEYS.items():
        if key == "kubeconfig":
            present = raw.get(key) not in (None, "")
            if key in needed or present:
                if not present:
                    state = "missing from" if key not in raw else "empty in"
                    raise OutputsError(f"stack output kubeconfig is {state} {source}; {_fix(source)}")
                values[attribute] = parse_kubeconfig(raw[key], source)
        elif key in ("nodeGroups", "historyServer"):
            values[attribute] = raw.get(key)
        else:
            values[attribute] = _text(raw, key, source, key in needed)
    outputs = StackOutputs(**values)
    _check_values(outputs, needed, source)
    return outputs


def read_outputs_file(path: Path) -> dict[str, Any]:
    """The JSON object that `pulumi stack output --json --show-secrets` wrote to `path`."""
    shown_path = plain(str(path), limit=None)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OutputsError(
            f"--outputs {shown_path}: not found; write it with `pulumi stack output --json --show-secrets > {shown_path}`"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise OutputsError(f"--outputs {shown_path}: cannot be read ({error.__class__.__name__}); check the path") from None
    # Never quote the file: it holds the kubeconfig.
    remedy = "write it with `pulumi stack output --json --show-secrets`"
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise OutputsError(f"--outputs {shown_path}: not JSON (line {error.lineno}, column {error.colno}); {remedy}") from None
    except ValueError:  # int() refuses more than 4300 digits
        raise OutputsError(f"--outputs {shown_path}: not JSON stack outputs (a number is too long to read); {remedy}") from None
    except RecursionError:
        raise OutputsError(f"--outputs {shown_path}: not JSON stack outputs (nested too deeply); {remedy}") from None
    if not isinstance(document, dict):
        raise OutputsError(f"--outputs {shown_path}: must be a JSON object of outputs, not a {type(document).__name__}")
    return document


def read_stack(stack_name: str) -> dict[str, Any]:
    """The outputs of a deployed stack, through the Automation API (needs the pulumi CLI)."""
    try:
        from infra.automation import AutomationError, read_stack_outputs
    except ImportError as error:
        raise OutputsError(
            f"--stack {stack_name}: the Automation API helper (infra.automation) cannot be loaded "
            f"({error.__class__.__name__}: {(str(error).splitlines() or [''])[0]}); pass --outputs FILE instead"
        ) from None
    try:
        outputs = read_stack_outputs(stack_name)
    except AutomationError as error:
        first_line = (str(error).strip().splitlines() or [error.__class__.__name__])[0]
        raise OutputsError(f"--stack {stack_name}: {first_line}") from None
    if not isinstance(outputs, dict):
        raise OutputsError(f"--stack {stack_name}: the Automation API returned no outputs; run `pulumi up` first")
    return outputs


def load_outputs(
    *, outputs_file: Path | None, stack: str | None, required: Iterable[str], optional: Iterable[str] = ()
) -> StackOutputs:
    """Outputs from exactly one of --outputs FILE / --stack NAME."""
    if outputs_file is not None and stack is not None:
        raise OutputsError("pass either --outputs FILE or --stack NAME, not both")
    if outputs_file is not None:
        return parse_outputs(read_outputs_file(outputs_file), required=required, source=str(outputs_file),
                             optional=optional)
    if stack is not None:
        return parse_outputs(read_stack(stack), required=required, source=f"stack {stack}", optional=optional)
    raise OutputsError(
        "this command needs the stack's outputs: pass --outputs FILE (from `pulumi stack output --json "
        "--show-secrets`) or --stack NAME"
    )
