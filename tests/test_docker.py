"""Docker tier: rendered services' images and compose stacks, built, run and probed for real.

Needs a Docker engine with buildx and compose v2 (`harness/docker_engine.sh start`); without
one every test here is skipped with the reason. Base images are kept if present, else
pulled (SHIPSHAPE_PULL_BASE_IMAGES=1), else built as stand-ins by harness/base_images.py.
Only 127.0.0.1 is ever probed.
"""

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from containers import (
    TEST_IMAGES,
    base_image,
    build,
    compose_stack,
    container,
    docker,
    free_port,
    http_get,
    inspect,
    stages,
    wait_for,
    wait_healthy,
)
from helpers import ROOT, copy_project, questions, run

sys.path.insert(0, str(ROOT / "harness"))
import base_images
import local_registry

pytestmark = pytest.mark.docker

PYTHON_VERSIONS = [str(v) for v in questions()["python_version"]["choices"]]
DEFAULT_VERSION = str(questions()["python_version"]["default"])
UV_VERSION = str(questions()["uv_version"]["default"])
PROBES = ("/health", "/live", "/ready", "/metrics")
# Stages that only name an image (no instruction of their own), and the one built elsewhere.
IMAGE_ONLY_STAGES = ("runner",)
RUNNABLE_STAGES = ("base", "dev", "ci", "prod")
USER_ID = "10001"
# What an image built in GitHub Actions would read; the tests build as a developer would.
CI_ENVIRONMENT = ("GITHUB_", "ACTIONS_", "RUNNER_")
SERVICE_ENV = ("PYTHON_IMAGE",)
PROD_OPTIONS = (
    "--read-only",
    "--tmpfs=/tmp",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges:true",
)


@dataclass(frozen=True)
class Service:
    """A rendered service whose base images are present, and where its test images go."""

    project: Path
    python_version: str
    slug: str
    package: str
    port: int

    def image(self, stage: str) -> str:
        """The test's tag for one stage of this service."""
        return f"{TEST_IMAGES}/{self.slug}-py{self.python_version}:{stage}"

    @property
    def revision(self) -> str:
        """The rendered service's HEAD commit."""
        return run(["git", "rev-parse", "HEAD"], self.project).stdout.strip()

    @property
    def env_prefix(self) -> str:
        """The prefix of the service's settings variables."""
        return self.package.upper() + "_"


@pytest.fixture(scope="session", autouse=True)
def developer_environment() -> Iterator[None]:
    """Build and run as on a laptop, even when the template's own CI runs these tests."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(CI_ENVIRONMENT) or name in SERVICE_ENV:
                patch.delenv(name)
        yield


@pytest.fixture(scope="session")
def engine() -> str:
    """The engine's version; every test here is skipped, with the reason, when none answers."""
    try:
        version = base_images.check_engine()
    except base_images.HarnessError as error:
        pytest.skip(str(error))
    for plugin in ("buildx", "compose"):
        run(["docker", plugin, "version"], ROOT)
    return version


@pytest.fixture(scope="session")
def render(
    engine: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Service]]:
    """Render (once per Python version) a service whose base images are on this machine."""
    del engine
    rendered: dict[str, Service] = {}

    def service(python_version: str) -> Service:
        if python_version not in rendered:
            project = copy_project(
                tmp_path_factory.mktemp(f"docker-py{python_version}") / "my-service",
                python_version=python_version,
            )
            base = base_image(project)
            try:
                base_images.ensure_base_images(
                    UV_VERSION, [base, f"{base_images.UV_IMAGE}:{UV_VERSION}"]
                )
            except base_images.HarnessError as error:
                pytest.skip(f"{base} is not on this machine and cannot be made here: {error}")
            answers = {k: str(q.get("default")) for k, q in questions().items() if "default" in q}
            rendered[python_version] = Service(
                project=project,
                python_version=python_version,
                slug="my-service",
                package="my_service",
                port=int(answers["http_port"]),
            )
        return rendered[python_version]

    yield service
    references = [f"{TEST_IMAGES}/*", "ghcr.io/example-org/my-service", "my-service"]
    for reference in references:
        listed = docker("image", "ls", "--quiet", f"--filter=reference={reference}", check=False)
        if listed.split():
            docker("image", "rm", "--force", *sorted(set(listed.split())), check=False)


@pytest.fixture(scope="session")
def built(render: Callable[[str], Service]) -> Callable[[str], Service]:
    """Build every stage of a Python version's service once, labels filled in."""
    done: set[str] = set()

    def service(python_version: str) -> Service:
        rendered = render(python_version)
        if python_version not in done:
            args = {
                "REVISION": rendered.revision,
                "VERSION": "0.1.0",
                "CREATED": "2026-01-01T00:00:00Z",
            }
            # runner (ci plus every CI tool) is tests/test_in_container.py's.
            for stage in stages(rendered.project):
                if stage not in IMAGE_ONLY_STAGES:
                    build(rendered.project, stage, rendered.image(stage), args)
            done.add(python_version)
        return rendered

    return service


@pytest.fixture
def default_service(built: Callable[[str], Service]) -> Service:
    """The service with every default answer, every stage built."""
    return built(DEFAULT_VERSION)


def service_env(service: Service, **extra: str) -> dict[str, str]:
    """Settings for a compose stack: host ports that are free, plus extra."""
    return {f"{service.env_prefix}HOST_PORT": str(free_port()), **extra}


# --- every stage, for every Python version a base image exists for -----------------------


@pytest.mark.parametrize("python_version", PYTHON_VERSIONS)
def test_every_stage_builds(built: Callable[[str], Service], python_version: str) -> None:
    service = built(python_version)
    # `python` and `uv` are the images it starts from, plain FROM lines Dependabot can bump.
    expected = ["python", "uv", "base", "deps", "build", "devdeps", "dev", "ci", "runner", "prod"]
    assert stages(service.project) == expected
    for stage in expected:
        if stage in IMAGE_ONLY_STAGES:
            continue
        image = inspect("image", service.image(stage))
        assert image["Os"] == "linux", stage


@pytest.mark.parametrize("python_version", PYTHON_VERSIONS)
def test_prod_runs_healthy_as_non_root_on_a_read_only_root(
    built: Callable[[str], Service], python_version: str
) -> None:
    service = built(python_version)
    image = service.image("prod")
    assert inspect("image", image)["Config"]["User"] == "10001:10001"
    with container(image, service.port, PROD_OPTIONS) as running:
        wait_healthy(running, timeout=40)
        for path in PROBES:
            status, body = http_get(running.port, path)
            assert status == 200, (path, body)
        assert json.loads(http_get(running.port, "/health")[1])["revision"] == service.revision
        uid = docker(
            "exec", running.id, "python", "-c", "import os; print(os.getuid(), os.getgid())"
        )
        assert uid.split() == ["10001", "10001"]


@pytest.mark.parametrize("python_version", PYTHON_VERSIONS)
def test_prod_holds_only_the_venv_and_precompiled_code(
    built: Callable[[str], Service], python_version: str
) -> None:
    service = built(python_version)
    script = (
        "import importlib.util as u, json, os, shutil, sys; import my_service.app as app;"
        "tools = ('uv', 'uvx', 'gcc', 'cc', 'make', 'pip', 'pip3');"
        "modules = ('pip', 'setuptools', 'wheel', 'uv', 'pytest');"
        "print(json.dumps({"
        "'tools': [t for t in tools if shutil.which(t)],"
        "'modules': [m for m in modules if u.find_spec(m)],"
        "'pyc': os.path.exists(u.cache_from_source(app.__file__)),"
        "'venv': sys.prefix}))"
    )
    output = docker("run", "--rm", "--read-only", service.image("prod"), "python", "-c", script)
    found = json.loads(output)
    assert found == {"tools": [], "modules": [], "pyc": True, "venv": "/app/.venv"}
    listing = docker(
        "run",
        "--rm",
        service.image("prod"),
        "python",
        "-c",
        "import os; print(sorted(os.listdir('/app')))",
    )
    assert listing.strip() == "['.venv']"


def test_the_service_is_a_layer_of_its_own_on_top_of_the_dependencies(
    default_service: Service,
) -> None:
    history = docker("history", "--no-trunc", "--format={{json .}}", default_service.image("prod"))
    layers = [json.loads(line) for line in history.splitlines()]
    copies = [layer for layer in layers if layer["CreatedBy"].startswith("COPY ")]
    assert [layer["CreatedBy"].split(" #")[0] for layer in copies] == [
        "COPY /tmp/project/ /",
        "COPY /app/.venv /app/.venv",
    ]
    service_layer = copies[0]["Size"]
    assert service_layer.endswith("kB"), f"the service's own layer is {service_layer}"


@pytest.mark.parametrize("init", [True, False], ids=["with-init", "as-pid-1"])
def test_prod_stops_on_sigterm_with_status_0_within_10_s(
    default_service: Service, *, init: bool
) -> None:
    options = [*PROD_OPTIONS, "--init"] if init else list(PROD_OPTIONS)
    with container(default_service.image("prod"), default_service.port, options) as running:
        wait_for(lambda: http_get(running.port, "/live")[0] == 200, 30, "the service answering")
        started = time.monotonic()
        docker("stop", "--time=10", running.id)
        seconds = time.monotonic() - started
        state = running.state()
    assert state["ExitCode"] == 0, state
    assert seconds < 10, f"docker stop took {seconds:.1f} s"


def test_prod_labels_carry_the_revision(default_service: Service) -> None:
    labels = inspect("image", default_service.image("prod"))["Config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == default_service.revision
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    assert labels["org.opencontainers.image.created"] == "2026-01-01T00:00:00Z"
    assert labels["org.opencontainers.image.title"] == "my-service"
    assert labels["org.opencontainers.image.source"] == "https://github.com/example-org/my-service"
    assert labels["org.opencontainers.image.description"] == "A FastAPI service"


@pytest.mark.parametrize("stage", RUNNABLE_STAGES)
def test_every_stage_runs_as_the_named_non_root_user(default_service: Service, stage: str) -> None:
    image = default_service.image(stage)
    assert docker("run", "--rm", image, "whoami").strip() == "appuser"
    ids = docker("run", "--rm", image, "sh", "-c", "id -un; id -u; id -g; echo $HOME").split()
    assert ids == ["appuser", USER_ID, USER_ID, "/home/appuser"]


def test_ci_reports_come_out_with_docker_create_and_cp(
    default_service: Service, tmp_path: Path
) -> None:
    # The teams' recipe, as written: the container is created, never run.
    name = f"shipshape-reports-{os.getpid()}"
    docker("create", "--name", name, default_service.image("ci"))
    try:
        docker("cp", f"{name}:/app/coverage.xml", str(tmp_path))
        docker("cp", f"{name}:/app/reports/junit.xml", str(tmp_path))
    finally:
        docker("rm", name, check=False)
    coverage = (tmp_path / "coverage.xml").read_text(encoding="utf-8")
    assert "<coverage " in coverage
    assert "<source>/app</source>" in coverage
    assert 'filename="src/my_service/app.py"' in coverage
    junit = (tmp_path / "junit.xml").read_text(encoding="utf-8")
    assert 'failures="0"' in junit
    assert 'errors="0"' in junit


def test_labels_from_github_style_build_args(default_service: Service) -> None:
    image = default_service.image("prod-github-args")
    build(
        default_service.project,
        "prod",
        image,
        {"GITHUB_SHA": "f" * 40, "BUILD_DATE": "2026-02-03T04:05:06Z"},
    )
    try:
        labels = inspect("image", image)["Config"]["Labels"]
        assert labels["org.opencontainers.image.revision"] == "f" * 40
        assert labels["org.opencontainers.image.created"] == "2026-02-03T04:05:06Z"
        assert labels["org.opencontainers.image.description"] == "A FastAPI service"
        env = inspect("image", image)["Config"]["Env"]
        assert f"{default_service.env_prefix}GIT_REVISION={'f' * 40}" in env
    finally:
        docker("image", "rm", image, check=False)


def test_the_image_passes_arguments_that_are_no_command_to_the_service(
    default_service: Service,
) -> None:
    image = default_service.image("prod")
    result = run(["docker", "run", "--rm", image, "--help"], default_service.project, timeout=60)
    assert result.stdout.startswith("usage: python -m my_service"), result.stdout
    # A command runs as given (the teams' `docker run --rm IMAGE du -sh /app`).
    assert docker("run", "--rm", image, "du", "-sh", "/app").split()[-1] == "/app"


def test_ci_image_runs_the_test_suite_green(default_service: Service) -> None:
    result = run(["docker", "run", "--rm", default_service.image("ci")], default_service.project)
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary, result.stdout
    assert "failed" not in summary, result.stdout


# --- compose ------------------------------------------------------------------------------


def test_every_compose_combination_is_valid(default_service: Service) -> None:
    run(["uv", "run", "--locked", "invoke", "compose-config"], default_service.project)


def test_prod_compose_stack_is_locked_down(default_service: Service) -> None:
    service = default_service
    env = service_env(service, **{f"{service.env_prefix}IMAGE": service.image("compose-prod")})
    files = ["compose.yaml", "compose.prod.yaml"]
    name = f"shipshape-prod-{os.getpid()}"
    with compose_stack(service.project, files, name, env, ["--build", "--wait"]) as compose:
        container_id = run(
            [*compose, "ps", "--quiet", "app"], service.project, env=env
        ).stdout.strip()
        details = inspect("container", container_id)
        host = details["HostConfig"]
        assert details["State"]["Health"]["Status"] == "healthy"
        assert host["Memory"] == 256 * 1024 * 1024
        assert host["NanoCpus"] == 500_000_000
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == ["no-new-privileges:true"]
        assert host["Init"] is True
        assert host["RestartPolicy"]["Name"] == "unless-stopped"
        assert "/tmp" in host["Tmpfs"]  # noqa: S108 - the container's own tmpfs
        bindings = host["PortBindings"][f"{service.port}/tcp"]
        assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
        port = int(env[f"{service.env_prefix}HOST_PORT"])
        assert http_get(port, "/ready")[0] == 200


def test_dev_compose_reloads_runs_the_tests_beside_and_leaves_files_to_the_developer(
    default_service: Service,
) -> None:
    service = default_service
    prefix = service.env_prefix
    # A developer's uid and gid on Linux, which the mounted folders belong to.
    developer = {f"{prefix}UID": "4321", f"{prefix}GID": "4321"}
    env = service_env(service, **{f"{prefix}DEBUG_PORT": str(free_port())}, **developer)
    port = int(env[f"{service.env_prefix}HOST_PORT"])
    files = ["compose.yaml", "compose.dev.yaml"]
    routes = service.project / "src" / service.package / "routes.py"
    original = routes.read_text(encoding="utf-8")
    name = f"shipshape-dev-{os.getpid()}"
    mounted = [service.project / "src", service.project / "tests"]
    owners = {path: (path.stat().st_uid, path.stat().st_gid) for path in mounted}
    written = service.project / "tests" / "written-in-the-container"
    try:
        for path in mounted:
            run(["chown", "-R", "4321:4321", str(path)], service.project)
        with compose_stack(service.project, files, name, env, ["--build"]) as compose:
            container_id = run(
                [*compose, "ps", "--quiet", "app"], service.project, env=env
            ).stdout.strip()
            image_before = inspect("container", container_id)["Image"]
            hello = wait_for(
                lambda: http_get(port, "/hello/dev")[1], 60, "the dev server answering"
            )
            assert json.loads(hello) == {"message": "Hello, dev!"}
            routes.write_text(original.replace("Hello, ", "Howdy, "), encoding="utf-8")
            changed = wait_for(
                lambda: "Howdy" in http_get(port, "/hello/dev")[1], 30, "the edit being served"
            )
            assert changed
            after = inspect("container", container_id)
            assert after["Image"] == image_before, "the container was rebuilt"
            assert after["State"]["Running"]
            debug_port = int(env[f"{service.env_prefix}DEBUG_PORT"])
            wait_for(
                lambda: socket.create_connection(("127.0.0.1", debug_port), 2),
                30,
                "debugpy listening",
            )
            # The suite beside the reloading server (the edit undone): it ends, and passes.
            routes.write_text(original, encoding="utf-8")
            tests = run(
                [*compose, "exec", "-T", "app", "pytest", "-q", "-p", "no:cacheprovider"],
                service.project,
                env=env,
                timeout=300,
            )
            assert " passed" in tests.stdout.strip().splitlines()[-1], tests.stdout
            user = run([*compose, "exec", "-T", "app", "id", "-un"], service.project, env=env)
            assert user.stdout.strip() == "appuser"
            run(
                [*compose, "exec", "-T", "app", "touch", f"/app/tests/{written.name}"],
                service.project,
                env=env,
            )
            assert (written.stat().st_uid, written.stat().st_gid) == (4321, 4321)
    finally:
        routes.write_text(original, encoding="utf-8")
        written.unlink(missing_ok=True)
        for path, (uid, gid) in owners.items():
            run(["chown", "-R", f"{uid}:{gid}", str(path)], service.project)


# --- the generated service's own `invoke docker` ------------------------------------------


def test_invoke_docker_builds_tests_probes_and_cleans_up(default_service: Service) -> None:
    project = default_service.project
    result = run(["uv", "run", "--locked", "invoke", "docker"], project, timeout=1800)
    lines = [line for line in result.stdout.splitlines() if line.startswith("docker: ")]
    for expected in (
        *(f"docker: GET {path}: 200" for path in PROBES),
        "docker: the prod container is healthy",
        "docker: runs as uid 10001 (not root)",
        "docker: not publishing: `invoke publish` does, after every CI job passed",
    ):
        assert expected in lines, result.stdout
    assert any(line.startswith("docker: SIGTERM stopped it in ") for line in lines), lines
    assert any(" MB above python:" in line for line in lines), lines
    tag = f"ghcr.io/example-org/my-service:sha-{default_service.revision[:7]}"
    labels = inspect("image", tag)["Config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == default_service.revision
    for report in ("coverage-ci-image.xml", "junit-ci-image.xml"):
        assert (project / "reports" / report).stat().st_size > 0, report
    leftovers = docker("ps", "--all", "--quiet", f"--filter=ancestor={tag}")
    assert not leftovers.strip(), "invoke docker left containers behind"


def test_the_probed_container_runs_with_probe_env(default_service: Service) -> None:
    pyproject = default_service.project / "pyproject.toml"
    original = pyproject.read_text(encoding="utf-8")
    line = 'probe-env = { MY_SERVICE_DRAIN_SECONDS = "1" }'
    assert line in original
    pyproject.write_text(
        original.replace(line, 'probe-env = { MY_SERVICE_LOG_LEVEL = "loud" }'), encoding="utf-8"
    )
    try:
        result = run(
            ["uv", "run", "--locked", "invoke", "docker"],
            default_service.project,
            check=False,
            timeout=1800,
        )
    finally:
        pyproject.write_text(original, encoding="utf-8")
    assert result.returncode == 1
    assert "my_service: invalid settings: MY_SERVICE_LOG_LEVEL='loud'" in result.stdout, (
        result.stdout[-3000:]
    )
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "docker: the prod container exited with code 1 at start: my_service: invalid settings: "
        "MY_SERVICE_LOG_LEVEL='loud'"
    ), result.stderr
    assert last.endswith(" (it ran with [tool.shipshape] probe-env MY_SERVICE_LOG_LEVEL)"), last


def test_invoke_docker_without_an_engine_is_one_line(default_service: Service) -> None:
    result = run(
        ["uv", "run", "--locked", "invoke", "docker"],
        default_service.project,
        env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
        check=False,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("docker: no Docker engine answers ("), result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    """A fresh registry on 127.0.0.1 for push tests."""
    try:
        with local_registry.running_registry() as address:
            yield address
    except local_registry.RegistryError as error:
        pytest.fail(f"no local registry for the publish test: {error}")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        pytest.param(
            {"GITHUB_REF": "refs/heads/main", "GITHUB_REF_TYPE": "branch"}, ["latest"], id="main"
        ),
        pytest.param(
            {
                "GITHUB_REF": "refs/tags/v0.1.0",
                "GITHUB_REF_TYPE": "tag",
                "GITHUB_REF_NAME": "v0.1.0",
            },
            ["0.1.0"],
            id="tag",
        ),
        pytest.param(
            {"GITHUB_REF": "refs/pull/7/merge", "GITHUB_REF_TYPE": "branch"},
            None,
            id="pull-request",
        ),
    ],
)
def test_invoke_publish_pushes_only_on_main_and_tags(
    default_service: Service, registry: str, ref: dict[str, str], expected: list[str] | None
) -> None:
    repository = f"example-org/my-service-{ref['GITHUB_REF'].split('/')[-1].replace('.', '-')}"
    sha = default_service.revision
    env = {"GITHUB_SHA": sha, **ref}
    result = run(
        ["uv", "run", "--locked", "invoke", "publish", f"--image={registry}/{repository}"],
        default_service.project,
        env=env,
        timeout=1800,
    )
    pushed = local_registry.tags(registry, repository)
    if expected is None:
        assert pushed == []
        assert (
            "docker: not publishing: refs/pull/7/merge is neither a tag nor main" in result.stdout
        )
    else:
        assert pushed == sorted([f"sha-{sha[:7]}", *expected]), result.stdout
    local = docker("image", "ls", "--format={{.Repository}}:{{.Tag}}").split()
    ours = [name for name in local if name.startswith(f"{registry}/{repository}:")]
    if ours:
        docker("image", "rm", *ours, check=False)
