"""What `invoke docker` builds and where it goes, decided from the repository and environment.

Pure functions of their inputs, so the tag and publish rules are tested without an engine.
"""

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from devtasks import config, dockerfile

PYPROJECT = config.PYPROJECT
DOCKERFILE = Path("Dockerfile")
REGISTRY = "ghcr.io"
GITHUB_SOURCE = re.compile(r"^https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?$")
RELEASE_TAG = re.compile(r"^v(\d+\.\d+\.\d+.*)$")
UNKNOWN_REVISION = "unknown"  # outside a git repository, without GITHUB_SHA


class ImageError(Exception):
    """The repository or environment does not allow the requested build or publish."""


@dataclass(frozen=True)
class Project:
    """What pyproject.toml says about the image: its name, version and source."""

    name: str
    version: str
    source: str
    description: str = ""

    @property
    def repository(self) -> str:
        """Where the image is published: ghcr.io/<owner>/<name>, lower-case as OCI requires."""
        match = GITHUB_SOURCE.match(self.source)
        if match is None:
            msg = f"{PYPROJECT}: [project.urls] Source must be https://github.com/<owner>/<name>"
            raise ImageError(msg)
        return f"{REGISTRY}/{match.group(1)}/{self.name}".lower()


def read_project(root: Path = Path()) -> Project:
    """The project's name, version and source URL, from pyproject.toml."""
    project = config.pyproject(root).get("project", {})
    if not isinstance(project, dict):
        message = f"{PYPROJECT}: [project] must be a table"
        raise config.ConfigError(message)
    urls = project.get("urls", {})
    return Project(
        name=str(project.get("name", "")),
        version=str(project.get("version", "")),
        source=str(urls.get("Source", "")) if isinstance(urls, dict) else "",
        description=str(project.get("description", "")),
    )


def default_base_image(path: Path = DOCKERFILE) -> str:
    """The image the Dockerfile's `python` stage starts from, the base every stage builds on."""
    try:
        return dockerfile.parse(path.read_text(encoding="utf-8")).require_base_image()
    except dockerfile.DockerfileError as error:
        raise ImageError(str(error)) from None


def _git(*argv: str) -> str | None:
    found = subprocess.run(["git", *argv], capture_output=True, text=True, check=False)
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else None


@dataclass(frozen=True)
class Revision:
    """The commit being built: its hash (or 'unknown'), when it was made, local changes."""

    sha: str
    created: str
    dirty: bool = False

    @property
    def label(self) -> str:
        """The revision as labels and `/health` report it."""
        return f"{self.sha}-dirty" if self.dirty else self.sha

    @property
    def tag(self) -> str:
        """`sha-<short>`; 'local' outside a git repository."""
        if self.sha == UNKNOWN_REVISION:
            return "local"
        return f"sha-{self.sha[:7]}{'-dirty' if self.dirty else ''}"


def current_revision(env: Mapping[str, str]) -> Revision:
    """GITHUB_SHA in Actions, else git's HEAD (dirty with local changes), else 'unknown'.

    `created` is the commit's time, so rebuilding one commit gives identical labels.
    """
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sha = env.get("GITHUB_SHA") or _git("rev-parse", "HEAD")
    if sha is None:
        return Revision(sha=UNKNOWN_REVISION, created=now)
    if "GITHUB_SHA" not in env and _git("status", "--porcelain", "--untracked-files=no"):
        return Revision(sha=sha, created=now, dirty=True)
    return Revision(sha=sha, created=_git("show", "--no-patch", "--format=%cI", sha) or now)


def tags(
    project: Project, revision: Revision, env: Mapping[str, str], branch: str = "main"
) -> list[str]:
    """The prod image's tags: sha-<short> always, the version on a tag, latest on the branch."""
    found = [revision.tag]
    if env.get("GITHUB_REF_TYPE") == "tag":
        name = env.get("GITHUB_REF_NAME", "")
        match = RELEASE_TAG.match(name)
        if match is None:
            msg = f"git tag {name!r} is not a release tag like v1.2.3"
            raise ImageError(msg)
        if match.group(1) != project.version:
            msg = (
                f"git tag {name} does not match {PYPROJECT}'s version {project.version}: "
                "bump the version, commit, then tag"
            )
            raise ImageError(msg)
        found.append(project.version)
    elif env.get("GITHUB_REF") == f"refs/heads/{branch}":
        found.append("latest")
    return found


def publish_decision(
    env: Mapping[str, str], branch: str = "main", *, requested: bool = False
) -> tuple[bool, str]:
    """Whether to push, and why: only for `invoke publish`, on a tag or the default branch."""
    if not requested:
        return False, "not publishing: `invoke publish` does, after every CI job passed"
    if env.get("GITHUB_REF_TYPE") == "tag":
        return True, f"publishing: tag {env.get('GITHUB_REF_NAME', '?')}"
    if env.get("GITHUB_REF") == f"refs/heads/{branch}":
        return True, f"publishing: {branch}"
    ref = env.get("GITHUB_REF") or "(no GITHUB_REF)"
    return False, f"not publishing: {ref} is neither a tag nor {branch}"


def base_contexts(env: Mapping[str, str]) -> dict[str, str | Path]:
    """`--build-context python=docker-image://$PYTHON_IMAGE` when it is set: a mirror's copy."""
    base = env.get("PYTHON_IMAGE")
    contexts: dict[str, str | Path] = {}
    if base:
        contexts[dockerfile.BASE_STAGE] = f"docker-image://{base}"
    return contexts


def in_github_actions(env: Mapping[str, str]) -> bool:
    """Whether this runs in GitHub Actions."""
    return env.get("GITHUB_ACTIONS") == "true"


def build_cache(
    env: Mapping[str, str], target: str, *, publishing: bool, driver: str = "docker-container"
) -> tuple[dict[str, str] | None, dict[str, str] | None, str]:
    """The buildx `--cache-from`/`--cache-to` for a target, and a line saying why.

    The GitHub Actions cache is used in Actions only, and never for a build that is
    published: a cache written by a pull request must not end up in a released image.
    The builder must be able to export a cache, which the engine's own (`docker`) cannot.
    """
    if not in_github_actions(env):
        return None, None, "cache: the local BuildKit cache"
    if publishing:
        return None, None, "cache: none (a published image is built from scratch)"
    if driver == "docker":
        reason = "the builder's docker driver cannot export one (add docker/setup-buildx-action)"
        return None, None, f"cache: none, {reason}"
    if not env.get("ACTIONS_RUNTIME_TOKEN"):
        reason = "ACTIONS_RUNTIME_TOKEN is not set (add crazy-max/ghaction-github-runtime)"
        return None, None, f"cache: none, {reason}"
    scope = {"type": "gha", "scope": target}
    return scope, {**scope, "mode": "max"}, f"cache: GitHub Actions cache, scope {target}"


def labels_args(project: Project, revision: Revision) -> dict[str, str]:
    """Build arguments that fill the Dockerfile's OCI labels."""
    return {
        "VERSION": project.version,
        "REVISION": revision.label,
        "CREATED": revision.created,
        "SOURCE": project.source,
        "DESCRIPTION": project.description,
    }
