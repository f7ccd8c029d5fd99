"""Copier migration: the tasks a service added to tasks.py move to team_tasks.py, the team's own.

tasks.py is the template's, and every release may change it; the next release renders
`team_tasks.py` once and never updates it, and tasks.py adds every task defined there to its
collection. After copier has merged, this moves what the team added to tasks.py (its tasks,
and the helpers and constants only they use) into team_tasks.py, with the imports they need:

1. the team's definitions are the top-level functions, classes and assignments of the merged
   tasks.py that the new release's tasks.py does not define; those reachable from a task of
   the team's move, unless code staying in tasks.py uses them (then they stay, and a line
   says so);
2. tasks.py loses them, their names in `ns = Collection(...)` and the imports only they used;
3. team_tasks.py (the service's own, or the new release's as it would render) gains the
   imports they need, copied from tasks.py (`from tasks import ...` for what tasks.py itself
   defines), and then the definitions, as they were written.

A tasks.py with no task of the team's, or still holding a conflict, is left as it is, so
running this twice changes nothing more. A service with no team_tasks.py (one from before it)
gets the new release's, since updates never create it (copier.yml's `_exclude`).

Usage (from copier.yml): move_team_tasks.py --to <version>
"""

import argparse
import ast
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from ci_tasks import COLLECTION_START, collection_names, decorator_name, import_line, import_order
from ci_tasks import line_length as ruff_line_length
from service import has_conflict_markers, read, rendering, say

TASKS = "tasks.py"
TEAM_TASKS = "team_tasks.py"
TASK_DECORATORS = frozenset({"task", "ci_task"})
FALLBACK_TEAM_MODULE = '"""The team\'s own invoke tasks: this file is yours."""\n'


def defined_name(node: ast.stmt) -> str | None:
    """The one name a top-level definition binds, if it is one (`x = ...` counts)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return target.id if isinstance(target, ast.Name) else None
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def is_task(node: ast.stmt) -> bool:
    """Whether a definition is an invoke task: decorated with `@task` or `@ci_task`."""
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
        decorator_name(item) in TASK_DECORATORS for item in node.decorator_list
    )


def names_used(nodes: Iterable[ast.AST]) -> set[str]:
    """Every plain name the nodes read (decorators, defaults and annotations included)."""
    return {
        found.id
        for node in nodes
        for found in ast.walk(node)
        if isinstance(found, ast.Name) and isinstance(found.ctx, ast.Load)
    }


def imported(node: ast.stmt) -> list[str]:
    """The names an import statement binds."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    return []


def first_line(lines: Sequence[str], node: ast.stmt) -> int:
    """Where a definition starts, 0-based: its first decorator, or the comments right above."""
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    start = min([node.lineno, *(item.lineno for item in decorators)]) - 1
    while start > 0 and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    return start


def team_definitions(
    tree: ast.Module, template_names: set[str]
) -> tuple[list[ast.stmt], list[str]]:
    """The definitions to move, and the names of those that stay because tasks.py uses them."""
    candidates = {
        name: node
        for node in tree.body
        if (name := defined_name(node)) is not None and name not in template_names
    }
    moving: set[str] = set()
    pending = [name for name, node in candidates.items() if is_task(node)]
    while pending:
        name = pending.pop()
        if name not in moving:
            moving.add(name)
            pending += [used for used in names_used([candidates[name]]) if used in candidates]
    kept: list[str] = []
    while True:
        staying = [
            node
            for node in tree.body
            if defined_name(node) not in moving
            and not isinstance(node, ast.Import | ast.ImportFrom)
            and not (isinstance(node, ast.Assign) and collection_statement(node))
        ]
        needed = names_used(staying) & moving
        if not needed:
            break
        moving -= needed
        kept += sorted(needed)
    moved = [node for node in tree.body if defined_name(node) in moving]
    return moved, sorted(set(kept))


def collection_statement(node: ast.Assign) -> bool:
    """Whether an assignment is `x = Collection(...)`."""
    return isinstance(node.value, ast.Call) and decorator_name(node.value) == "Collection"


def import_text(node: ast.Import | ast.ImportFrom, keep: set[str], length: int) -> str:
    """An import statement with only the names in `keep`; "" when none is left."""
    aliases = [a for a in node.names if (a.asname or a.name).split(".")[0] in keep]
    if not aliases:
        return ""
    written = [f"{a.name} as {a.asname}" if a.asname else a.name for a in aliases]
    if isinstance(node, ast.Import):
        return "".join(f"import {name}\n" for name in written)
    module = "." * node.level + (node.module or "")
    return import_line(module, sorted(written, key=import_order), length)


def replace_lines(lines: list[str], edits: list[tuple[int, int, str]]) -> str:
    """Apply (start, end, text) replacements of whole 0-based line ranges, end exclusive."""
    for start, end, text in sorted(edits, reverse=True):
        lines[start:end] = [text] if text else []
    return re.sub(r"\n{4,}", "\n\n\n", "".join(lines))


def new_tasks_text(
    source: str, tree: ast.Module, moved: list[ast.stmt], length: int
) -> tuple[str, set[str]]:
    """tasks.py without the moved definitions, their list entries and imports only they used."""
    lines = source.splitlines(keepends=True)
    moved_names = {defined_name(node) for node in moved}
    edits = [(first_line(lines, node), node.end_lineno or node.lineno, "") for node in moved]
    listed = collection_names(source)
    if listed is not None:
        target, names, _ = listed
        statement = next(
            node
            for node in reversed(tree.body)
            if isinstance(node, ast.Assign) and collection_statement(node)
        )
        kept = [name for name in names if name not in moved_names]
        listing = "".join(f"    {name},\n" for name in kept)
        edits.append(
            (
                statement.lineno - 1,
                statement.end_lineno or 0,
                f"{target} = Collection(\n{listing})\n",
            )
        )
    staying = [node for node in tree.body if node not in moved and not imported(node)]
    still_used = names_used(staying)
    dropped: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound = set(imported(node))
            unused = bound - still_used
            if unused:
                dropped |= unused
                text = import_text(node, bound - unused, length)
                edits.append((node.lineno - 1, node.end_lineno or node.lineno, text))
    return replace_lines(lines, edits), dropped


def imports_for(
    source: str, tree: ast.Module, moved: list[ast.stmt], bound_there: set[str], length: int
) -> list[str]:
    """The import lines the moved code needs, in tasks.py's order and groups (as isort has them)."""
    lines = source.splitlines()
    needed = names_used(moved) - {defined_name(node) for node in moved} - bound_there
    blocks: list[str] = []
    previous_end: int | None = None
    for node in tree.body:
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        text = import_text(node, needed & set(imported(node)), length)
        if text:
            between = lines[previous_end : node.lineno - 1] if previous_end is not None else []
            new_group = any(not line.strip() for line in between)
            blocks.append(("\n" if new_group else "") + text)
            previous_end = node.end_lineno
            needed -= set(imported(node))
    own = sorted(needed & {name for node in tree.body if (name := defined_name(node)) is not None})
    if own:
        # tasks.py is first-party, as devtasks is: the same group as a devtasks import.
        same_group = bool(blocks) and blocks[-1].lstrip("\n").startswith("from devtasks")
        text = import_line("tasks", sorted(own, key=import_order), length)
        blocks.append(text if same_group or not blocks else "\n" + text)
    return blocks


def new_team_text(existing: str, imports: list[str], code: list[str], *, defs_first: bool) -> str:
    """team_tasks.py with the imports after its own (or its docstring) and the code at its end."""
    tree = ast.parse(existing)
    lines = existing.splitlines(keepends=True)
    after = 0
    for node in tree.body:
        is_docstring = (
            node is tree.body[0]
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        )
        if is_docstring or isinstance(node, ast.Import | ast.ImportFrom):
            after = node.end_lineno or node.lineno
    head, rest = "".join(lines[:after]), "".join(lines[after:])
    block = "".join(imports)
    text = head.rstrip("\n") + "\n\n" + block if block else head
    if rest.strip():
        text = text.rstrip("\n") + "\n\n" + rest.lstrip("\n")
    # isort's spacing after imports: two blank lines before a def or class, else one.
    right_after_imports = not rest.strip() and bool(block)
    gap = "\n\n" if right_after_imports and not defs_first else "\n\n\n"
    return text.rstrip("\n") + gap + "\n\n\n".join(code) + "\n"


def move(
    source: str, template_source: str, team_source: str, length: int
) -> tuple[str, str, list[str]]:
    """(tasks.py, team_tasks.py, lines): the texts with the team's tasks moved, and what was done.

    `template_source` is the new release's tasks.py, `team_source` the service's team_tasks.py
    (or the release's as it would render). Unchanged texts when there is nothing to move.
    """
    tree, template_tree = ast.parse(source), ast.parse(template_source)
    template_names = {n for node in template_tree.body if (n := defined_name(node)) is not None}
    moved, kept = team_definitions(tree, template_names)
    lines = [
        f"{TASKS}: `{name}` stays: code of tasks.py uses it; move both to {TEAM_TASKS} by hand"
        for name in kept
    ]
    if not any(is_task(node) for node in moved):
        return source, team_source, lines
    team_tree = ast.parse(team_source)
    bound_there = {n for node in team_tree.body for n in [defined_name(node), *imported(node)] if n}
    clashes = sorted(bound_there & {defined_name(node) or "" for node in moved})
    if clashes:
        line = f"{TASKS}: {TEAM_TASKS} defines {', '.join(clashes)} too: nothing moved"
        return source, team_source, [*lines, line]
    source_lines = source.splitlines(keepends=True)
    code = [
        "".join(source_lines[first_line(source_lines, node) : node.end_lineno]).rstrip("\n")
        for node in moved
    ]
    imports = imports_for(source, tree, moved, bound_there, length)
    tasks_text, _ = new_tasks_text(source, tree, moved, length)
    names = ", ".join(defined_name(node) or "" for node in moved if is_task(node))
    line = f"{TASKS}: {names} moved to {TEAM_TASKS}, which is yours: updates never touch it"
    defs_first = isinstance(moved[0], ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    team_text = new_team_text(team_source, imports, code, defs_first=defs_first)
    return tasks_text, team_text, [*lines, line]


def migrate(version_to: str) -> list[str]:
    """Move the team's tasks out of tasks.py; the lines saying what changed (none: untouched)."""
    path, team = Path(TASKS), Path(TEAM_TASKS)
    if not path.is_file():
        return []
    source = path.read_text(encoding="utf-8")
    if has_conflict_markers(source) or not COLLECTION_START.search(source):
        return []
    with rendering(version_to) as new:
        template_source = read(new, TASKS) or ""
        rendered_team = read(new, TEAM_TASKS) or FALLBACK_TEAM_MODULE
    existing = team.read_text(encoding="utf-8") if team.is_file() else rendered_team
    try:
        tasks_text, team_text, lines = move(source, template_source, existing, ruff_line_length())
    except SyntaxError:
        return [f"{TASKS} or {TEAM_TASKS} is not valid Python: nothing moved"]
    if tasks_text != source:
        team.write_text(team_text, encoding="utf-8")
        path.write_text(tasks_text, encoding="utf-8")
    elif not team.is_file():
        # Updates never create it (copier.yml's _exclude): a service from before it gets it here.
        team.write_text(rendered_team, encoding="utf-8")
        lines.append(f"{TEAM_TASKS}: added for your own tasks; it is yours: updates never touch it")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments copier.yml passes and move the team's tasks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", dest="version_to", required=True, help="template version")
    args = parser.parse_args(argv)
    for line in migrate(args.version_to):
        say(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
