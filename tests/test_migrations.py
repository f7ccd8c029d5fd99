"""`migrations/rename.py` on a tiny template: a renamed file keeps the service's edits.

v1 renders `notes-<name>.txt`; v2 renames it to `docs/notes-<name>.txt` and changes one of its
lines, with the same `_migrations` entry shape shipshape's copier.yml uses.
"""

import shutil
from pathlib import Path

import pytest

from helpers import ROOT, git_commit, run
from tiny_template import render_v1, update

COPIER_YML = """\
_subdirectory: template
_templates_suffix: .jinja
_migrations:
  - version: v2
    when: "{{ _stage == 'after' }}"
    command:
      - "{{ _copier_python }}"
      - "{{ _copier_conf.src_path }}/migrations/rename.py"
      - --from
      - "{{ _version_from }}"
      - "notes-{{ name }}.txt"
      - "docs/notes-{{ name }}.txt"
name:
  type: str
  default: demo
"""
V1 = "Notes for {{ name }}\none\ntwo\nthree\nfour\nfive\nsix\n"
V2 = "Notes for {{ name }}\none\ntwo\nthree\nfour\nfive\nsix, from the template\n"
OLD, NEW = "notes-demo.txt", "docs/notes-demo.txt"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-release template repository: v1, then v2 with the rename."""
    repo = tmp_path_factory.mktemp("tiny") / "template-repo"
    (repo / "template").mkdir(parents=True)
    (repo / "migrations").mkdir()
    for script in ("rename.py", "service.py"):  # rename.py imports service.py beside it
        shutil.copy(ROOT / "migrations" / script, repo / "migrations" / script)
    (repo / "copier.yml").write_text(COPIER_YML, encoding="utf-8")
    (repo / "template" / "{{_copier_conf.answers_file}}.jinja").write_text(
        "{{ _copier_answers|to_nice_yaml }}", encoding="utf-8"
    )
    (repo / "template" / "notes-{{ name }}.txt.jinja").write_text(V1, encoding="utf-8")
    run(["git", "init", "--quiet", "--initial-branch=main"], repo)
    git_commit(repo, "v1")
    run(["git", "tag", "v1"], repo)
    (repo / "template" / "notes-{{ name }}.txt.jinja").unlink()
    (repo / "template" / "docs").mkdir()
    (repo / "template" / "docs" / "notes-{{ name }}.txt.jinja").write_text(V2, encoding="utf-8")
    git_commit(repo, "v2: move the notes")
    run(["git", "tag", "v2"], repo)
    return repo


def test_edits_move_to_the_new_path_and_meet_the_template_change(
    template: Path, tmp_path: Path
) -> None:
    service = render_v1(template, tmp_path / "service")
    notes = service / OLD
    notes.write_text(notes.read_text().replace("two\n", "two, edited here\n"), encoding="utf-8")
    update(service)
    assert not (service / OLD).exists()
    assert (service / NEW).read_text() == (
        "Notes for demo\none\ntwo, edited here\nthree\nfour\nfive\nsix, from the template\n"
    )


def test_edits_of_the_line_the_template_changed_conflict_inline(
    template: Path, tmp_path: Path
) -> None:
    service = render_v1(template, tmp_path / "service")
    notes = service / OLD
    notes.write_text(notes.read_text().replace("six\n", "six, edited here\n"), encoding="utf-8")
    update(service)
    assert (service / NEW).read_text() == (
        "Notes for demo\none\ntwo\nthree\nfour\nfive\n"
        "<<<<<<< before updating\nsix, edited here\n=======\nsix, from the template\n"
        ">>>>>>> after updating\n"
    )


def test_without_edits_the_new_file_is_the_template_s(template: Path, tmp_path: Path) -> None:
    service = render_v1(template, tmp_path / "service")
    (service / "unrelated.txt").write_text("so that there is something to commit\n")
    update(service)
    assert not (service / OLD).exists()
    assert (service / NEW).read_text() == V2.replace("{{ name }}", "demo")


def test_a_deleted_file_stays_deleted_under_its_new_name(template: Path, tmp_path: Path) -> None:
    service = render_v1(template, tmp_path / "service")
    (service / OLD).unlink()
    update(service)
    assert not (service / OLD).exists()
    assert not (service / NEW).exists()
