"""Max pods per node from the EKS AMI's own ENI data (infra/eni_limits.py), not a guess by size.

The VPC CNI's default max pods is ENIs x (IPv4 addresses per ENI - 1) + 2 (awslabs/amazon-eks-ami
nodeadm/internal/kubelet/eni_max_pods.go, calculateStandardMaxPods), with each type's ENI data from
nodeadm/internal/kubelet/instance-info.jsonl. The expected values below are the AMI's published
results for those types, copied from its older table templates/shared/runtime/eni-max-pods.txt
(awslabs/amazon-eks-ami at 72b60466^, the commit before it was removed on 2026-03-19, "no longer
installed into AMIs"), so they check our data and formula against AWS's, not against themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import generate_eni_limits
from infra.capacity import max_pods
from infra.eni_limits import ENI_LIMITS
from infra.instance_types import INSTANCE_SPECS

# eni-max-pods.txt lines ("<type> <max pods>") for a sample that a size-only rule gets wrong or that
# the stack uses: burstable sizes, m4.large's two ENIs, m5zn, and the m8 types with more addresses.
ENI_MAX_PODS_TXT = {
    "t3.medium": 17, "t3a.medium": 17, "t4g.medium": 17, "t3.large": 35, "t3.xlarge": 58,
    "m4.large": 20, "m5.xlarge": 58, "m5zn.large": 29, "m5zn.xlarge": 58, "m5zn.2xlarge": 58,
    "m5n.4xlarge": 234, "m6idn.4xlarge": 234, "m6g.xlarge": 58, "c7g.xlarge": 58, "m8gd.4xlarge": 234,
    "m8a.large": 59, "m8a.xlarge": 78, "m8i.xlarge": 118, "m8i.4xlarge": 394, "m8i-flex.4xlarge": 394,
}


@pytest.mark.parametrize(("instance_type", "pods"), sorted(ENI_MAX_PODS_TXT.items()))
def test_max_pods_matches_the_amis_published_table(instance_type: str, pods: int) -> None:
    assert max_pods(instance_type) == pods


def test_every_offered_type_carries_its_eni_data() -> None:
    """The instance table and the generated data name exactly the same types: a type added to the
    table without regenerating the data fails here (and at import, with the command to run)."""
    assert set(ENI_LIMITS) == set(INSTANCE_SPECS)
    for name, spec in INSTANCE_SPECS.items():
        assert (spec.eni.enis, spec.eni.ipv4_per_eni) == ENI_LIMITS[name]
        assert spec.eni.enis >= 2 and spec.eni.ipv4_per_eni >= 4


def test_the_generator_keeps_only_offered_types_and_writes_importable_data(tmp_path: Path) -> None:
    """Rows are read as instance-info.jsonl writes them; the module it renders is the committed one
    when fed the committed data back (so the file is exactly what the generator makes)."""
    rows = [json.dumps({"instanceType": t, "defaultMaxENIs": e, "ipv4AddressesPerInterface": a})
            for t, (e, a) in ENI_LIMITS.items()]
    rows.append(json.dumps({"instanceType": "x9.huge", "defaultMaxENIs": 99, "ipv4AddressesPerInterface": 99}))
    table = generate_eni_limits.read_instance_info(rows)
    committed = Path(generate_eni_limits.OUTPUT).read_text(encoding="utf-8")
    source = committed.split(" from\n", 1)[1].split(" nodeadm/internal/kubelet/instance-info.jsonl", 1)[0]
    rendered = generate_eni_limits.render(table, source)
    assert rendered == committed
    assert "x9.huge" not in rendered
    namespace: dict[str, object] = {}
    exec(compile(rendered, "eni_limits.py", "exec"), namespace)
    assert namespace["ENI_LIMITS"] == ENI_LIMITS


def test_a_type_missing_from_the_source_stops_the_generator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No guessing: one line naming the missing type, exit 2, nothing written."""
    source = tmp_path / "instance-info.jsonl"
    source.write_text("\n".join(json.dumps({"instanceType": t, "defaultMaxENIs": e, "ipv4AddressesPerInterface": a})
                                for t, (e, a) in ENI_LIMITS.items() if t != "t4g.medium") + "\n")
    output = tmp_path / "eni_limits.py"
    assert generate_eni_limits.main([str(source), "--source", "test", "--output", str(output)]) == 2
    assert capsys.readouterr().err == "infra.generate_eni_limits: error: test has no ENI data for t4g.medium\n"
    assert not output.exists()


def test_a_row_that_is_not_instance_info_is_one_line() -> None:
    with pytest.raises(generate_eni_limits.EniDataError, match=r"^line 2: not an instance-info row \(KeyError"):
        generate_eni_limits.read_instance_info(['{"instanceType": "m5.large", "defaultMaxENIs": 3, '
                                                '"ipv4AddressesPerInterface": 10}', '{"instanceType": "m5.xlarge"}'])


def test_an_unreadable_source_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "instance-info.jsonl"
    assert generate_eni_limits.main([str(missing), "--source", "test", "--output", str(tmp_path / "out.py")]) == 2
    assert capsys.readouterr().err == f"infra.generate_eni_limits: error: cannot read {missing} (FileNotFoundError)\n"
