"""`invoke ci --in-container`: the same jobs inside the `runner` image, a Linux like CI's runner.

`runner` is the `ci` stage plus uv and every tool the jobs call (`ci` itself carries only what
its test run needs).
"""

from pathlib import Path

from invoke.exceptions import Exit
from python_on_whales import DockerException, docker

from devtasks.jobs import images
from devtasks.jobs.docker import build, require_engine, say
from devtasks.local.plan import Place

IMAGE_PYTHON = "import sys; print('%d.%d' % sys.version_info[:2])"


def ci_image_place() -> Place:
    """Build the `ci` target from the working tree and describe how to run jobs inside it."""
    require_engine()
    try:
        project = images.read_project()
        repository = project.repository
    except images.ImageError as error:
        message = f"ci: {error}"
        raise Exit(message, code=1) from None
    image = f"{repository}:runner"
    build("runner", [image], {}, publishing=False)
    try:
        python = str(docker.run(image, ["python", "-c", IMAGE_PYTHON], remove=True)).strip()
    except DockerException as error:
        message = f"ci: cannot ask {image} for its Python version (exit {error.return_code})"
        raise Exit(message, code=1) from None
    reports = Path("reports").resolve()
    reports.mkdir(exist_ok=True)
    say(f"running the CI jobs inside {image} (Python {python}); reports go to {reports}")
    return Place(
        prefix=(
            "docker",
            "run",
            "--rm",
            # As CI's runner, the jobs own what they write: the reports on this machine (a
            # folder of yours, which the image's user could not write) and the uv cache.
            "--user=0:0",
            "--volume",
            f"{reports}:/app/reports",
            # Downloads persist across runs, as setup-uv's cache does on the CI runner.
            "--volume",
            f"{project.name}-uv-cache:/root/.cache/uv",
            image,
        ),
        image_python=python,
    )
