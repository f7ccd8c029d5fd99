"""The README's promises: its commands are the ones that run, its questions are the real ones."""

import re
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, asked_questions, copier_config, git_commit, run
from template_repo import clone_with_worktree, next_release, task_lines, template_update

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


# What `git commit` needs on a machine without a git identity; a team's own is in its config.
IDENTITY = {
    f"GIT_{role}_{part}": value
    for role in ("AUTHOR", "COMMITTER")
    for part, value in (("NAME", "test"), ("EMAIL", "test@example.com"))
}
# The update's own `invoke ci` skips the Docker jobs: the quickstart's run built and probed the
# images already, and a second build would add minutes to the slow tier for nothing new.
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def test_the_copy_message_makes_the_readme_first_commit() -> None:
    message = str(copier_config()["_message_after_copy"])
    assert f"\n  {quickstart('first-commit')}\n" in message


@pytest.mark.slow
def test_new_service_quickstart_then_an_update_from_the_template_it_names(tmp_path: Path) -> None:
    checkout = clone_with_worktree(tmp_path / "shipshape")
    result = run(["bash", "-c", quickstart("new-service")], checkout, timeout=1800)
    service = tmp_path / "my-service"
    assert (service / "uv.lock").is_file()
    assert "ci: " in result.stdout
    assert re.search(r"^ci: \d+ passed, 0 failed", result.stdout, re.MULTILINE), result.stdout
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_src_path"] == str(checkout)

    run(["bash", "-c", quickstart("first-commit")], service, env=IDENTITY)
    note = "A line the template added in its next release.\n"
    with (checkout / "template" / "README.md.jinja").open("a", encoding="utf-8") as readme:
        readme.write(f"\n{note}")
    git_commit(checkout, "A template change")
    release = next_release()
    run(["git", "tag", release], checkout)

    updated = template_update(service, env={**IDENTITY, **NO_ENGINE})

    output = updated.stdout + updated.stderr
    assert updated.returncode == 0, output
    assert task_lines(updated.stdout)[-1] == (
        f"template-update: updated {answers['_commit']} -> {release}, `invoke ci` passed: "
        "review, commit"
    ), output
    assert (service / "README.md").read_text(encoding="utf-8").endswith(note)
