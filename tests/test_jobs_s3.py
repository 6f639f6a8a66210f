"""App upload and the output guard, with boto3 against moto's S3 server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from jobs import PROJECT_ROOT
from jobs.__main__ import main
from jobs.command import AppUpload
from jobs.launch import LaunchError, guard_output, output_holds_objects, s3_client, upload_app
from tests.conftest import TEST_REGION, s3


def keys(moto_url: str, bucket: str) -> list[str]:
    return [item["Key"] for item in s3(moto_url).list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_upload_then_skip_when_unchanged(aws_env: str, bucket: str, tmp_path: Path) -> None:
    """The first upload puts the file; the same content at the same key is not sent again."""
    app = tmp_path / "job.py"
    app.write_text("print('v1')\n")
    upload = AppUpload(app, bucket, "apps/job/aaaa/job.py")
    client = s3_client(TEST_REGION)
    assert upload_app(client, upload) is True
    first = s3(aws_env).head_object(Bucket=bucket, Key=upload.key)
    assert s3(aws_env).get_object(Bucket=bucket, Key=upload.key)["Body"].read() == b"print('v1')\n"
    assert upload_app(client, upload) is False
    again = s3(aws_env).head_object(Bucket=bucket, Key=upload.key)
    assert again["ETag"] == first["ETag"] and again["LastModified"] == first["LastModified"]


def test_output_guard(aws_env: str, bucket: str) -> None:
    """Objects under the output prefix stop a run unless --overwrite; a sibling prefix does not."""
    client = s3_client(TEST_REGION)
    output = f"s3a://{bucket}/output/wordcount/"
    s3(aws_env).put_object(Bucket=bucket, Key="output/wordcount-old/part-0.csv", Body=b"x")
    assert output_holds_objects(client, output) is False
    guard_output(client, output, overwrite=False)

    s3(aws_env).put_object(Bucket=bucket, Key="output/wordcount/part-0.csv", Body=b"x")
    assert output_holds_objects(client, f"s3a://{bucket}/output/wordcount") is True
    with pytest.raises(LaunchError) as raised:
        guard_output(client, output, overwrite=False)
    assert str(raised.value) == (
        f"output: {output} already holds objects; choose a new output (--set output=...) or pass --overwrite to replace them"
    )
    assert raised.value.exit_code == 2
    guard_output(client, output, overwrite=True)


def test_output_guard_sees_an_object_named_like_the_output(aws_env: str, bucket: str) -> None:
    s3(aws_env).put_object(Bucket=bucket, Key="results", Body=b"x")
    assert output_holds_objects(s3_client(TEST_REGION), f"s3a://{bucket}/results/") is True


def test_missing_bucket_is_one_line(aws_env: str) -> None:
    with pytest.raises(LaunchError) as raised:
        output_holds_objects(s3_client(TEST_REGION), "s3a://no-such-bucket-here/out/")
    assert str(raised.value).startswith("output s3a://no-such-bucket-here/out/: S3 refused (NoSuchBucket")
    assert raised.value.exit_code == 1


def test_no_credentials_is_one_line(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(LaunchError) as raised:
        output_holds_objects(s3_client(TEST_REGION), "s3a://bucket/out/")
    assert str(raised.value) == (
        "output s3a://bucket/out/: no AWS credentials; configure them (aws configure, AWS_PROFILE or SSO login)"
    )


def submit(bucket: str, write_outputs: Callable[..., Path], *extra: str) -> int:
    return main(["submit", "examples/wordcount.yaml", "--outputs", str(write_outputs(bucketName=bucket)),
                 "--set", "image.tag=t", *extra])


def test_dry_run_touches_nothing(aws_env: str, bucket: str, write_outputs: Callable[..., Path],
                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """--dry-run lists the upload it would make but uploads nothing and checks nothing on S3."""
    monkeypatch.chdir(PROJECT_ROOT)
    assert submit(bucket, write_outputs, "--dry-run") == 0
    assert "# uploads jobs/apps/wordcount.py" in capsys.readouterr().out
    assert keys(aws_env, bucket) == []


def test_occupied_output_stops_before_any_upload(aws_env: str, bucket: str, write_outputs: Callable[..., Path],
                                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The overwrite guard runs first: exit 2, one line, and the app was not uploaded."""
    monkeypatch.chdir(PROJECT_ROOT)
    s3(aws_env).put_object(Bucket=bucket, Key="output/wordcount/_SUCCESS", Body=b"")
    assert submit(bucket, write_outputs) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"jobs: error: output: s3a://{bucket}/output/wordcount/ already holds objects; choose a new output "
        "(--set output=...) or pass --overwrite to replace them\n"
    )
    assert keys(aws_env, bucket) == ["output/wordcount/_SUCCESS"]
