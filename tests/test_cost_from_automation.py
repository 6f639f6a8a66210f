"""The preview file that `python -m infra.deploy preview --preview-out` writes is what the cost estimator reads."""

from __future__ import annotations

import json
from pathlib import Path

from pulumi.automation.events import EngineEvent

from cost.cli import main as cost_main
from cost.snapshot import load_snapshot
from infra import automation
from tests.cost_helpers import AS_OF

FIXTURE = Path(__file__).parent / "fixtures" / "automation" / "preview-events.jsonl"


def test_cost_diff_reads_the_preview_document_built_from_engine_events(tmp_path: Path, capsys) -> None:
    """Engine events → preview JSON (automation) → `python -m cost diff --format json` (cost)."""
    events = [EngineEvent.from_json(json.loads(line)) for line in FIXTURE.read_text().splitlines() if line.strip()]
    preview_file = tmp_path / "preview.json"
    automation.write_json_atomic(preview_file, automation.preview_document(events), overwrite=False)

    assert cost_main(["diff", str(preview_file), "--format", "json", *AS_OF]) == 0
    report = json.loads(capsys.readouterr().out)

    names = [r["name"] for r in report["resources"]]
    by_name = {r["name"]: r for r in report["resources"]}
    # Every logical step is priced once: the replacement's three steps are one resource.
    assert names.count("network-private-0") == 1
    assert by_name["network-private-0"]["op"] == "replace"
    # The deleted NAT address is the one priced change: an hour of public IPv4 for a month, gone.
    ipv4_monthly = load_snapshot().hourly("us-west-2", "publicIpv4Hour") * 730
    assert by_name["network-nat-1"]["op"] == "delete"
    assert by_name["network-nat-1"]["monthlyBefore"] == round(ipv4_monthly, 2)
    assert by_name["network-nat-1"]["monthlyAfter"] == 0
    assert report["deltaMonthly"] == -round(ipv4_monthly, 2)
    assert report["usageBased"] == ["urn:pulumi:dev::spark-eks-spot::spark-eks-spot:infra:Storage$aws:s3/bucket:Bucket::storage-data"]
