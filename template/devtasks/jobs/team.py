"""The team's own tasks: `team_tasks.py`, which the template renders once and never updates.

tasks.py (the template's) ends with `add_team_tasks(ns)`, so every task defined there joins
the collection beside the template's, and `invoke parity` and `invoke ci` treat a `@ci_task`
of the team's like any other. A service that deleted the module simply has none.
"""

import importlib
import types
from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit
from invoke.tasks import Task

TEAM_MODULE = "team_tasks"


def team_module(name: str = TEAM_MODULE) -> types.ModuleType | None:
    """The team's module, or None when the service has none (deleted: that is allowed)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as missing:
        if missing.name == name:
            return None
        message = f"{name}.py imports {missing.name}, which is not installed: `uv add` it"
        raise Exit(message, code=1) from None
    except SyntaxError as error:
        message = f"{name}.py:{error.lineno}: {error.msg}: fix it, or delete the file"
        raise Exit(message, code=1) from None
    except Exception as error:  # noqa: BLE001 - the team's code, whatever it raises, is one line
        said = " ".join(str(error).split())
        message = f"{name}.py raised {type(error).__name__} on import ({said}): fix it"
        raise Exit(message, code=1) from None


def task_file(made: Task[Any]) -> str:
    """The file a task is defined in, as problems name it: tasks.py or team_tasks.py."""
    module = getattr(made.body, "__module__", "") or "tasks"
    return f"{module.rsplit('.', 1)[-1]}.py"


def add_team_tasks(ns: Collection, name: str = TEAM_MODULE) -> Collection:
    """Add every task `team_tasks.py` defines to `ns`; a name the template's has is refused."""
    module = team_module(name)
    if module is None:
        return ns
    found = {id(value): value for value in vars(module).values() if isinstance(value, Task)}
    for made in found.values():
        taken = made.name in ns.tasks or made.name.replace("_", "-") in ns.task_names
        if taken:
            message = (
                f"{name}.py: task `{made.name}` has the name of one of tasks.py's (the "
                "template's): rename yours"
            )
            raise Exit(message, code=1)
        ns.add_task(made)
    return ns
