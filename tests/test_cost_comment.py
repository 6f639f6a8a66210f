"""The pull-request comment writer against a loopback HTTP server that records every request.

The recorder plays the GitHub REST endpoints the writer uses (list issue comments with
Link pagination, create, update) on 127.0.0.1; each test asserts the exact requests the
real urllib client sent: method, path, headers and JSON body.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cost.cli import main
from cost.comment import GitHubError, upsert_comment
from cost.render import MARKER
from tests.github_recorder import BOT, REPO, GitHubRecorder, comment, github  # noqa: F401  (github is a fixture)

TOKEN = "ghs_recordertoken123"


BODY = f"{MARKER}\n### Monthly cost: $254.66 → $1,070.10 (+$815.44, +320.2%)\n"


def test_creates_the_comment_when_none_is_marked(github: GitHubRecorder) -> None:
    """Two pages of other comments are read, then one POST with the headers GitHub documents."""
    github.pages = [[comment(1, "LGTM", "octocat")], [comment(2, "cost? " + MARKER)]]  # marker not at the start: not ours
    result = upsert_comment(github.base, REPO, 7, TOKEN, BODY, MARKER, BOT)
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
    github.pages = [[comment(1, "first", "octocat")], [comment(42, f"{MARKER}\nold figures"), comment(43, "later", "octocat")]]
    result = upsert_comment(github.base, REPO, 7, TOKEN, BODY, MARKER, BOT)
    assert (result.action, result.comment_id) == ("updated", 42)
    assert [r.method for r in github.requests] == ["GET", "GET", "PATCH"]
    assert github.requests[-1].path == f"/api/v3/repos/{REPO}/issues/comments/42"
    assert github.requests[-1].body == {"body": BODY}


def test_a_refused_write_is_one_line_with_the_fix_and_no_token(github: GitHubRecorder) -> None:
    """403 (fork pull requests get a read-only token): the message names the permission, never the token."""
    github.fail = 403
    with pytest.raises(GitHubError) as raised:
        upsert_comment(github.base, REPO, 7, TOKEN, BODY, MARKER, BOT)
    message = str(raised.value)
    assert "\n" not in message and "403" in message and "pull-requests: write" in message
    assert TOKEN not in message


def test_the_token_never_follows_a_link_to_another_host(github: GitHubRecorder) -> None:
    """A next-page Link outside the configured API base (another port here) is refused before any request goes there."""
    github.pages = [[comment(1, "a")], [comment(2, "b")]]
    github.foreign_next_link = True
    with pytest.raises(GitHubError, match="outside"):
        upsert_comment(github.base, REPO, 7, TOKEN, BODY, MARKER, BOT)
    assert len(github.requests) == 1


def test_body_without_marker_is_refused_before_any_request(github: GitHubRecorder) -> None:
    with pytest.raises(ValueError, match="marker"):
        upsert_comment(github.base, REPO, 7, TOKEN, "### no marker", MARKER, BOT)
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


def test_cli_comment_refused_by_github_is_a_failed_step(
    github: GitHubRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """GitHub answering 403 is a step that failed (exit 1, as jobs treats AWS refusing a request),
    not bad input: one `cost: error:` line with the fix, never the token."""
    body = tmp_path / "cost.md"
    body.write_text(BODY)
    github.fail = 403
    monkeypatch.setenv("GITHUB_API_URL", github.base)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    assert main(["comment", str(body), "--pr", "7"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cost: error: GitHub API: ") and err.count("\n") == 1
    assert "pull-requests: write" in err and TOKEN not in err


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


def test_only_the_bots_own_marked_comment_is_updated(github: GitHubRecorder) -> None:
    """Anyone can post a comment that starts with the marker: the writer matches the marker AND the
    author (the workflow's GITHUB_TOKEN writes as github-actions[bot]), so a forged comment is never
    overwritten and the bot's real one is found after it."""
    forged = comment(30, f"{MARKER}\n### Monthly cost: $0.00 → $0.00 (no change)", "mallory")
    github.pages = [[forged, comment(31, f"{MARKER}\nold figures")]]
    result = upsert_comment(github.base, REPO, 7, TOKEN, BODY, MARKER, BOT)
    assert (result.action, result.comment_id) == ("updated", 31)
    assert [(r.method, r.path) for r in github.writes()] == [("PATCH", f"/api/v3/repos/{REPO}/issues/comments/31")]
    assert github.find(30)["body"].startswith(MARKER + "\n### Monthly cost: $0.00")


def test_a_forged_marker_alone_gets_a_new_comment(github: GitHubRecorder) -> None:
    """Only someone else's marked comment: the bot posts its own rather than editing theirs."""
    github.pages = [[comment(30, f"{MARKER}\nforged", "mallory")]]
    result = upsert_comment(github.base, REPO, 7, TOKEN, BODY, MARKER, BOT)
    assert result.action == "created"
    assert [r.method for r in github.writes()] == ["POST"]


def test_a_body_over_githubs_limit_is_refused_before_any_request(github: GitHubRecorder) -> None:
    """GitHub answers 422 "Body is too long (maximum is 65536 characters)" (danger/danger#424): the writer
    refuses first, in one line, and the recorder (which answers 422 like GitHub) sees nothing."""
    body = BODY + "x" * 65_536
    with pytest.raises(ValueError, match=r"over GitHub's 65,536-character limit") as raised:
        upsert_comment(github.base, REPO, 7, TOKEN, body, MARKER, BOT)
    assert "\n" not in str(raised.value)
    assert github.requests == []


def test_the_recorder_refuses_an_oversized_comment_as_github_does(github: GitHubRecorder) -> None:
    """The stand-in can say no: a 65,537-character body posted past the writer's own check gets 422."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{github.base}/repos/{REPO}/issues/7/comments", method="POST",
                                     data=json.dumps({"body": "x" * 65_537}).encode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 422


def test_cli_failure_note_replaces_the_stale_figures(
    github: GitHubRecorder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`comment --failure REASON`: the bot's comment with an earlier commit's figures is PATCHed to a
    note naming the failure and the run, so no stale numbers stay on the pull request."""
    github.pages = [[comment(42, f"{MARKER}\n### Monthly cost: $254.66 → $1,070.10 (+$815.44, +320.2%)")]]
    monkeypatch.setenv("GITHUB_API_URL", github.base)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example.com")
    monkeypatch.setenv("GITHUB_RUN_ID", "9001")
    assert main(["comment", "--failure", "pulumi preview failed <b>@team</b>", "--pr", "7"]) == 0
    assert capsys.readouterr().out.startswith("updated comment 42")
    note = github.find(42)["body"]
    assert note.startswith(MARKER + "\n### Monthly cost: not available for this commit")
    assert "$1,070.10" not in note
    assert f"([the run](https://github.example.com/{REPO}/actions/runs/9001))" in note
    assert "<b>" not in note and "@team" not in note  # the reason is inert text


def test_cli_comment_needs_a_body_or_a_failure_not_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    body = tmp_path / "cost.md"
    body.write_text(BODY)
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    for argv in (["comment", "--pr", "7"], ["comment", str(body), "--failure", "x", "--pr", "7"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "BODY.md, or --failure REASON" in err
