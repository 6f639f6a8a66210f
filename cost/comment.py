"""Create or update the pull request's cost comment through the GitHub REST API.

The comment is found by the hidden marker its body starts with AND its author (the
workflow token's login, `github-actions[bot]`), so each push updates the bot's one comment
instead of adding another, and nobody's comment that merely starts with the marker is
overwritten. A body over GitHub's limit is refused before any request. The API base URL is passed in (the CLI takes it
from GITHUB_API_URL, which GitHub Actions sets, also on GitHub Enterprise); the token
is sent only to that base URL and never printed.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from cost.render import GITHUB_COMMENT_LIMIT

API_VERSION = "2022-11-28"
PER_PAGE = 100
MAX_PAGES = 50  # 5,000 comments: enough for any pull request, and a bound on a misbehaving server
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


class GitHubError(RuntimeError):
    """The API refused or failed; the message is one line with the status and the likely fix."""


@dataclass(frozen=True)
class CommentResult:
    action: str  # "created" or "updated"
    comment_id: int
    url: str


_HINTS = {
    401: "the token is missing or expired",
    403: "the token may not write comments: give the workflow `pull-requests: write` (fork pull requests get a read-only token)",
    404: "check the repository name and pull request number",
}


def _request(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> tuple[Any, str | None]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/vnd.github+json")
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("X-GitHub-Api-Version", API_VERSION)
    request.add_header("User-Agent", "spark-eks-spot-cost")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
            return (json.loads(payload) if payload else None), response.headers.get("Link")
    except urllib.error.HTTPError as error:
        hint = _HINTS.get(error.code, "see the GitHub API status")
        path = urllib.parse.urlparse(url).path  # never echo query strings or tokens
        raise GitHubError(f"GitHub API: {method} {path} answered {error.code} {error.reason}; {hint}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise GitHubError(f"GitHub API: {method} {url} failed ({reason}); check GITHUB_API_URL") from None
    except json.JSONDecodeError:
        raise GitHubError(f"GitHub API: {method} {url} answered something that is not JSON") from None


def _author(comment: dict[str, Any]) -> str | None:
    user = comment.get("user")
    login = user.get("login") if isinstance(user, dict) else None
    return login if isinstance(login, str) else None


def find_marked_comment(api_url: str, repo: str, number: int, token: str, marker: str, author: str) -> dict[str, Any] | None:
    """The first comment of the pull request by `author` whose body starts with `marker`, following pagination."""
    base = api_url.rstrip("/")
    url: str | None = f"{base}/repos/{repo}/issues/{number}/comments?per_page={PER_PAGE}"
    for _ in range(MAX_PAGES):
        if url is None:
            return None
        comments, link = _request("GET", url, token)
        if not isinstance(comments, list):
            raise GitHubError(f"GitHub API: listing comments of {repo}#{number} did not return a list")
        for comment in comments:
            if isinstance(comment, dict) and _author(comment) == author and str(comment.get("body", "")).lstrip().startswith(marker):
                return comment
        match = _NEXT_LINK.search(link or "")
        url = match.group(1) if match else None
        if url is not None and not url.startswith(base + "/"):
            # The token goes to the configured API only, whatever a Link header says.
            raise GitHubError(f"GitHub API: the next page is outside {base}; refusing to send the token there")
    return None


def upsert_comment(api_url: str, repo: str, number: int, token: str, body: str, marker: str, author: str) -> CommentResult:
    """Update `author`'s marked comment if there is one, else create it."""
    if not body.lstrip().startswith(marker):
        raise ValueError(f"the comment body must start with the marker {marker}")
    size = len(body.encode())
    if size > GITHUB_COMMENT_LIMIT:
        raise ValueError(f"the comment body is {size:,} bytes, over GitHub's {GITHUB_COMMENT_LIMIT:,}-character limit; "
                         "render it with `python -m cost diff --format markdown` (which fits it)")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
        raise ValueError(f"repository {repo!r} must be OWNER/NAME")
    base = api_url.rstrip("/")
    existing = find_marked_comment(base, repo, number, token, marker, author)
    if existing is not None:
        comment, _ = _request("PATCH", f"{base}/repos/{repo}/issues/comments/{int(existing['id'])}", token, {"body": body})
        action = "updated"
    else:
        comment, _ = _request("POST", f"{base}/repos/{repo}/issues/{number}/comments", token, {"body": body})
        action = "created"
    if not isinstance(comment, dict) or "id" not in comment:
        raise GitHubError(f"GitHub API: the {action} comment came back without an id")
    return CommentResult(action, int(comment["id"]), str(comment.get("html_url", "")))
