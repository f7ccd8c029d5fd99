"""The template's test matrix: Python versions come from pyproject.toml, never restated."""

import nox

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON_VERSIONS = nox.project.python_versions(PYPROJECT)

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]


def install(session: nox.Session) -> None:
    """Install the locked dev dependencies into the session's virtualenv."""
    session.run_install(
        "uv",
        "sync",
        "--locked",
        f"--python={session.virtualenv.location}",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )


@nox.session(python=PYTHON_VERSIONS)
def tests(session: nox.Session) -> None:
    """Fast tier: render the template, validate answers, check consistency."""
    install(session)
    session.run("pytest", "-m", "not slow and not docker", "-n", "2", *session.posargs)


@nox.session(python=PYTHON_VERSIONS[-1], default=False)
def e2e(session: nox.Session) -> None:
    """Slow tier: rendered services run their own tooling (`invoke ci`, lint, typecheck)."""
    install(session)
    session.run("pytest", "-m", "slow", "-n", "2", *session.posargs)


@nox.session(python=PYTHON_VERSIONS[-1], default=False)
def docker(session: nox.Session) -> None:
    """Docker tier: build, run and probe the images and compose stacks of rendered services."""
    install(session)
    session.run("pytest", "-m", "docker", *session.posargs)
