"""Benchmark the default service's images: every stage's size; prod's build times, start-up, memory.

Run: `uv run python bench/bench_docker.py [--runs N]` with a Docker engine up and the base
images present (`uv run invoke base-images`). Writes its section of bench/results.md.
Only 127.0.0.1 is probed.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from results_file import verdict, write_section

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "shipshape-bench/my-service:prod"
MB = 1e6
MIB = 1024 * 1024
GOALS = {"above_base_mb": 40.0, "rebuild_ratio": 0.1, "first_200_s": 1.0, "idle_rss_mib": 60.0}
# The teams' own figures (ci about 250 MB, dev about 300 MB), and prod no larger than it was
# before the stages were cut down (135.0 MB, measured 2026-11-26 on the stand-in base).
SIZE_GOALS_MB = {"ci": 250.0, "dev": 300.0, "prod": 135.0}
STAGES = ("base", "dev", "ci")


def run(argv: Sequence[str], cwd: Path = ROOT) -> str:
    """Run a command, failing loudly; return its stdout."""
    result = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def stage_image(stage: str) -> str:
    """The bench's tag for one stage."""
    return IMAGE.replace(":prod", f":{stage}")


def build_stage(project: Path, stage: str) -> None:
    """`docker buildx build --target <stage>` into the engine, tagged for the bench."""
    tag = f"--tag={stage_image(stage)}"
    run(["docker", "buildx", "build", "--load", f"--target={stage}", tag, "."], project)


def timed_build(project: Path, *, no_cache: bool = False) -> float:
    """Seconds for `docker buildx build --target prod`, with or without the layer cache."""
    flags = ["--no-cache"] if no_cache else []
    started = time.perf_counter()
    run(
        ["docker", "buildx", "build", "--load", "--target=prod", f"--tag={IMAGE}", *flags, "."],
        project,
    )
    return time.perf_counter() - started


def image_size(tag: str) -> int:
    """Uncompressed size in bytes."""
    return int(run(["docker", "image", "inspect", "--format", "{{.Size}}", tag]))


@contextmanager
def prod_container(port: int) -> Iterator[tuple[str, int]]:
    """Run the prod image read-only, published on 127.0.0.1; yield (id, host port); remove it."""
    container = run(
        ["docker", "run", "--detach", "--read-only", f"--publish=127.0.0.1::{port}", IMAGE]
    ).strip()
    try:
        host_port = int(
            run(["docker", "port", container, f"{port}/tcp"]).split()[0].rsplit(":", 1)[1]
        )
        yield container, host_port
    finally:
        run(["docker", "rm", "--force", container])


def first_200(port: int) -> float:
    """Seconds from `docker run` to the first 200 on /health; the container is removed."""
    started = time.perf_counter()
    with prod_container(port) as (_, host_port):
        url = f"http://127.0.0.1:{host_port}/health"
        while time.perf_counter() - started < 30:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.01)
        sys.exit("no 200 on /health within 30 s")


def idle_memory(port: int) -> tuple[float, float]:
    """(process RSS, cgroup usage) in MiB of an idle prod container after a few requests."""
    with prod_container(port) as (container, host_port):
        deadline = time.monotonic() + 30
        answered = 0
        while answered < 20 and time.monotonic() < deadline:
            for path in ("/health", "/ready", "/metrics"):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{host_port}{path}", timeout=1):
                        answered += 1
                except OSError:
                    time.sleep(0.05)
        time.sleep(3)
        status = run(["docker", "exec", container, "cat", "/proc/1/status"])
        rss_kib = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
        )
        stats = json.loads(
            run(["docker", "stats", "--no-stream", "--format", "{{json .}}", container])
        )
        usage = stats["MemUsage"].split("/")[0].strip()
        return rss_kib / 1024, parse_size(usage) / MIB


def parse_size(text: str) -> float:
    """`12.3MiB` -> bytes."""
    units = {"KiB": 1024, "MiB": MIB, "GiB": 1024 * MIB, "kB": 1e3, "MB": 1e6, "GB": 1e9, "B": 1}
    for unit, factor in units.items():
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def render(destination: Path) -> Path:
    """The default service, committed, as a team would have it."""
    copier = [sys.executable, "-m", "copier", "copy", "--quiet", "--trust", "--defaults"]
    run([*copier, "--vcs-ref", "HEAD", str(ROOT), str(destination)])
    run(["git", "init", "--quiet"], destination)
    run(["git", "add", "--all"], destination)
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    run(["git", *identity, "commit", "--quiet", "--message", "bench"], destination)
    return destination


def listed(values: Sequence[float], digits: int) -> str:
    """Values as a comma-separated list."""
    return ", ".join(f"{value:.{digits}f}" for value in values)


def main() -> None:
    """Measure, then write the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as scratch:
        project = render(Path(scratch) / "my-service")
        dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
        base = dockerfile.split("\nFROM ", 1)[1].split()[0]  # the `python` stage's image
        port = int(dockerfile.split("EXPOSE ")[-1].split()[0])
        timed_build(project)  # warms the uv cache mount and the base layers
        cold = [timed_build(project, no_cache=True) for _ in range(runs)]
        timed_build(project)  # a build with the layer cache again, after the --no-cache ones
        unchanged = [timed_build(project) for _ in range(runs)]
        routes = project / "src" / "my_service" / "routes.py"
        rebuilds = []
        for index in range(runs):
            routes.write_text(
                routes.read_text(encoding="utf-8") + f"\n# edit {index}\n", encoding="utf-8"
            )
            rebuilds.append(timed_build(project))
        size, base_size = image_size(IMAGE), image_size(base)
        for stage in STAGES:
            build_stage(project, stage)
        sizes = {stage: image_size(stage_image(stage)) / MB for stage in STAGES}
        sizes["prod"] = size / MB
        starts = [first_200(port) for _ in range(runs)]
        rss, cgroup = idle_memory(port)
    engine = run(["docker", "version", "--format", "{{.Server.Version}}"]).strip()
    labels = run(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", base])
    kind = "a stand-in" if "dev.shipshape.stand-in" in labels else "the official image"
    cold_s, rebuild_s, start_s, floor_s = (
        statistics.median(v) for v in (cold, rebuilds, starts, unchanged)
    )
    above = (size - base_size) / MB
    size_rows = [
        (
            f"`{stage}` image size",
            f"{sizes[stage]:.1f} MB",
            f"at most {SIZE_GOALS_MB[stage]:.0f} MB" if stage in SIZE_GOALS_MB else "",
            sizes[stage] <= SIZE_GOALS_MB[stage] if stage in SIZE_GOALS_MB else None,
        )
        for stage in ("base", "dev", "ci", "prod")
    ]
    rows = [
        *size_rows,
        (
            f"added above the base ({base_size / MB:.1f} MB)",
            f"{above:.1f} MB",
            f"at most {GOALS['above_base_mb']:.0f} MB",
            above <= GOALS["above_base_mb"],
        ),
        ("cold build (`--no-cache`), warm uv cache", f"{cold_s:.1f} s", "", None),
        ("build with nothing changed (the floor of any build)", f"{floor_s:.2f} s", "", None),
        (
            "rebuild after a code-only change",
            f"{rebuild_s:.2f} s ({rebuild_s / cold_s:.0%} of cold)",
            "at most 10 % of cold",
            rebuild_s <= GOALS["rebuild_ratio"] * cold_s,
        ),
        (
            "`docker run` to the first 200 on `/health`",
            f"{start_s:.2f} s",
            f"within {GOALS['first_200_s']:.0f} s",
            start_s <= GOALS["first_200_s"],
        ),
        (
            "idle RSS of the service process",
            f"{rss:.1f} MiB",
            f"under {GOALS['idle_rss_mib']:.0f} MiB",
            rss < GOALS["idle_rss_mib"],
        ),
        ("idle memory of the container's cgroup (`docker stats`)", f"{cgroup:.1f} MiB", "", None),
    ]
    lines = [
        "## Docker: the default service's images",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} by `bench/bench_docker.py`: {os.cpu_count()} CPUs,",
        f"Docker Engine {engine}, base `{base}` ({kind}), median of {runs} runs.",
        "",
        "| figure | value | goal | |",
        "|---|---|---|---|",
        *(f"| {name} | {value} | {goal} | {verdict(ok)} |" for name, value, goal, ok in rows),
        "",
        "Every run, in seconds:",
        (
            f"cold {listed(cold, 1)}; unchanged {listed(unchanged, 2)}; "
            f"code-only {listed(rebuilds, 2)}; first 200 {listed(starts, 2)}."
        ),
    ]
    run(["docker", "image", "rm", "--force", IMAGE, *map(stage_image, STAGES)])
    write_section("docker", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
