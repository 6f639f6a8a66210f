"""The pure core of infra.automation: engine events -> the `pulumi preview --json --show-sames`
document, outputs JSON, change summaries, config validation and the atomic writer.

Every event is a real `pulumi.automation.events.EngineEvent` built by the SDK's own
`EngineEvent.from_json` from engine-event JSON lines (tests/fixtures/automation/*.jsonl, in the
shape the CLI's event log carries: secrets blinded, unknowns as the magic string).
"""

from __future__ import annotations

import json
import random
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto
from pulumi.automation.events import EngineEvent

from infra import automation
from infra.automation import SECRET, UNKNOWN

FIXTURES = Path(__file__).parent / "fixtures" / "automation"
SUBNET = "urn:pulumi:dev::spark-eks-spot::spark-eks-spot:infra:Network$aws:ec2/subnet:Subnet::network-private-0"
VPC = "urn:pulumi:dev::spark-eks-spot::spark-eks-spot:infra:Network$aws:ec2/vpc:Vpc::network-vpc"


def raw_events(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def events(name: str = "preview-events.jsonl") -> list[EngineEvent]:
    return [EngineEvent.from_json(raw) for raw in raw_events(name)]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return automation.preview_document(events())


def step(document: dict[str, Any], op: str, urn_suffix: str = "") -> dict[str, Any]:
    matches = [s for s in document["steps"] if s["op"] == op and s["urn"].endswith(urn_suffix)]
    assert len(matches) == 1, [s["urn"] for s in matches]
    return matches[0]


def test_fixture_events_are_the_sdks_own_objects() -> None:
    """The conversion is fed what the SDK hands `on_event`, not dicts of our own making."""
    parsed = events()
    assert all(isinstance(event, EngineEvent) for event in parsed)
    pre = [e.resource_pre_event for e in parsed if e.resource_pre_event]
    assert pre and all(isinstance(p.metadata, auto.events.StepEventMetadata) for p in pre)


def test_every_op_becomes_a_step_in_engine_order(document: dict[str, Any]) -> None:
    """All logical steps appear, "same" included (the --show-sames document), in sequence order."""
    assert [s["op"] for s in document["steps"]] == [
        "same", "same", "create", "create", "create", "create", "create",
        "update", "replace", "delete", "read", "refresh",
    ]


def test_replacement_steps_hidden_like_the_cli_unless_asked(document: dict[str, Any]) -> None:
    """`pulumi preview --json` shows the logical replace only; its two engine steps on request."""
    assert [s["op"] for s in document["steps"] if s["urn"] == SUBNET] == ["replace"]
    full = automation.preview_document(events(), show_replacement_steps=True)
    subnet_steps = [s for s in full["steps"] if s["urn"] == SUBNET]
    assert [s["op"] for s in subnet_steps] == ["create-replacement", "replace", "delete-replaced"]
    assert "newState" not in subnet_steps[2] and subnet_steps[2]["oldState"]["delete"] is True


def test_replace_step_carries_reasons_and_both_states(document: dict[str, Any]) -> None:
    replace = step(document, "replace")
    assert replace["replaceReasons"] == ["cidrBlock"]
    assert replace["diffReasons"] == ["cidrBlock"]
    assert replace["detailedDiff"] == {"cidrBlock": {"kind": "update-replace", "inputDiff": True}}
    assert replace["oldState"]["inputs"]["cidrBlock"] == "10.0.0.0/19"
    assert replace["newState"]["inputs"]["cidrBlock"] == "10.0.0.0/18"
    assert replace["oldState"]["id"] == "subnet-0a1b2c3d4e5f60718" and "id" not in replace["newState"]


def test_create_has_only_a_new_state_with_unknowns_kept(document: dict[str, Any]) -> None:
    """Values known only after `up` stay the engine's magic string, as `pulumi preview --json` prints."""
    create = step(document, "create", "storage-public-access")
    assert "oldState" not in create
    new = create["newState"]
    assert new["type"] == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
    assert new["custom"] is True
    assert new["inputs"]["bucket"] == UNKNOWN and new["outputs"]["id"] == UNKNOWN
    assert new["parent"].endswith("spark-eks-spot:infra:Storage::storage")
    assert create["provider"].startswith("urn:pulumi:dev::spark-eks-spot::pulumi:providers:aws::aws::")
    assert create["detailedDiff"] is None and "diffReasons" not in create


def test_update_renames_diff_kind_and_keeps_state_flags(document: dict[str, Any]) -> None:
    update = step(document, "update")
    assert update["urn"] == VPC
    assert update["diffReasons"] == ["tags", "tagsAll"] and "replaceReasons" not in update
    assert update["detailedDiff"] == {
        "tags.team": {"kind": "add", "inputDiff": True},
        "tagsAll.team": {"kind": "add", "inputDiff": False},
    }
    assert update["oldState"]["inputs"]["tags"] == {"Name": "spark-dev"}
    assert update["newState"]["inputs"]["tags"] == {"Name": "spark-dev", "team": "data"}
    assert update["newState"]["outputs"]["tagsAll"] == UNKNOWN
    assert update["oldState"]["protect"] is True


def test_delete_read_refresh_and_same_states(document: dict[str, Any]) -> None:
    delete = step(document, "delete")
    assert "newState" not in delete and delete["oldState"]["outputs"]["publicIp"] == "192.0.2.10"
    read = step(document, "read")
    assert "oldState" not in read and read["newState"]["id"] == "vpc-0fedcba9876543210"
    assert "inputs" not in read["newState"]  # empty maps are left out, as in apitype.ResourceV3
    refresh = step(document, "refresh")
    assert refresh["oldState"] == refresh["newState"]
    root = step(document, "same", "pulumi:pulumi:Stack::spark-eks-spot-dev")
    assert root["oldState"] == {
        "urn": "urn:pulumi:dev::spark-eks-spot::pulumi:pulumi:Stack::spark-eks-spot-dev",
        "custom": False,
        "type": "pulumi:pulumi:Stack",
    }
    assert "provider" not in root


def test_secrets_become_the_secret_marker_at_any_depth(document: dict[str, Any]) -> None:
    provider = step(document, "create", "cluster-k8s")["newState"]
    assert provider["inputs"]["kubeconfig"] == SECRET and provider["outputs"]["kubeconfig"] == SECRET
    release = step(document, "create", "autoscaler-release")["newState"]["inputs"]
    assert release["values"]["extraEnvSecrets"][0] == SECRET
    assert release["values"]["extraEnvSecrets"][1] == {"name": "AWS_ROLE_ARN", "value": UNKNOWN}
    text = json.dumps(document)
    assert "ciphertext" not in text and "4dabf18193072939515e22adb298388d" not in text


def test_change_summary_config_diagnostics_and_duration(document: dict[str, Any]) -> None:
    assert document["changeSummary"] == {
        "create": 5, "delete": 1, "read": 1, "refresh": 1, "replace": 1, "same": 2, "update": 1,
    }
    assert document["config"]["spark-eks-spot:tags"] == SECRET
    assert document["duration"] == 12_000_000_000
    assert "maybeCorrupt" not in document
    # Debug and ephemeral messages are display-only; colour directives are stripped.
    assert document["diagnostics"] == [
        {"message": "Downloading provider: kubernetes", "severity": "info"},
        {"urn": VPC, "message": "warning: tags changed outside Pulumi will be overwritten\n", "severity": "warning"},
    ]


def test_change_summary_comes_from_the_engine_not_from_counting() -> None:
    raw = raw_events("preview-events.jsonl")
    for event in raw:
        if "summaryEvent" in event:
            event["summaryEvent"]["resourceChanges"] = {"create": 7}
    document = automation.preview_document([EngineEvent.from_json(e) for e in raw])
    assert document["changeSummary"] == {"create": 7}


def test_without_a_summary_the_shown_steps_are_counted() -> None:
    raw = [e for e in raw_events("preview-events.jsonl") if "summaryEvent" not in e]
    document = automation.preview_document([EngineEvent.from_json(e) for e in raw])
    assert document["changeSummary"] == {
        "create": 5, "delete": 1, "read": 1, "refresh": 1, "replace": 1, "same": 2, "update": 1,
    }
    assert "duration" not in document


def test_events_out_of_order_and_after_cancel(document: dict[str, Any]) -> None:
    """gRPC workers may deliver out of order: the sequence number decides; nothing after cancel counts."""
    shuffled = events()
    random.Random(7).shuffle(shuffled)
    assert automation.preview_document(shuffled) == document
    late = EngineEvent.from_json({"sequence": 999, "timestamp": 0, "resourcePreEvent": raw_events("preview-events.jsonl")[1]["resourcePreEvent"]})
    assert automation.preview_document(events() + [late]) == document


def test_document_round_trips_through_the_atomic_writer(tmp_path: Path, document: dict[str, Any]) -> None:
    """What a reader of the preview file (the cost estimator) gets back is the document itself."""
    target = tmp_path / "preview.json"
    automation.write_json_atomic(target, document, overwrite=False)
    assert json.loads(target.read_text()) == document


def test_first_error_is_the_engines_diagnostic_without_colours() -> None:
    message = automation.first_error(events("up-failed-events.jsonl"))
    assert message == (
        "error: creating EKS Cluster (spark-dev): operation error EKS: CreateCluster, "
        "AccessDeniedException: not authorized to perform eks:CreateCluster"
    )
    assert automation.first_error(events()) is None


def test_describe_changes() -> None:
    assert automation.describe_changes({"same": 12, "create": 3, "update": 1}) == "3 to create, 1 to update, 12 unchanged"
    assert automation.describe_changes({"delete": 2, "discard": 1}) == "2 to delete, 1 discard"
    assert automation.describe_changes({}) == "no changes"


def test_outputs_document_masks_secrets_unless_revealed() -> None:
    outputs = {
        "kubeconfig": auto.OutputValue('{"kind": "Config"}', secret=True),
        "clusterName": auto.OutputValue("spark-dev", secret=False),
        "nodeGroups": auto.OutputValue({"executors": {"capacityType": "SPOT"}}, secret=False),
    }
    assert automation.outputs_document(outputs, reveal_secrets=False) == {
        "clusterName": "spark-dev",
        "kubeconfig": SECRET,
        "nodeGroups": {"executors": {"capacityType": "SPOT"}},
    }
    assert automation.outputs_document(outputs, reveal_secrets=True)["kubeconfig"] == '{"kind": "Config"}'


def cli_config(path: Path) -> dict[str, auto.ConfigValue]:
    """Pulumi.<stack>.yaml as `stack.get_all_config()` returns it (structured values as JSON text)."""
    config = yaml.safe_load(path.read_text())["config"]
    return {
        key: auto.ConfigValue(value if isinstance(value, str) else json.dumps(value), secret=False)
        for key, value in config.items()
    }


def test_validate_config_accepts_the_shipped_dev_stack() -> None:
    settings = automation.validate_config("dev", cli_config(automation.ROOT / "Pulumi.dev.yaml"))
    assert settings.cluster_name == "spark-dev" and settings.executors.max_size == 20


def test_validate_config_names_the_key_in_one_line() -> None:
    config = cli_config(automation.ROOT / "Pulumi.dev.yaml")
    config["spark-eks-spot:system"] = auto.ConfigValue(json.dumps({"instanceTypes": ["t3.medium"], "minSize": 0, "maxSize": 2}))
    with pytest.raises(automation.StackConfigInvalid) as raised:
        automation.validate_config("org/spark-eks-spot/dev", config)
    assert raised.value.key == "system.minSize"
    assert str(raised.value).startswith("stack org/spark-eks-spot/dev: check config: config spark-eks-spot:system.minSize:")
    assert "\n" not in str(raised.value)


def test_validate_config_never_echoes_a_secret_value() -> None:
    config = cli_config(automation.ROOT / "Pulumi.dev.yaml")
    config["spark-eks-spot:network"] = auto.ConfigValue(json.dumps({"natGateways": "hunter2"}), secret=True)
    with pytest.raises(automation.StackConfigInvalid) as raised:
        automation.validate_config("dev", config)
    assert raised.value.key == "network.natGateways"
    assert "hunter2" not in str(raised.value) and "secret" in str(raised.value)


def test_config_key_and_text() -> None:
    assert automation.config_key("drivers.maxSize") == "spark-eks-spot:drivers.maxSize"
    assert automation.config_key("aws:region") == "aws:region"
    assert [automation.config_text(v) for v in (True, 5, "m5.xlarge")] == ["true", "5", "m5.xlarge"]
    with pytest.raises(TypeError, match="one path at a time"):
        automation.config_text({"minSize": 1})


def test_atomic_writer_never_overwrites_silently(tmp_path: Path) -> None:
    target = tmp_path / "outputs.json"
    target.write_text('{"kept": true}\n')
    with pytest.raises(FileExistsError):
        automation.write_json_atomic(target, {"new": 1}, overwrite=False)
    assert json.loads(target.read_text()) == {"kept": True}
    automation.write_json_atomic(target, {"new": 1}, overwrite=True)
    assert json.loads(target.read_text()) == {"new": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs.json"]  # no temporary left behind


def test_atomic_writer_makes_secret_files_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "outputs.json"
    automation.write_json_atomic(target, {"kubeconfig": "plain"}, overwrite=False, private=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    public = tmp_path / "preview.json"
    automation.write_json_atomic(public, {}, overwrite=False)
    assert stat.S_IMODE(public.stat().st_mode) & 0o044  # readable by others, as any normal file
