"""The pull-request comment writer against a loopback HTTP server that records every request.

The recorder plays the GitHub REST endpoints the writer uses (list issue comments with
Link pagination, create, update) on 127.0.0.1; each test asserts the exact requests the
real urllib client sent: method, path, headers and JSON body.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from cost.cli import main
from cost.comment import GitHubError, upsert_comment
from cost.render import MARKER

TOKEN = "ghs_recordertoken123"
REPO = "octo/spark-eks-spot"


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


@pytest.fixture
def github() -> Iterator[GitHubRecorder]:
    state = GitHubRecorder()

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
            if state.fail:
                self._send(state.fail, {"message": "Resource not accessible by integration"})
                return
            self._send(201, {"id": 555, "body": entry.body["body"], "html_url": f"http://127.0.0.1/{REPO}/pull/7#issuecomment-555"})

        def do_PATCH(self) -> None:
            entry = self._record()
            if state.fail:
                self._send(state.fail, {"message": "Forbidden"})
                return
            comment_id = int(self.path.rsplit("/", 1)[1])
            self._send(200, {"id": comment_id, "body": entry.body["body"], "html_url": f"http://127.0.0.1/{REPO}/pull/7#issuecomment-{comment_id}"})

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


BODY = f"{MARKER}\n### Monthly cost: $254.66 → $1,070.10 (+$815.44, +320.2%)\n"


def test_creates_the_comment_when_none_is_marked(github: GitHubRecorder) -> None:
    """Two pages of other comments are read, then one POST with the headers GitHub documents."""
    github.pages = [[{"id": 1, "body": "LGTM"}], [{"id": 2, "body": "cost? " + MARKER}]]  # marker not at the start: not ours
    result = upsert_comment(github.base, REPO, 7, TOKEN, BODY, MARKER)
    assert (result.action, result.comment_id) == ("created", 555)
    assert [(r.method, r.path) for r in github.requests] == [
        ("GET", f"/api/v3/repos/{REPO}/issues/7/comments?per_page=100"),
        ("GET", f"/api/v3/repos/{REPO}/issues/7/comments?per_page=100&page=2"),
        ("POST", f"/api/v3/repos/{REPO}/issues/7/comments"),
    ]
    post = github.requests[-1]
    assert post.body == {"body": BODY}
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.headers["accept"] == "application/vnd.github+json"
    assert post.headers["x-github-api-version"] == "2022-11-28"
    assert post.headers["content-type"] == "application/json"


def test_updates_the_marked_comment_on_a_later_page(github: GitHubRecorder) -> None:
    """The comment the workflow wrote before is PATCHed, nothing new is posted."""
    github.pages = [[{"id": 1, "body": "first"}], [{"id": 42, "body": f"{MARKER}\nold figures"}, {"id": 43, "body": "later"}]]
    result = upsert_comment(github.base, REPO, 7, TOKEN, BODY, MARKER)
    assert (result.action, result.comment_id) == ("updated", 42)
    assert [r.method for r in github.requests] == ["GET", "GET", "PATCH"]
    assert github.requests[-1].path == f"/api/v3/repos/{REPO}/issues/comments/42"
    assert github.requests[-1].body == {"body": BODY}


def test_a_refused_write_is_one_line_with_the_fix_and_no_token(github: GitHubRecorder) -> None:
    """403 (fork pull requests get a read-only token): the message names the permission, never the token."""
    github.fail = 403
    with pytest.raises(GitHubError) as raised:
        upsert_comment(github.base, REPO, 7, TOKEN, BODY, MARKER)
    message = str(raised.value)
    assert "\n" not in message and "403" in message and "pull-requests: write" in message
    assert TOKEN not in message


def test_the_token_never_follows_a_link_to_another_host(github: GitHubRecorder) -> None:
    """A next-page Link outside the configured API base (another port here) is refused before any request goes there."""
    github.pages = [[{"id": 1, "body": "a"}], [{"id": 2, "body": "b"}]]
    github.foreign_next_link = True
    with pytest.raises(GitHubError, match="outside"):
        upsert_comment(github.base, REPO, 7, TOKEN, BODY, MARKER)
    assert len(github.requests) == 1


def test_body_without_marker_is_refused_before_any_request(github: GitHubRecorder) -> None:
    with pytest.raises(ValueError, match="marker"):
        upsert_comment(github.base, REPO, 7, TOKEN, "### no marker", MARKER)
    assert github.requests == []


def test_cli_comment_uses_github_api_url_and_token_from_the_environment(
    github: GitHubRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m cost comment cost.md --pr 7` as the workflow runs it."""
    body = tmp_path / "cost.md"
    body.write_text(BODY)
    monkeypatch.setenv("GITHUB_API_URL", github.base)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    assert main(["comment", str(body), "--pr", "7"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("created comment 555") and TOKEN not in out
    assert github.requests[-1].path == f"/api/v3/repos/{REPO}/issues/7/comments"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO}, "GITHUB_API_URL is not set"),
        ({"GITHUB_API_URL": "http://127.0.0.1:9", "GITHUB_REPOSITORY": REPO}, "GITHUB_TOKEN is not set"),
        ({"GITHUB_API_URL": "http://127.0.0.1:9", "GITHUB_TOKEN": TOKEN}, "no repository"),
    ],
)
def test_cli_comment_missing_environment_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], expected: str
) -> None:
    body = tmp_path / "cost.md"
    body.write_text(BODY)
    for name in ("GITHUB_API_URL", "GITHUB_TOKEN", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["comment", str(body), "--pr", "7"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and TOKEN not in err
