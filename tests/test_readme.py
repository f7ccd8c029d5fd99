"""The README's promises: its commands are the ones that run, its questions are the real ones."""

import re
from pathlib import Path

import pytest

from helpers import ROOT, asked_questions, run

README = ROOT / "README.md"


def quickstart(marker: str) -> str:
    """The shell command in the code block right after `<!-- quickstart:<marker> -->`."""
    text = README.read_text(encoding="utf-8")
    found = re.search(rf"<!-- quickstart:{marker} -->\n```sh\n(.+?)\n```", text, re.DOTALL)
    assert found is not None, f"README has no quickstart:{marker} block"
    return found.group(1).strip()


def test_ci_run_runs_the_readme_test_command_verbatim() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in script.splitlines() if line and not line.startswith("#")]
    assert commands[-1] == quickstart("test-suite")


def test_readme_lists_every_question_with_its_default() -> None:
    text = README.read_text(encoding="utf-8")
    for name, question in asked_questions().items():
        row = re.search(rf"^\| `{name}` \| (.+?) \|", text, re.MULTILINE)
        assert row is not None, f"README's question table lacks {name}"
        default = str(question["default"])
        if "{{" not in default:
            assert f"`{default}`" in row.group(1), f"{name}: README default {row.group(1)}"


@pytest.mark.slow
def test_new_service_quickstart(tmp_path: Path) -> None:
    checkout = tmp_path / "shipshape"
    run(["git", "clone", "--quiet", str(ROOT), str(checkout)], tmp_path)
    result = run(["bash", "-c", quickstart("new-service")], checkout, timeout=1800)
    service = tmp_path / "my-service"
    assert (service / "uv.lock").is_file()
    assert "ci: " in result.stdout
    assert re.search(r"^ci: \d+ passed, 0 failed", result.stdout, re.MULTILINE), result.stdout
