"""Offline plan: run the real program under Pulumi's mocks and list what it would create.

No credentials, no CLI: `python -m infra.plan --stack dev [--json]` reads
`Pulumi.dev.yaml`, runs `__main__.py` with Pulumi's own mock engine and prints every
resource (type token, logical name, inputs as the engine sees them, and the resources it
waits for through `depends_on`), a summary of what matters before `pulumi up` (versions,
upgrade policy, groups idle at zero, autoscaler priorities, add-on order, S3 endpoint) and
the stack outputs. Values only AWS knows (endpoints, generated names, looked-up versions)
are placeholders; secrets print as `[secret]`, as `pulumi preview` shows them. Warnings go to stderr: the chosen Kubernetes
version leaves EKS standard support within 60 days, or the API allow-list is still an
example (documentation) range.

The stock `MockMonitor` has two gaps with multi-language components such as pulumi-eks
(see ../shared/field-notes.md): resource-valued inputs and component method calls.
`PlanMonitor` closes both.
"""

from __future__ import annotations

import argparse
import json
import re
import runpy
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Mapping

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.proto import resource_pb2

from cli_common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    Parser,
    Progress,
    add_offline_stack_arguments,
    add_quiet,
    exit_codes,
    print_error,
    print_warning,
    progress,
    yaml_error,
)
from infra.priorities import CONFIG_MAP_KEY as PRIORITY_CONFIG_MAP_KEY
from infra.priorities import CONFIG_MAP_NAME as PRIORITY_CONFIG_MAP
from infra.settings import (
    PROJECT,
    SUPPORT_DAY,
    support_day,
    ConfigError,
    Settings,
    example_cidr_notice,
    settings_from_values,
    standard_support_notice,
)

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "123456789012"
KNOWN_AFTER_UP = "(known after up)"
SECRET = "[secret]"
DEFAULT_STACK = "dev"


@dataclass
class PlannedResource:
    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    # The type token of the parent resource; the mocks do not pass parents, the monitor does.
    parent_type: str = ""
    # Logical names of the resources it waits for through `depends_on` (not through inputs).
    depends_on: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        record = {"type": self.type, "name": self.name, "inputs": self.inputs}
        if self.depends_on:
            record["dependsOn"] = self.depends_on
        return record


@dataclass
class Plan:
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, name: str) -> PlannedResource:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def as_json(self) -> dict[str, Any]:
        ordered = sorted(self.resources, key=lambda r: (r.type, r.name))
        return {"resources": [r.as_json() for r in ordered], "outputs": self.outputs}


def _plain(value: Any) -> Any:
    """Engine values → JSON: secrets masked, resource references as their URN."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return SECRET
        if value.get(rpc._special_sig_key) == rpc._special_resource_sig:
            return value.get("urn")
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value == rpc.UNKNOWN:
        return KNOWN_AFTER_UP
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the engine carries every number as a double
    return value


class PlanMocks(pulumi.runtime.Mocks):
    """Answers the engine for every resource with plausible outputs and records the inputs."""

    def __init__(
        self, region: str, caller_arn: str = f"arn:aws:iam::{ACCOUNT_ID}:user/plan", existing_clusters: tuple[str, ...] = ()
    ) -> None:
        self.region = region
        # Who `pulumi up` runs as; a test may pose as an assumed role.
        self.caller_arn = caller_arn
        # EKS clusters already in the region: none for a plan of a new stack.
        self.existing_clusters = existing_clusters
        self.monitor: PlanMonitor | None = None
        self.plan = Plan()
        self.parents: dict[tuple[str, str], str] = {}
        self.depends_on: dict[tuple[str, str], list[str]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _register_child(self, type_token: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
        """Register a resource a component would have created and return a reference to it."""
        assert self.monitor is not None
        urn = self.monitor.make_urn("", type_token, name)
        self.monitor.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, f"{name}-id", state)
        return {rpc._special_sig_key: rpc._special_resource_sig, "urn": urn, "id": f"{name}-id"}

    def _arn(self, type_token: str, name: str) -> str:
        service = type_token.split(":")[1].split("/")[0]
        return f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{name}"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        parent_type = self.parents.pop((args.typ, args.name), "")
        depends_on = self.depends_on.pop((args.typ, args.name), [])
        self.plan.resources.append(
            PlannedResource(args.typ, args.name, _plain(args.inputs), bool(args.custom), parent_type, depends_on)
        )
        outputs: dict[str, Any] = dict(args.inputs)
        name = args.inputs.get("name") or args.name
        if args.typ.startswith("aws:"):
            outputs.setdefault("name", name)
            outputs["arn"] = self._arn(args.typ, name)
        if args.typ == "aws:s3/bucket:Bucket":
            bucket = args.inputs.get("bucket") or f"{args.name}-0a1b2c3"
            outputs.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
        elif args.typ == "aws:ecr/repository:Repository":
            outputs["repositoryUrl"] = f"{KNOWN_AFTER_UP}/{name}"
        elif args.typ == "aws:iam/role:Role":
            outputs["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"
        elif args.typ == "aws:iam/policy:Policy":
            outputs["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:policy/{name}"
        elif args.typ == "eks:index:Cluster":
            outputs.update(self._cluster_outputs(args))
        elif args.typ == "eks:index:ManagedNodeGroup":
            node_group = self._register_child(
                "aws:eks/nodeGroup:NodeGroup",
                f"{args.name}-nodegroup",
                {
                    "nodeGroupName": f"{args.name}-0a1b2c3",
                    "resources": [{"autoscalingGroups": [{"name": f"eks-{args.name}-asg"}]}],
                },
            )
            outputs["nodeGroup"] = node_group
        return f"{args.name}-id", outputs

    def _cluster_outputs(self, args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        cluster_name = args.inputs.get("name", args.name)
        issuer = f"oidc.eks.{self.region}.{KNOWN_AFTER_UP}/id/{cluster_name}"
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": {"server": KNOWN_AFTER_UP}}],
        }
        eks_cluster = self._register_child(
            "aws:eks/cluster:Cluster",
            f"{args.name}-eksCluster",
            {"name": cluster_name, "endpoint": KNOWN_AFTER_UP, "arn": self._arn("aws:eks", cluster_name)},
        )
        return {
            "eksCluster": eks_cluster,
            "kubeconfig": kubeconfig,
            "kubeconfigJson": json.dumps(kubeconfig),
            "oidcProviderArn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{issuer}",
            "oidcProviderUrl": f"https://{issuer}",
            "oidcIssuer": issuer,
            "clusterSecurityGroupId": f"{args.name}-cluster-sg-id",
            "core": {},
        }

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.calls.append((args.token, _plain(dict(args.args))))
        if args.token == "aws:eks/getAddonVersion:getAddonVersion":
            # EKS answers with its default version of the add-on for that Kubernetes minor.
            version = f"{KNOWN_AFTER_UP} default for Kubernetes {args.args.get('kubernetesVersion')}"
            return {**args.args, "version": version, "id": args.args.get("addonName")}, []
        if args.token == "aws:ec2/getVpcEndpointService:getVpcEndpointService":
            name = f"com.amazonaws.{self.region}.{args.args.get('service')}"
            return {"serviceName": name, "serviceType": args.args.get("serviceType"), "id": name}, []
        if args.token == "aws:ec2/getRouteTable:getRouteTable":
            table = f"rtb-of-{args.args.get('subnetId')}"
            return {"routeTableId": table, "id": table, "vpcId": args.args.get("vpcId")}, []
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            zones = [f"{self.region}{suffix}" for suffix in "abcdef"]
            return {"names": zones, "zoneIds": zones, "id": self.region}, []
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": KNOWN_AFTER_UP, "id": "aws"}, []
        if args.token == "aws:eks/getClusters:getClusters":
            return {"names": list(self.existing_clusters), "id": self.region}, []
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": self.caller_arn, "userId": "plan", "id": ACCOUNT_ID}, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, []
        return {}, []


class PlanMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that passes resource-valued inputs as URNs and answers component calls."""

    def GetDeploymentInfo(self, request: Any) -> Any:
        info = super().GetDeploymentInfo(request)
        features = [
            f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES
        ]
        return resource_pb2.DeploymentInfo(supportedFeatures=features)

    def SupportsFeature(self, request: Any) -> Any:
        if request.id == "resourceReferences":
            return type("SupportsFeatureResponse", (object,), {"hasSupport": False})
        return super().SupportsFeature(request)

    def RegisterResource(self, request: Any) -> Any:
        if isinstance(self.mocks, PlanMocks):
            key = (request.type, request.name)
            if request.parent:
                self.mocks.parents[key] = request.parent.split("::")[2].split("$")[-1]
            # `dependencies` holds input and depends_on dependencies alike; keep the explicit ones.
            through_inputs = {urn for deps in request.propertyDependencies.values() for urn in deps.urns}
            explicit = sorted({urn.split("::")[-1] for urn in request.dependencies if urn not in through_inputs})
            if explicit:
                self.mocks.depends_on[key] = explicit
        return super().RegisterResource(request)

    def Call(self, request: Any) -> Any:
        args = rpc.deserialize_properties(request.args)
        result, _ = self.mocks.call(pulumi.runtime.MockCallArgs(request.tok, args, request.provider))
        return_proto = pulumi.runtime.sync_await._sync_await(rpc.serialize_properties(result, {}))
        return resource_pb2.CallResponse(**{"return": return_proto})


class StackFileError(Exception):
    """A stack file that cannot be read: missing, or not YAML; one line naming it as the user gave it."""


def stack_config(stack: str, root: Path = ROOT) -> dict[str, str]:
    """The config of Pulumi.<stack>.yaml in `root`, as the engine hands it to the program."""
    name = f"Pulumi.{stack}.yaml"
    return stack_file_config(root / name, shown=name, missing=f"no stack file {name}; create it or pass another --stack")


def stack_file_config(path: Path, shown: str | None = None, missing: str | None = None) -> dict[str, str]:
    """A stack file's config: namespaced keys, structured values as JSON text (as Pulumi passes them).

    `shown` is how errors name the file (default: the path as given)."""
    shown = shown or str(path)
    if not path.is_file():
        raise StackFileError(missing or f"--stack-file {shown}: no such file; pass the path of a Pulumi.NAME.yaml")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise StackFileError(yaml_error(shown, error)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise StackFileError(f"{shown}: cannot read it ({error.__class__.__name__})") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise ConfigError("config", f"{shown} needs a `config:` mapping of keys to values")
    return {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in config.items()
    }


def stack_name_of(path: Path) -> str:
    """`Pulumi.prod.yaml` → `prod`."""
    name = path.name
    return name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml") or "dev"


def read_stack(stack: str | None, stack_file: Path | None, root: Path = ROOT) -> tuple[str, dict[str, str]]:
    """(stack name, config) from `--stack NAME` (Pulumi.NAME.yaml in `root`) or `--stack-file PATH`."""
    if stack_file is not None:
        return stack_name_of(stack_file), stack_file_config(stack_file)
    stack = stack or DEFAULT_STACK
    return stack, stack_config(stack, root)


def run_plan(
    config: Mapping[str, str],
    stack: str = "dev",
    program: Path = ROOT / "__main__.py",
    mocks: PlanMocks | None = None,
    today: date | None = None,
) -> Plan:
    """Run the program under mocks with `config` (namespaced keys) and return what it declared.

    Pass `mocks` to inspect what was registered even when the program fails, and `today` to judge
    the EKS support calendar on another day than the real one.
    """
    mocks = mocks or PlanMocks(config.get("aws:region", "us-west-2"))
    monitor = PlanMonitor(mocks)
    mocks.monitor = monitor
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_all_config(dict(config), [])
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    failure: list[BaseException] = []

    @pulumi.runtime.test
    def evaluate() -> pulumi.Output[Any]:
        try:
            runpy.run_path(str(program), run_name="__main__")
        except pulumi.RunError as error:
            failure.append(error)
            return pulumi.Output.from_input(None)
        root = runtime_settings.get_root_resource()
        outputs: dict[str, Any] = dict(root.outputs)  # type: ignore[union-attr]
        names = sorted(outputs)
        secrets = pulumi.Output.all(*[pulumi.Output.from_input(outputs[n]).is_secret() for n in names])
        values = pulumi.Output.all(*[pulumi.Output.unsecret(pulumi.Output.from_input(outputs[n])) for n in names])

        def record(pair: list[list[Any]]) -> None:
            for name, is_secret, value in zip(names, pair[0], pair[1]):
                mocks.plan.outputs[name] = SECRET if is_secret else _plain(value)

        return pulumi.Output.all(secrets, values).apply(record)

    day = SUPPORT_DAY.set(today) if today is not None else None
    try:
        evaluate()
    finally:
        if day is not None:
            SUPPORT_DAY.reset(day)
    if failure:
        raise failure[0]
    return mocks.plan


def settings_of(config: Mapping[str, str], stack: str) -> Settings:
    """The validated settings of a stack config (namespaced keys, as `stack_config` returns them)."""
    prefix = f"{PROJECT}:"
    values = {key[len(prefix):]: value for key, value in config.items() if key.startswith(prefix)}
    return settings_from_values(values, stack=stack, region=config.get("aws:region"))


@dataclass(frozen=True)
class StackPlan:
    stack: str
    settings: Settings
    plan: Plan


def plan_stack(
    stack: str | None, stack_file: Path | None, shown: Progress | None = None, today: date | None = None
) -> StackPlan:
    """Read a stack (`--stack NAME` or `--stack-file PATH`), validate its settings and plan it under
    mocks, saying each step on the progress line: what every offline tool does with a stack.
    `today` judges the EKS support calendar (the real day when None)."""
    shown = shown or Progress()
    shown.step(f"reading {stack_file or f'Pulumi.{stack or DEFAULT_STACK}.yaml'}")
    name, config = read_stack(stack, stack_file)
    settings = settings_of(config, name)
    shown.step(f"running the program of stack {name} under Pulumi's mock engine")
    return StackPlan(name, settings, run_plan(config, stack=name, today=today))


def _after(resource: PlannedResource, limit: int = 3) -> str:
    if not resource.depends_on:
        return ""
    shown = resource.depends_on[:limit]
    more = len(resource.depends_on) - len(shown)
    return f"  (after {', '.join(shown)}{f' +{more}' if more else ''})"


def _priority_lines(plan: Plan) -> list[str]:
    """The priority expander's order as the stack's ConfigMap gives it (its comments name the groups)."""
    maps = [
        c for c in plan.of_type("kubernetes:core/v1:ConfigMap")
        if (c.inputs.get("metadata") or {}).get("name") == PRIORITY_CONFIG_MAP
    ]
    if not maps:
        return ["autoscaler priorities: none (autoscaler.expander has no priority)"]
    lines, value = [], ""
    for line in str((maps[0].inputs.get("data") or {}).get(PRIORITY_CONFIG_MAP_KEY, "")).splitlines():
        if re.fullmatch(r"\d+:", line):
            value = line[:-1]
        elif line.startswith("  # ") and value:
            lines.append(f"autoscaler priority {value}: {line[4:]}")
    return lines


def summary_lines(plan: Plan) -> list[str]:
    """What to check before `pulumi up`: versions, upgrade policy, groups idle at zero, autoscaler
    priorities, add-on order, S3 endpoint."""
    lines = []
    for cluster in plan.of_type("eks:index:Cluster"):
        support = (cluster.inputs.get("upgradePolicy") or {}).get("supportType", "EXTENDED (EKS default)")
        lines.append(f"cluster {cluster.name}: Kubernetes {cluster.inputs.get('version')}, upgradePolicy.supportType {support}")
    node_groups = plan.of_type("eks:index:ManagedNodeGroup")
    groups = [
        f"{g.name} {g.inputs.get('capacityType', 'ON_DEMAND')} {g.inputs.get('version', 'cluster version')}"
        + (" arm64" if "ARM_64" in str(g.inputs.get("amiType", "")) else "")
        + (" IMDSv2 hop limit 2" if g.inputs.get("enableIMDSv2") else "")
        for g in node_groups
    ]
    lines.append(f"node groups: {', '.join(groups) or 'none'}")
    from_zero = [g.name for g in node_groups if (g.inputs.get("scalingConfig") or {}).get("minSize") == 0]
    if from_zero:
        lines.append(f"idle at 0 nodes: {', '.join(from_zero)} (a pending pod starts a node in minutes: docs/layout.md)")
    lines.extend(_priority_lines(plan))
    for addon in plan.of_type("aws:eks/addon:Addon"):
        lines.append(f"add-on {addon.inputs.get('addonName')} {addon.inputs.get('addonVersion')}{_after(addon)}")
    endpoints = [e for e in plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if e.inputs.get("vpcEndpointType") == "Gateway"]
    for endpoint in endpoints:
        tables = endpoint.inputs.get("routeTableIds")
        lines.append(f"gateway endpoint {endpoint.name}: {endpoint.inputs.get('serviceName')} on route tables {json.dumps(tables)}")
    if not endpoints:
        lines.append("gateway endpoint: none (S3 and ECR layer traffic goes through NAT)")
    return lines


TOOL = "infra.plan"


def build_parser() -> Parser:
    parser = Parser(
        prog=f"python -m {TOOL}",
        description="\n\n".join(__doc__.split("\n\n")[:2]),
        epilog=exit_codes("the stack config is invalid (a value the settings refuse, or the program fails)"),
    )
    add_offline_stack_arguments(parser, default=DEFAULT_STACK)
    parser.add_argument("--json", action="store_true", help="print JSON on stdout: {resources, outputs}")
    add_quiet(parser)
    return parser


def main(argv: list[str] | None = None, today: date | None = None) -> int:
    """The CLI. `today` is the day the support warning is judged on (the real day unless a test gives one)."""
    try:
        args = build_parser().parse_args(argv)
        with progress(args.quiet) as shown:
            planned = plan_stack(args.stack, args.stack_file, shown, today=today)
        settings, plan = planned.settings, planned.plan
    except CliError as error:
        print_error(TOOL, error)
        return error.exit_code
    except (ConfigError, pulumi.RunError) as error:
        print_error(TOOL, error)
        return EXIT_FAILED
    except StackFileError as error:
        print_error(TOOL, error)
        return EXIT_BAD_INPUT
    notices = (
        standard_support_notice(settings.kubernetes_version, settings.upgrade_policy.support_type, today or support_day()),
        example_cidr_notice(settings.api_endpoint),
    )
    for notice in filter(None, notices):
        print_warning(TOOL, notice)
    if args.json:
        json.dump(plan.as_json(), sys.stdout, indent=2, sort_keys=True)
        print()
        return EXIT_OK
    for resource in sorted(plan.resources, key=lambda r: (r.type, r.name)):
        print(f"{resource.type:55} {resource.name}{_after(resource)}")
    print(f"\n{len(plan.resources)} resources\n\nsummary:")
    for line in summary_lines(plan):
        print(f"  {line}")
    print("\noutputs:")
    for name, value in sorted(plan.outputs.items()):
        print(f"  {name}: {json.dumps(value)}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
