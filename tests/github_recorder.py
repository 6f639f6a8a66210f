"""A loopback stand-in for the GitHub REST API of issue comments, recording every request.

It plays the endpoints the comment writer uses (list issue comments with Link pagination,
create, update) on 127.0.0.1, keeps the comments it holds, and refuses what GitHub refuses:
a body over 65,536 characters gets 422 "Body is too long (maximum is 65536 characters)"
(danger/danger#424, telia-oss/github-pr-resource#259). Tests assert the exact requests the
real urllib client sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

import pytest

REPO = "octo/spark-eks-spot"
BOT = "github-actions[bot]"
GITHUB_LIMIT = 65_536


def comment(comment_id: int, body: str, login: str = BOT) -> dict[str, Any]:
    """An issue comment as the API lists it (id, body, author)."""
    return {"id": comment_id, "body": body, "user": {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"}}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class GitHubRecorder:
    """Comments per page; answers list/create/update; `fail` forces a status on writes."""

    pages: list[list[dict[str, Any]]] = field(default_factory=lambda: [[]])
    fail: int | None = None
    foreign_next_link: bool = False
    requests: list[Recorded] = field(default_factory=list)
    base: str = ""

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method in ("POST", "PATCH")]

    def find(self, comment_id: int) -> dict[str, Any] | None:
        return next((c for page in self.pages for c in page if c.get("id") == comment_id), None)


def _serve(state: GitHubRecorder) -> Iterator[GitHubRecorder]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def _record(self) -> Recorded:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            entry = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw) if raw else None)
            state.requests.append(entry)
            return entry

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _refused(self, entry: Recorded) -> bool:
            if state.fail:
                self._send(state.fail, {"message": "Resource not accessible by integration"})
                return True
            if len(entry.body["body"]) > GITHUB_LIMIT:
                self._send(422, {"message": "Validation Failed", "errors": [{"resource": "IssueComment", "code": "unprocessable",
                                 "field": "data", "message": "Body is too long (maximum is 65536 characters)"}]})
                return True
            return False

        def do_GET(self) -> None:
            self._record()
            url = urlparse(self.path)
            page = int(dict(p.split("=") for p in url.query.split("&") if "=" in p).get("page", "1"))
            headers = {}
            if page < len(state.pages):
                host = "http://127.0.0.1:1" if state.foreign_next_link else state.base.removesuffix("/api/v3")
                headers["Link"] = f'<{host}{url.path}?per_page=100&page={page + 1}>; rel="next", <{host}{url.path}?page={len(state.pages)}>; rel="last"'
            self._send(200, state.pages[page - 1], headers)

        def do_POST(self) -> None:
            entry = self._record()
            if self._refused(entry):
                return
            created = {**comment(555, entry.body["body"]), "html_url": f"http://127.0.0.1/{REPO}/pull/7#issuecomment-555"}
            state.pages[-1].append(created)
            self._send(201, created)

        def do_PATCH(self) -> None:
            entry = self._record()
            if self._refused(entry):
                return
            comment_id = int(self.path.rsplit("/", 1)[1])
            stored = state.find(comment_id)
            if stored is None:
                self._send(404, {"message": "Not Found"})
                return
            stored["body"] = entry.body["body"]
            self._send(200, {**stored, "html_url": f"http://127.0.0.1/{REPO}/pull/7#issuecomment-{comment_id}"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}/api/v3"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def github() -> Iterator[GitHubRecorder]:
    """The recorder on a free loopback port; its API base URL is `github.base`."""
    yield from _serve(GitHubRecorder())
