"""`invoke docker`: build the images (the ci build runs the tests), run prod locked down, probe it.

Through python-on-whales, which drives the docker CLI: builds need `docker buildx` (BuildKit
cache and bind mounts, the GitHub Actions cache), which the Docker Engine API cannot do.
"""

import json
import os
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path

from invoke.exceptions import Exit
from python_on_whales import Container, DockerClient, DockerException, docker

from devtasks.config import Config
from devtasks.jobs import images, security, supply_chain
from devtasks.machine import docker_missing

# Every way the compose files combine; `compose-config` and `docker` check each one.
COMPOSE_STACKS = {
    "base": ("compose.yaml",),
    "dev": ("compose.yaml", "compose.dev.yaml"),
    "prod": ("compose.yaml", "compose.prod.yaml"),
}
STOPPED_WITHIN_SECONDS = 10
# The exit code of a process the engine killed (128 + SIGKILL) once the stop timeout ran out.
KILLED = 137


def say(message: str) -> None:
    """Print one progress line of the job, unbuffered so it interleaves with docker's."""
    print(f"docker: {message}", flush=True)


def _failure(error: DockerException) -> str:
    """The last line docker printed, which says what went wrong."""
    output = (error.stderr or error.stdout or "").strip().splitlines()
    return output[-1] if output else f"exit code {error.return_code}"


@contextmanager
def step(what: str) -> Iterator[None]:
    """Turn a failed docker operation into a one-line error naming the step."""
    try:
        yield
    except DockerException as error:
        message = f"docker: {what} failed: {_failure(error)}"
        raise Exit(message, code=1) from None


def require_engine() -> None:
    """Stop with one line unless the docker CLI, buildx, compose and an engine all answer."""
    reason = docker_missing()
    if reason is not None:
        message = f"docker: {reason}; install or start it and retry"
        raise Exit(message, code=1)


def check_compose_files() -> None:
    """`docker compose config` succeeds for every combination of the compose files."""
    for stack, files in COMPOSE_STACKS.items():
        named = " + ".join(files)
        with step(f"compose config of the {stack} stack ({named})"):
            DockerClient(compose_files=list(files)).compose.config(return_json=True)
        say(f"compose {stack} stack ({named}): valid")


def build(
    target: str, tags: Sequence[str], build_args: Mapping[str, str], *, publishing: bool
) -> None:
    """Build one Dockerfile target into the engine's image store.

    PYTHON_IMAGE set in the environment replaces the `python` stage (a mirror's copy).
    """
    driver = "docker"
    if images.in_github_actions(os.environ):
        with step("inspecting the buildx builder"):
            driver = docker.buildx.inspect().driver or "docker"
    cache_from, cache_to, cache_note = images.build_cache(
        os.environ, target, publishing=publishing, driver=driver
    )
    say(f"building target {target} as {', '.join(tags)}; {cache_note}")
    started = time.monotonic()
    what = f"building target {target}"
    if target == "ci":
        what += " (its build runs the test suite)"
    with step(what):
        docker.buildx.build(
            ".",
            target=target,
            tags=list(tags),
            build_args=dict(build_args),
            build_contexts=images.base_contexts(os.environ),
            cache_from=cache_from,
            cache_to=cache_to,
            load=True,
            progress="plain",
        )
    say(f"built {target} in {time.monotonic() - started:.1f} s")


# Where the ci image's build leaves its test reports, and the names they get in reports/.
CI_REPORTS = {
    "/app/coverage.xml": Path("reports/coverage-ci-image.xml"),
    "/app/reports/junit.xml": Path("reports/junit-ci-image.xml"),
}


def extract_reports(image: str) -> None:
    """Copy the reports of the test run the ci build made out of the image, into reports/.

    The teams' own recipe: `docker create`, then `docker cp`; the container never runs.
    """
    with step(f"creating a container of {image}"):
        container = docker.container.create(image)
    try:
        for source, target in CI_REPORTS.items():
            target.parent.mkdir(exist_ok=True)
            with step(f"copying {source} out of {image}"):
                docker.copy((container, source), target)
            say(f"{source} of {image} in {target}")
    finally:
        with suppress(DockerException):
            container.remove(force=True)


@contextmanager
def hardened_container(image: str, port: int, env: Mapping[str, str]) -> Iterator[Container]:
    """Run prod as compose.prod.yaml does (read-only, no capabilities); always remove it."""
    with step(f"starting {image}"):
        container = docker.run(
            image,
            detach=True,
            envs=dict(env),
            publish=[("127.0.0.1:", port)],
            read_only=True,
            tmpfs=["/tmp"],  # noqa: S108 - the container's own, in-memory /tmp
            cap_drop=["ALL"],
            security_options=["no-new-privileges:true"],
            init=True,
            # The image's own probe, polled every second instead of every ten: a faster job.
            health_interval=timedelta(seconds=1),
        )
    try:
        yield container
    except BaseException:
        with suppress(DockerException):
            print(container.logs(tail=30), flush=True)
        raise
    finally:
        with suppress(DockerException):
            container.remove(force=True, volumes=True)


def wait_until_healthy(container: Container, within: float) -> None:
    """Wait for the healthcheck to pass; fail on 'unhealthy', an exit, or a timeout."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with step("inspecting the prod container"):
            state = docker.container.inspect(container).state
        health = state.health.status if state.health else None
        if health == "healthy":
            say("the prod container is healthy")
            return
        if not state.running:
            message = f"docker: the prod container exited with code {state.exit_code} at start"
            raise Exit(message + _last_words(container), code=1)
        if health == "unhealthy":
            message = "docker: the prod container is unhealthy"
            raise Exit(message, code=1)
        time.sleep(0.5)
    message = f"docker: the prod container was not healthy within {within:g} s"
    raise Exit(message, code=1)


def _last_words(container: Container) -> str:
    """`: ` and the last line the container logged, which says why it stopped; or nothing."""
    try:
        lines = container.logs(tail=5).strip().splitlines()
    except DockerException:
        return ""
    return f": {lines[-1].strip()}" if lines else ""


@contextmanager
def naming_probe_env(env: Mapping[str, str]) -> Iterator[None]:
    """A failure of the probed container names what probe-env set: it may be the cause."""
    try:
        yield
    except Exit as error:
        if not env:
            raise
        message = (
            f"{error.message} (it ran with [tool.shipshape] probe-env {', '.join(sorted(env))})"
        )
        raise Exit(message, code=error.code) from None


def published_port(container: Container, port: int) -> int:
    """The host port on 127.0.0.1 that the container's port is published on."""
    with step("inspecting the prod container"):
        ports = docker.container.inspect(container).network_settings.ports or {}
    bindings = ports.get(f"{port}/tcp") or []
    for binding in bindings:
        if binding.get("HostIp") == "127.0.0.1" and binding.get("HostPort"):
            return int(binding["HostPort"])
    message = f"docker: port {port} is not published on 127.0.0.1"
    raise Exit(message, code=1)


def probe(host_port: int, revision: str, paths: Sequence[str]) -> None:
    """Every endpoint answers 200; /health reports the revision the image was built from."""
    for path in paths:
        url = f"http://127.0.0.1:{host_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = response.read().decode()
        except OSError as error:
            message = f"docker: GET {path} failed: {error}"
            raise Exit(message, code=1) from None
        if path == "/health" and json.loads(body).get("revision") != revision:
            message = f"docker: /health reports {body}, not revision {revision}"
            raise Exit(message, code=1)
        if path == "/metrics" and "http_requests_total" not in body:
            message = "docker: /metrics has no http_requests_total"
            raise Exit(message, code=1)
        say(f"GET {path}: 200")


def check_non_root(container: Container) -> None:
    """The service's process runs as a user other than root."""
    with step("reading the process uid"):
        uid = str(container.execute(["python", "-c", "import os; print(os.getuid())"])).strip()
    if uid in {"", "0"}:
        message = f"docker: the prod container runs as uid {uid or '?'} (root)"
        raise Exit(message, code=1)
    say(f"runs as uid {uid} (not root)")


def stop_gracefully(container: Container) -> None:
    """SIGTERM stops the service cleanly (exit code 0) within the grace period."""
    started = time.monotonic()
    with step("stopping the prod container"):
        container.stop(time=STOPPED_WITHIN_SECONDS)
        exit_code = docker.container.inspect(container).state.exit_code
    seconds = time.monotonic() - started
    if exit_code != 0:
        message = f"docker: SIGTERM ended the service with exit code {exit_code}"
        if exit_code == KILLED:
            message += (
                f": killed, not stopped within {STOPPED_WITHIN_SECONDS} s (the drain and the "
                "graceful shutdown must fit)"
            )
        raise Exit(message, code=1)
    say(f"SIGTERM stopped it in {seconds:.1f} s with exit code 0")


def exposed_port(image: str) -> int:
    """The one TCP port the image EXPOSEs: the Dockerfile is the source of the port."""
    with step(f"inspecting {image}"):
        exposed = docker.image.inspect(image).config.exposed_ports or {}
    ports = sorted(int(port.split("/")[0]) for port in exposed if port.endswith("/tcp"))
    if len(ports) != 1:
        message = f"docker: {image} must EXPOSE exactly one TCP port, not {ports}"
        raise Exit(message, code=1)
    return ports[0]


def report_size(image: str, base: str) -> None:
    """Print the image's size and how much it adds to its base image."""
    with step(f"inspecting {image}"):
        size = docker.image.inspect(image).size or 0
    try:
        base_size = docker.image.inspect(base).size or 0
    except DockerException:
        say(f"{image} is {size / 1e6:.1f} MB")
        return
    say(f"{image} is {size / 1e6:.1f} MB, {(size - base_size) / 1e6:.1f} MB above {base}")


def run_job(settings: Config, repository: str | None = None, *, publish: bool = False) -> None:
    """The docker and publish jobs: check, build, test, run and probe the images.

    `publish` then pushes them, from a tag or the default branch only.
    """
    require_engine()
    env = os.environ
    try:
        project = images.read_project()
        revision = images.current_revision(env)
        branch = settings.default_branch
        publishing, why = images.publish_decision(env, branch, requested=publish)
        repository = repository or settings.image or project.repository
        tags = [f"{repository}:{tag}" for tag in images.tags(project, revision, env, branch)]
        base = env.get("PYTHON_IMAGE") or images.default_base_image()
    except images.ImageError as error:
        message = f"docker: {error}"
        raise Exit(message, code=1) from None
    if revision.sha == images.UNKNOWN_REVISION:
        say(
            "not a git repository: the images are tagged `local` and /health reports revision "
            "unknown; `git init` and commit to tag them by commit"
        )
    build_args = images.labels_args(project, revision)
    check_compose_files()
    ci_image = f"{repository}:ci"
    # The ci build runs the test suite (a failure fails the build) and keeps its reports.
    build("ci", [ci_image], {}, publishing=publishing)
    extract_reports(ci_image)
    build("prod", tags, build_args, publishing=publishing)
    prod_image = tags[0]
    port = exposed_port(prod_image)
    with (
        naming_probe_env(settings.probe_env),
        hardened_container(prod_image, port, settings.probe_env) as container,
    ):
        wait_until_healthy(container, settings.probe_timeout_seconds)
        probe(published_port(container, port), revision.label, settings.probe_paths)
        check_non_root(container)
        stop_gracefully(container)
    security.scan_image(prod_image, settings.security)
    report_size(prod_image, base)
    say(why)
    if publishing:
        publish_image(repository, tags, build_args)


def publish_image(repository: str, tags: Sequence[str], build_args: Mapping[str, str]) -> None:
    """Push prod (with BuildKit's attestations where the builder makes them), then sign it.

    The SBOM is written first, so nothing is pushed when it cannot be made.
    """
    try:
        sbom = supply_chain.write_sbom(Path.cwd())
        say(f"SBOM of the locked runtime packages in {supply_chain.SBOM}")
        with step("inspecting the buildx builder"):
            driver = docker.buildx.inspect().driver or "docker"
        options, why = supply_chain.attestations(driver)
        say(why)
        if options:
            # The same builder built and tested these layers moments ago: they come from its
            # cache, and go to the registry with the attestations, which `--load` cannot carry.
            with step("pushing prod with its attestations"):
                docker.buildx.build(
                    ".",
                    target="prod",
                    tags=list(tags),
                    build_args=dict(build_args),
                    build_contexts=images.base_contexts(os.environ),
                    push=True,
                    metadata_file=supply_chain.METADATA,
                    progress="plain",
                    **options,
                )
            metadata = json.loads(supply_chain.METADATA.read_text(encoding="utf-8"))
            digest = supply_chain.pushed_digest(metadata)
            reference = f"{repository}@{digest}" if digest else None
            say(f"pushed {', '.join(tags)}")
        else:
            for tag in tags:
                with step(f"pushing {tag}"):
                    docker.image.push(tag)
                say(f"pushed {tag}")
            with step(f"inspecting {tags[0]}"):
                digests = docker.image.inspect(tags[0]).repo_digests or []
            reference = supply_chain.repository_digest(digests, repository)
        reference = supply_chain.require_reference(reference, repository)
        say(f"pushed digest {reference}")
        say(supply_chain.sign(reference, sbom, os.environ))
    except supply_chain.SupplyChainError as error:
        message = f"docker: {error}"
        raise Exit(message, code=1) from None


def compose_config() -> None:
    """The `compose-config` task: every compose stack is valid."""
    require_engine()
    check_compose_files()
