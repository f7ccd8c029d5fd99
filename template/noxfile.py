"""Test matrix: the `tests` session runs on every Python version pyproject.toml lists."""

import nox

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON_VERSIONS = nox.project.python_versions(PYPROJECT)

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]


@nox.session(python=PYTHON_VERSIONS)
def tests(session: nox.Session) -> None:
    """Run the test suite with coverage, writing reports where CI uploads them."""
    session.run_install(
        "uv",
        "sync",
        "--locked",
        f"--python={session.virtualenv.location}",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )
    python = session.python
    session.run(
        "pytest",
        f"--junitxml=reports/junit-{python}.xml",
        f"--cov-report=xml:reports/coverage-{python}.xml",
        *session.posargs,
    )
