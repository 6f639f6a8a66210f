"""What the submitter keeps in the bucket so a job's story outlasts its pods.

    spark-events/jobs/<job>/<submission>.json          one record per submission (SubmissionRecord)
    spark-events/jobs/<job>/<submission>.driver.log    the driver pod's log, saved when the driver ended
    spark-events/driver-logs/<app id>_driver.log       Spark's own copy of the driver's JVM log
    spark-events/output-claims/<sha-256 of output>.json    the run that last took an output

All of it sits under the event-log prefix, so the bucket's event-log expiry is its retention
too, and the History Server ignores it (it reads only `eventlog_v2_*` folders and plain files
at the top of its log directory).

The pod log is the full console of the driver, the Python traceback included; Spark's copy
(spark.driver.log.*) holds only the JVM's log lines and reaches S3 only when the driver stops
cleanly (S3A uploads on close). A driver that is OOMKilled or loses its node leaves only the
pod log, and only while the pod exists: `submit --wait`, `describe`, `logs` and `clean` save it
when they see the driver ended.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from jobs.command import DRIVER_LOG_PREFIX, OUTPUT_CLAIMS_PREFIX, SUBMISSIONS_PREFIX
from jobs.launch import s3_call, s3_failure

# How many of a job's (or of all jobs') newest records `describe` and `list` read.
RECORD_LIMIT = 50
_CAMEL = {
    "max_attempts": "maxAttempts", "submitted_at": "submittedAt", "ended_at": "endedAt", "app_id": "appId",
    "driver_pod": "driverPod", "driver_memory": "driverMemory", "pod_log": "podLog",
}


@dataclass(frozen=True)
class SubmissionRecord:
    job: str
    submission: str
    run: str
    attempt: int
    max_attempts: int
    state: str
    reason: str = ""
    cause: str = ""
    submitted_at: str = ""  # ISO 8601, UTC
    ended_at: str = ""
    app_id: str = ""
    driver_pod: str = ""
    output: str = ""
    driver_memory: str = ""
    pod_log: str = ""  # the key of the saved driver pod log, once saved

    def as_json(self) -> dict[str, Any]:
        return {_CAMEL.get(key, key): value for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, document: Any) -> SubmissionRecord | None:
        """A record read back; None when the object is not one (a hand-made file, another version)."""
        if not isinstance(document, dict):
            return None
        names = {field.name: _CAMEL.get(field.name, field.name) for field in fields(cls)}
        values = {name: document.get(key) for name, key in names.items() if key in document}
        try:
            record = cls(**values)
        except TypeError:
            return None
        if not isinstance(record.job, str) or not isinstance(record.submission, str) or not isinstance(record.attempt, int):
            return None
        return record

    def updated(self, **changes: Any) -> SubmissionRecord:
        return replace(self, **changes)


def record_key(job: str, submission: str) -> str:
    return f"{SUBMISSIONS_PREFIX}{job}/{submission}.json"


def pod_log_key(job: str, submission: str) -> str:
    return f"{SUBMISSIONS_PREFIX}{job}/{submission}.driver.log"


def spark_driver_log_key(app_id: str) -> str:
    """Where Spark's DriverLogger puts the driver's log: `<dfsDir>/<app id>_driver.log`
    (DriverLogger.DfsAsyncWriter)."""
    return f"{DRIVER_LOG_PREFIX}{app_id}_driver.log"


def claim_key(output_uri: str) -> str:
    canonical = output_uri.rstrip("/") + "/"
    return f"{OUTPUT_CLAIMS_PREFIX}{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:40]}.json"


def _missing(error: Exception) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


class Records:
    """Records, saved logs and output claims of one stack's bucket."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        s3_call(f"save {self.uri(key)}", self.s3.put_object, Bucket=self.bucket, Key=key, Body=body,
                 ContentType=content_type)

    def read_text(self, key: str) -> str | None:
        """An object's text, or None when there is no such object."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as error:
            if _missing(error):
                return None
            raise s3_failure(f"read {self.uri(key)}", error) from None
        return body.decode("utf-8", errors="replace")

    def put(self, record: SubmissionRecord) -> None:
        self._put(record_key(record.job, record.submission), json.dumps(record.as_json(), indent=2).encode(),
                  "application/json")

    def get(self, job: str, submission: str) -> SubmissionRecord | None:
        text = self.read_text(record_key(job, submission))
        if text is None:
            return None
        try:
            return SubmissionRecord.from_json(json.loads(text))
        except ValueError:
            return None

    def _newest_keys(self, prefix: str, limit: int) -> list[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        found: list[tuple[Any, str]] = []
        pages = s3_call(f"list {self.uri(prefix)}", lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=prefix)))
        for page in pages:
            for item in page.get("Contents", []):
                if item["Key"].endswith(".json"):
                    found.append((item["LastModified"], item["Key"]))
        return [key for _, key in sorted(found, reverse=True)[:limit]]

    def newest(self, job: str | None = None, limit: int = RECORD_LIMIT) -> list[SubmissionRecord]:
        """The newest records of `job` (or of every job), newest first."""
        prefix = f"{SUBMISSIONS_PREFIX}{job}/" if job else SUBMISSIONS_PREFIX
        records = []
        for key in self._newest_keys(prefix, limit):
            text = self.read_text(key)
            try:
                record = SubmissionRecord.from_json(json.loads(text)) if text else None
            except ValueError:
                record = None
            if record is not None:
                records.append(record)
        return records

    def save_pod_log(self, job: str, submission: str, text: str) -> str:
        key = pod_log_key(job, submission)
        self._put(key, text.encode("utf-8"), "text/plain; charset=utf-8")
        return key

    def claim_output(self, output_uri: str, job: str, run: str, attempt: int, at: str) -> None:
        """Note that run `run` of `job` (attempt `attempt`) is about to write `output_uri`."""
        claim = {"output": output_uri, "job": job, "run": run, "attempt": attempt, "claimedAt": at}
        self._put(claim_key(output_uri), json.dumps(claim).encode(), "application/json")

    def claim_of(self, output_uri: str) -> dict[str, Any] | None:
        text = self.read_text(claim_key(output_uri))
        try:
            claim = json.loads(text) if text else None
        except ValueError:
            return None
        return claim if isinstance(claim, dict) else None
