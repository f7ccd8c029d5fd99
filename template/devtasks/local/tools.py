"""The tools a job's setup actions pin, held to the same version on this machine.

On GitHub, setup-uv, setup-trivy and cosign-installer each install one version. Locally the
job runs only where that very version is on PATH; otherwise it is skipped with one line naming
the pin, what was found and how to get it, so a laptop never scans, locks or signs with
another version. This is a skip for an absent tool only: a scanner that is present but cannot
reach its database still runs, and fails.
"""

import functools
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

VERSION = r"v?(\d+\.\d+\.\d+)"


@dataclass(frozen=True)
class PinnedTool:
    """A tool a setup action installs, the input that pins it, and how to read its version."""

    action: str
    version_input: str
    command: str
    version_argv: tuple[str, ...]
    pattern: re.Pattern[str]
    how: str  # formatted with `version`
    # The version the action installs when the input is absent; None: unknown to us, so the
    # job cannot be held to it and is skipped until the workflow pins one.
    default: str | None = None


PINNED_TOOLS: Mapping[str, PinnedTool] = {
    tool.action: tool
    for tool in (
        PinnedTool(
            "astral-sh/setup-uv",
            "version",
            "uv",
            ("uv", "--version"),
            re.compile(rf"^uv {VERSION}"),
            "`uv self update {version}` or `pip install uv=={version}`",
        ),
        PinnedTool(
            "aquasecurity/setup-trivy",
            "version",
            "trivy",
            ("trivy", "--version"),
            re.compile(rf"^Version: {VERSION}", re.MULTILINE),
            "install it from https://github.com/aquasecurity/trivy/releases/tag/v{version}",
        ),
        PinnedTool(
            "sigstore/cosign-installer",
            "cosign-release",
            "cosign",
            ("cosign", "version"),
            re.compile(rf"^GitVersion:\s+{VERSION}", re.MULTILINE),
            "install it from https://github.com/sigstore/cosign/releases/tag/v{version}",
        ),
    )
}


@functools.cache
def found_version(tool: PinnedTool) -> str | None:
    """The version of the tool on PATH, or None when there is none (or it names none)."""
    if shutil.which(tool.command) is None:
        return None
    said = subprocess.run(
        tool.version_argv, capture_output=True, text=True, check=False, timeout=60
    )
    match = tool.pattern.search(said.stdout + said.stderr)
    return match.group(1) if match else None


def pin_skip(action: str, inputs: Mapping[str, str]) -> tuple[str, str] | None:
    """Why a setup step's tool is not here at its pinned version and how to get it; or None."""
    tool = PINNED_TOOLS.get(action)
    if tool is None:
        return None
    pinned = inputs.get(tool.version_input, tool.default)
    if pinned is None:
        fix = f"pin `{tool.version_input}` in the workflow"
        return f"{action} installs its default {tool.command}, unknown here: {fix}", fix
    wanted = pinned.strip().removeprefix("v")
    found = found_version(tool)
    if found == wanted:
        return None
    here = f"{tool.command} {found}" if found else f"no {tool.command} on PATH"
    how = tool.how.format(version=wanted)
    return f"{action} pins {tool.command} {wanted}; this machine has {here}: {how}", how
