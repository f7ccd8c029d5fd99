"""Copier migration: a service's tasks declared the v0.1.0 way become `@ci_task`s.

Up to v0.1.0 a CI job's task carried two decorators, invoke's `@task` and `@ci_job(env=...)`
from devtasks.jobs (a task another workflow calls: `@reads_env(...)`). The next release has
one, `@ci_task(env=..., workflow=...)`, and neither `ci_job` nor `reads_env`, so a task a team
added the old way stops tasks.py from importing. After copier has merged, this

1. resolves the conflict over the task list: v0.1.0 listed every task on one line of
   `ns = Collection(...)`, the template now lists one a line, so a team that added its task
   there conflicts. The result is the template's list, less the tasks the team removed, plus
   the team's own, one a line;
2. rewrites each task decorated with `@ci_job` or `@reads_env` and `@task`, in either order,
   with or without arguments, into one `@ci_task(...)`: `@task`'s options (`help=`, `name=`,
   pre-tasks) and the declared variables are kept, and the workflow is the one whose job
   calls the task (`invoke <name>`). A `@reads_env` task no workflow calls becomes a plain
   `@task`: there is nothing left to declare the variables to;
3. takes `ci_job` and `reads_env` out of the `from devtasks.jobs import` line and adds
   `ci_task` when a task now uses it.

Any other use of `ci_job` or `reads_env` is left as it is and named in a line. A tasks.py
without the old forms is left untouched, so running this twice changes nothing more.

Usage (from copier.yml): ci_tasks.py --from <version>
"""

import argparse
import ast
import re
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from service import has_conflict_markers, mark_resolved, read, rendering, say

TASKS = "tasks.py"
WORKFLOWS = Path(".github/workflows")
CI_WORKFLOW = "ci"
OLD_DECORATORS = frozenset({"ci_job", "reads_env"})
DEFAULT_LINE_LENGTH = 88  # ruff's, when pyproject.toml sets none
DEF_LINE = re.compile(r"^(?:async\s+)?def\s+(\w+)")
COLLECTION_START = re.compile(r"^(\w+)\s*=\s*Collection\(", re.MULTILINE)
JOBS_IMPORT = re.compile(
    r"^from devtasks\.jobs import (?:\((?P<wrapped>[^)]*)\)|(?P<line>[^\n(]+))\n", re.MULTILINE
)
TASK_IMPORT = re.compile(r"^from invoke\.tasks import (?P<names>[^\n(]+)\n", re.MULTILINE)


@dataclass
class Rewrite:
    """What the migration changed in tasks.py, for the lines it prints."""

    tasks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- the task list -------------------------------------------------------------------------


def collection_names(source: str) -> tuple[str, list[str], int] | None:
    """(target, names, first line) of a source's last `x = Collection(a, b, ...)` statement."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in reversed(tree.body):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "Collection"
            and not node.value.keywords
            and all(isinstance(arg, ast.Name) for arg in node.value.args)
        ):
            names = [arg.id for arg in node.value.args if isinstance(arg, ast.Name)]
            return node.targets[0].id, names, node.lineno
    return None


def merged_names(base: Sequence[str], ours: Sequence[str], theirs: Sequence[str]) -> list[str]:
    """The template's tasks less those the team removed, then the team's own, in order."""
    kept = [name for name in theirs if name in ours or name not in base]
    return kept + [name for name in ours if name not in theirs and name not in base]


def conflict_blocks(lines: Sequence[str]) -> list[tuple[int, int, int, int]]:
    """(start, separator, end, base separator or -1) of every inline conflict, by line index."""
    blocks = []
    start = middle = base = -1
    for index, line in enumerate(lines):
        if line.startswith("<" * 7 + " ") or line.rstrip("\n") == "<" * 7:
            start, middle, base = index, -1, -1
        elif start >= 0 and line.startswith("|" * 7):
            base = index
        elif start >= 0 and line.rstrip("\n") == "=" * 7:
            middle = index
        elif start >= 0 and middle >= 0 and line.startswith(">" * 7):
            blocks.append((start, middle, index, base))
            start = middle = -1
    return blocks


def indented(line: str) -> bool:
    """Whether a line continues a statement begun above it (indented, not blank)."""
    return line[:1].isspace() and bool(line.strip())


def resolve_task_list(text: str, base_names: Sequence[str]) -> tuple[str, list[str]]:
    """Resolve conflicts over `ns = Collection(...)`; the text and the team's names kept."""
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    for start, middle, end, base in reversed(conflict_blocks(lines)):
        # Inside the call (the list's lines differ) or around it (whole statements differ).
        first, last = start, end + 1
        probe = start
        while probe > 0 and indented(lines[probe - 1]):
            probe -= 1
        if probe > 0 and COLLECTION_START.match(lines[probe - 1]):
            first = probe - 1
            while last < len(lines) and indented(lines[last]):
                last += 1
            if last == len(lines) or not lines[last].startswith(")"):
                continue
            last += 1
        before, after = lines[first:start], lines[end + 1 : last]
        ours = "".join(before + lines[start + 1 : base if base >= 0 else middle] + after)
        theirs = "".join(before + lines[middle + 1 : end] + after)
        ours_list, theirs_list = collection_names(ours), collection_names(theirs)
        if ours_list is None or theirs_list is None or ours_list[0] != theirs_list[0]:
            continue
        theirs_body = theirs.splitlines(keepends=True)[: theirs_list[2] - 1]
        ours_body = ours.splitlines(keepends=True)[: ours_list[2] - 1]
        if "".join(theirs_body).strip() and theirs_body != ours_body:
            continue  # the template changed more than the list here: leave the conflict
        names = merged_names(base_names, ours_list[1], theirs_list[1])
        listed = "".join(f"    {name},\n" for name in names)
        lines[first:last] = [*ours_body, f"{ours_list[0]} = Collection(\n{listed})\n"]
        kept += [name for name in names if name not in theirs_list[1]]
    return "".join(lines), kept


# --- the decorators ------------------------------------------------------------------------


def decorator_name(node: ast.expr) -> str | None:
    """`task`, `ci_job`, `reads_env` (or another plain name) of `@name` or `@name(...)`."""
    target = node.func if isinstance(node, ast.Call) else node
    return target.id if isinstance(target, ast.Name) else None


def invoked_name(function: str, task: ast.expr) -> str:
    """The name `invoke` knows the task by: its `name=` option, else the function's, dashed."""
    if isinstance(task, ast.Call):
        for keyword in task.keywords:
            if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                return str(keyword.value.value)
    return function.replace("_", "-")


def calling_workflows(name: str) -> list[str]:
    """The workflows (file stems) that have a step running `invoke <name>`."""
    call = re.compile(rf"\binvoke\s+{re.escape(name)}(?=[\s\"']|$)", re.MULTILINE)
    return sorted(
        path.stem
        for path in WORKFLOWS.glob("*.y*ml")
        if call.search(path.read_text(encoding="utf-8"))
    )


def segment(source: str, node: ast.AST) -> str:
    """The exact source text of a node."""
    text = ast.get_source_segment(source, node)
    if text is None:
        message = f"no source for {ast.dump(node)}"
        raise ValueError(message)
    return text


def environment(source: str, nodes: dict[str, ast.expr]) -> str | None:
    """The `env=` of the new decorator from `@ci_job(env=...)` and `@reads_env(...)`, if any."""
    items: list[str] = []
    job = nodes.get("ci_job")
    if isinstance(job, ast.Call):
        for keyword in job.keywords:
            if keyword.arg != "env":
                continue
            if isinstance(keyword.value, (ast.Tuple, ast.List)):
                items += [segment(source, element) for element in keyword.value.elts]
            elif "reads_env" not in nodes:
                return segment(source, keyword.value)
            else:
                items.append(f"*{segment(source, keyword.value)}")
    reads = nodes.get("reads_env")
    if isinstance(reads, ast.Call):
        items += [segment(source, arg) for arg in reads.args]
    if not items:
        return None
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def task_options(source: str, task: ast.expr) -> list[str]:
    """`@task`'s own arguments, as keyword arguments in their order (pre-tasks as `pre=`)."""
    if not isinstance(task, ast.Call):
        return []
    options = []
    if task.args:
        options.append(f"pre=[{', '.join(segment(source, arg) for arg in task.args)}]")
    for keyword in task.keywords:
        value = segment(source, keyword.value)
        options.append(f"{keyword.arg}={value}" if keyword.arg else f"**{value}")
    return options


def decorator(name: str, arguments: Sequence[str], line_length: int) -> str:
    """`@name(...)` as ruff formats it: on one line if it fits, else one argument a line."""
    if name == "task" and not arguments:
        return "@task\n"
    one_line = f"@{name}({', '.join(arguments)})\n"
    if len(one_line) - 1 <= line_length and "\n" not in one_line[:-1]:
        return one_line
    # The trailing comma keeps ruff from joining the lines again (its "magic trailing comma").
    return f"@{name}(\n" + "".join(f"    {argument},\n" for argument in arguments) + ")\n"


def old_decorators(group: Sequence[str]) -> tuple[str, dict[str, ast.expr]] | None:
    """The parsed decorators (source, `task`/`ci_job`/`reads_env` nodes) if any is old."""
    source = "".join(group) + "def _decorated(): ...\n"
    try:
        definition = ast.parse(source).body[0]
    except SyntaxError:
        return None
    if not isinstance(definition, ast.FunctionDef):
        return None
    found: dict[str, ast.expr] = {}
    for node in definition.decorator_list:
        name = decorator_name(node)
        if name in {"task", *OLD_DECORATORS}:
            found.setdefault(name, node)
    return (source, found) if OLD_DECORATORS & set(found) else None


def new_decorator(
    function: str, source: str, found: dict[str, ast.expr], task: ast.expr, result: Rewrite
) -> tuple[str, list[str]]:
    """The decorator that replaces the old ones: its name and its arguments."""
    callers = calling_workflows(invoked_name(function, task))
    options = task_options(source, task)
    if "ci_job" not in found and not callers:
        result.notes.append(
            f"{TASKS}: `{function}` declared the variables it reads with @reads_env, but no "
            "workflow calls it: it is a plain @task now"
        )
        return "task", options
    workflow = CI_WORKFLOW if CI_WORKFLOW in callers or not callers else callers[0]
    if len(callers) > 1:
        result.notes.append(
            f"{TASKS}: `{function}` is called by jobs of {', '.join(callers)}; a @ci_task "
            f"belongs to one workflow ({workflow} here), so `invoke parity` names the others"
        )
    env = environment(source, found)
    arguments = [f'workflow="{workflow}"'] if workflow != CI_WORKFLOW else []
    arguments += [f"env={env}"] if env else []
    return "ci_task", arguments + options


def rewrite_group(
    group: list[str], function: str, line_length: int, result: Rewrite
) -> list[str] | None:
    """A decorated task's new decorator lines, or None when it has none of the old forms."""
    parsed = old_decorators(group)
    if parsed is None:
        return None
    source, found = parsed
    task = found.get("task")
    if task is None:
        result.notes.append(
            f"{TASKS}: `{function}` has @{' and @'.join(sorted(OLD_DECORATORS & set(found)))} "
            "but no @task: rewrite it by hand as a @ci_task (or a @task)"
        )
        return None
    name, arguments = new_decorator(function, source, found, task, result)
    result.tasks.append(function)
    replaced = found.values()
    first = min(node.lineno for node in replaced) - 1
    dropped = {line for node in replaced for line in range(node.lineno - 1, node.end_lineno or 0)}
    lines = []
    for index, line in enumerate(group):
        if index == first:
            lines.append(decorator(name, arguments, line_length))
        elif index not in dropped:
            lines.append(line)
    return lines


def rewrite_decorators(text: str, line_length: int, result: Rewrite) -> str:
    """Every task decorated the old way, decorated with `@ci_task` (or `@task`) instead."""
    lines = text.splitlines(keepends=True)
    output: list[str] = []
    index = 0
    while index < len(lines):
        if not lines[index].startswith("@"):
            output.append(lines[index])
            index += 1
            continue
        end = index
        while end < len(lines) and not DEF_LINE.match(lines[end]):
            if has_conflict_markers(lines[end]) or (end > index and not lines[end].strip()):
                break
            end += 1
        definition = DEF_LINE.match(lines[end]) if end < len(lines) else None
        new = None
        if definition:
            new = rewrite_group(lines[index:end], definition.group(1), line_length, result)
        output += new if new is not None else lines[index:end]
        index = max(end, index + 1)
    return "".join(output)


# --- the imports ---------------------------------------------------------------------------


def import_order(name: str) -> tuple[int, str]:
    """Where ruff (like isort) sorts an imported name: constants, classes, then the rest."""
    bare = name.split(" as ", maxsplit=1)[0].strip()
    if bare.isupper() and len(bare) > 1:
        return 0, bare.lower()
    return (1 if bare[:1].isupper() else 2), bare.lower()


def import_line(module: str, names: Sequence[str], line_length: int) -> str:
    """`from <module> import ...` as ruff formats it."""
    one_line = f"from {module} import {', '.join(names)}\n"
    if len(one_line) - 1 <= line_length:
        return one_line
    return f"from {module} import (\n" + "".join(f"    {name},\n" for name in names) + ")\n"


def uses(text: str, pattern: str, statement: str) -> bool:
    """Whether the text matches a pattern outside the given import statement."""
    return re.search(pattern, text.replace(statement, "", 1)) is not None


def fix_imports(text: str, line_length: int) -> str:
    """The devtasks.jobs import without `ci_job` and `reads_env`, with `ci_task` if used."""
    found = JOBS_IMPORT.search(text)
    if found is None:
        return text
    listed = found.group("wrapped") or found.group("line")
    names = [name.strip() for name in listed.replace("\n", " ").split(",") if name.strip()]
    bare = [name.split(" as ", maxsplit=1)[0].strip() for name in names]
    if not OLD_DECORATORS & set(bare):
        return text
    kept = [name for name, plain in zip(names, bare, strict=True) if plain not in OLD_DECORATORS]
    if "ci_task" not in bare and uses(text, r"@ci_task\b", found.group(0)):
        kept.append("ci_task")
    new = import_line("devtasks.jobs", sorted(kept, key=import_order), line_length) if kept else ""
    text = text.replace(found.group(0), new, 1)
    task_import = TASK_IMPORT.search(text)
    if task_import and not uses(text, r"(@task\b|\btask\()", task_import.group(0)):
        others = [n.strip() for n in task_import.group("names").split(",") if n.strip() != "task"]
        replacement = import_line("invoke.tasks", others, line_length) if others else ""
        text = text.replace(task_import.group(0), replacement, 1)
    return text


# --- the migration -------------------------------------------------------------------------


def line_length() -> int:
    """The service's ruff line length (pyproject.toml), which the rewritten lines respect."""
    try:
        pyproject = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return DEFAULT_LINE_LENGTH
    length = pyproject.get("tool", {}).get("ruff", {}).get("line-length", DEFAULT_LINE_LENGTH)
    return length if isinstance(length, int) else DEFAULT_LINE_LENGTH


def old_task_list(version_from: str) -> list[str]:
    """The tasks the release the service updates from listed in its tasks.py."""
    with rendering(version_from) as old:
        source = read(old, TASKS)
    found = collection_names(source) if source else None
    return found[1] if found else []


def migrate(version_from: str) -> list[str]:
    """Rewrite tasks.py in place; the lines saying what changed (none: untouched)."""
    path = Path(TASKS)
    if not path.is_file():
        return []
    original = path.read_text(encoding="utf-8")
    text, kept = original, list[str]()
    length = line_length()
    if has_conflict_markers(text) and COLLECTION_START.search(text):
        text, kept = resolve_task_list(text, old_task_list(version_from))
    result = Rewrite()
    text = rewrite_decorators(text, length, result)
    text = fix_imports(text, length)
    lines = list(result.notes)
    if kept:
        lines.append(f"{TASKS}: the task list is the template's and yours ({', '.join(kept)})")
    if result.tasks:
        lines.append(f"{TASKS}: {', '.join(result.tasks)} declared with one @ci_task now")
    for number, line in enumerate(text.splitlines(), start=1):
        if re.search(r"\b(ci_job|reads_env)\b", line) and not line.lstrip().startswith("#"):
            lines.append(f"{TASKS}:{number}: still uses ci_job or reads_env: use @ci_task")
    if text != original:
        path.write_text(text, encoding="utf-8")
        mark_resolved(TASKS)
    return lines


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments copier.yml passes and migrate tasks.py."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="version_from", required=True, help="template version")
    args = parser.parse_args(argv)
    for line in migrate(args.version_from):
        say(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
