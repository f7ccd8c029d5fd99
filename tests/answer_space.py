"""The space of answers copier.yml accepts: its limits and its lists of taken names, read."""

from typing import Any

import yaml

from helpers import copier_config

TAKEN_NAME_LISTS = ("python_keywords", "stdlib_modules", "service_modules", "dependency_names")


def name_max_length() -> int:
    """The longest project_name, project_slug and package_name the validators accept."""
    return int(copier_config()["name_max_length"]["default"])


def reserved_names(list_name: str) -> list[str]:
    """One of copier.yml's hidden lists of names a package or distribution may not take."""
    if list_name not in TAKEN_NAME_LISTS:
        message = f"{list_name} is not a list of taken names in copier.yml"
        raise AssertionError(message)
    default: Any = copier_config()[list_name]["default"]
    names = yaml.safe_load(default) if isinstance(default, str) else default
    assert isinstance(names, list), f"{list_name} is not a list"
    return [str(name) for name in names]


def all_reserved_names() -> list[str]:
    """Every taken name, from every list."""
    return sorted({name for list_name in TAKEN_NAME_LISTS for name in reserved_names(list_name)})
