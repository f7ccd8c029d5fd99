"""The rules table: every key GitHub Actions allows and every known action, classified.

Each key at workflow, job, strategy, step and `defaults.run` level is *mirrored* (`invoke ci`
reproduces it), *inert* (it changes nothing that runs) or *refused* (parity fails, saying
why it cannot be mirrored). A key in no class is refused too: nothing is ignored.
`invoke parity --rules` prints this table; the READMEs point there.
"""

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devtasks.config import Config

WORKFLOWS = Path(".github/workflows")
CI_WORKFLOW = WORKFLOWS / "ci.yml"
TASK_PREFIX = ("uv", "run", "--locked", "invoke")
SHA_REF = re.compile(r"^[0-9a-f]{40}$")
SAFE_ARGUMENT = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")
MATRIX_ONLY = re.compile(r"^matrix\.[A-Za-z0-9_-]+$")
MATRIX_VALUE = "`${{ matrix.<key> }}`"
DEFAULT_TIMEOUT_MINUTES = 360.0
# The events `invoke ci --event` can stand in for; ci.yml must be triggered by the first two.
LOCAL_EVENTS = ("pull_request", "push", "workflow_dispatch", "schedule")
CI_EVENTS = LOCAL_EVENTS[:2]
PUSH_FILTERS = ("branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore")
PULL_REQUEST_FILTERS = ("branches", "branches-ignore", "paths", "paths-ignore")
# Every other event GitHub can trigger a workflow on: none happens on a laptop, so a
# workflow triggered only by these is never run by `invoke ci` (and never passed).
GITHUB_ONLY_EVENTS = (
    "branch_protection_rule",
    "check_run",
    "check_suite",
    "create",
    "delete",
    "deployment",
    "deployment_status",
    "discussion",
    "discussion_comment",
    "fork",
    "gollum",
    "image_version",
    "issue_comment",
    "issues",
    "label",
    "merge_group",
    "milestone",
    "page_build",
    "project",
    "project_card",
    "project_column",
    "public",
    "pull_request_review",
    "pull_request_review_comment",
    "registry_package",
    "release",
    "repository_dispatch",
    "status",
    "watch",
    "workflow_run",
)


class Level(enum.Enum):
    """Where a key sits in a workflow file."""

    WORKFLOW = "workflow"
    JOB = "job"
    STRATEGY = "strategy"
    STEP = "step"
    DEFAULTS_RUN = "defaults.run"
    EVENT = "on"
    TRIGGER = "on.<event>"


class KeyClass(enum.Enum):
    """What `invoke ci` does with a key."""

    MIRRORED = "mirrored"
    INERT = "inert"
    REFUSED = "refused"


@dataclass(frozen=True)
class KeyRule:
    """One key's class and the reason for it."""

    level: Level
    key: str
    kind: KeyClass
    why: str


MIRRORED, INERT, REFUSED = KeyClass.MIRRORED, KeyClass.INERT, KeyClass.REFUSED
W, J, S, T, D, E, ON = (
    Level.WORKFLOW,
    Level.JOB,
    Level.STEP,
    Level.STRATEGY,
    Level.DEFAULTS_RUN,
    Level.TRIGGER,
    Level.EVENT,
)
DECIDES = "decides whether the local event runs the workflow (GitHub's filter patterns)"
RUNS_ONE_TASK = "a job is setup, one task call and publishing post-steps"
KEY_RULES: tuple[KeyRule, ...] = (
    KeyRule(W, "name", INERT, "a label"),
    KeyRule(W, "run-name", INERT, "a label"),
    KeyRule(
        W,
        "on",
        MIRRORED,
        "each event classified below; `invoke ci --event` picks the local one and runs what "
        "it triggers (ci.yml must run for push and pull_request)",
    ),
    KeyRule(W, "permissions", INERT, "token scopes; nothing local uses the token"),
    KeyRule(W, "concurrency", INERT, "cancels superseded runs on GitHub; a local run is one run"),
    KeyRule(W, "env", MIRRORED, "set for every job's task step"),
    KeyRule(W, "defaults", MIRRORED, "defaults.run: working directory and shell of run steps"),
    KeyRule(W, "jobs", MIRRORED, "the job graph"),
    KeyRule(
        W, "cache-mode", REFUSED, "changes how GitHub caches, which `invoke ci` cannot reproduce"
    ),
    KeyRule(ON, "push", MIRRORED, "`--event push` to `--ref` (default: the current branch)"),
    KeyRule(ON, "pull_request", MIRRORED, "`--event pull_request` (the default) into `--base`"),
    KeyRule(ON, "workflow_dispatch", MIRRORED, "`--event workflow_dispatch`, `--input name=value`"),
    KeyRule(ON, "schedule", MIRRORED, "`--event schedule`; each cron is validated"),
    KeyRule(
        ON,
        "pull_request_target",
        REFUSED,
        "runs the base branch's workflow with a write token for untrusted code, which a local "
        "run cannot mirror; use pull_request",
    ),
    KeyRule(
        ON,
        "workflow_call",
        INERT,
        "called by another workflow's job `uses:`, which parity refuses; never a local event",
    ),
    *(
        KeyRule(ON, event, INERT, "happens on GitHub only; no local event runs the workflow")
        for event in GITHUB_ONLY_EVENTS
    ),
    *(KeyRule(E, f"push.{key}", MIRRORED, DECIDES) for key in PUSH_FILTERS),
    *(KeyRule(E, f"pull_request.{key}", MIRRORED, DECIDES) for key in PULL_REQUEST_FILTERS),
    KeyRule(
        E,
        "pull_request.types",
        MIRRORED,
        "the local pull request is an opened/synchronize/reopened one; other types do not run",
    ),
    KeyRule(
        E, "workflow_dispatch.inputs", MIRRORED, "typed, with defaults, from `--input name=value`"
    ),
    KeyRule(E, "schedule.cron", MIRRORED, "validated (five fields); `--event schedule` runs it"),
    KeyRule(E, "schedule.timezone", INERT, "when it runs; `--event schedule` runs it now"),
    *(
        KeyRule(
            E,
            f"pull_request.{key}",
            REFUSED,
            "a pull request has no tag, so GitHub never matches it; use branches",
        )
        for key in ("tags", "tags-ignore")
    ),
    KeyRule(J, "name", INERT, "a label"),
    KeyRule(J, "permissions", INERT, "token scopes; nothing local uses the token"),
    KeyRule(J, "concurrency", INERT, "cancels superseded runs on GitHub; a local run is one run"),
    KeyRule(J, "needs", MIRRORED, "order, and skipping a job whose needs failed"),
    KeyRule(
        J, "if", MIRRORED, "evaluated for the local event (github, needs, vars, inputs contexts)"
    ),
    KeyRule(
        J, "runs-on", MIRRORED, "Linux runners run here; other OSes (a matrix axis) are skipped"
    ),
    KeyRule(J, "env", MIRRORED, "set for the task step; the task must declare it"),
    KeyRule(J, "defaults", MIRRORED, "defaults.run for the job's run steps"),
    KeyRule(J, "steps", MIRRORED, "setup actions, one task call, publishing post-steps"),
    KeyRule(J, "strategy", MIRRORED, "the matrix, with include/exclude and fail-fast"),
    KeyRule(J, "timeout-minutes", MIRRORED, "the job is stopped and failed after it, locally too"),
    KeyRule(J, "continue-on-error", MIRRORED, "a failure does not fail the run or block needs"),
    KeyRule(
        J,
        "container",
        REFUSED,
        "the job would run in an image `invoke ci` does not use; "
        "put tools in the Dockerfile's ci stage and use `invoke ci --in-container`",
    ),
    KeyRule(
        J,
        "services",
        REFUSED,
        "a task starts the services it needs itself (testcontainers), "
        "so CI and laptop run the same thing",
    ),
    KeyRule(
        J,
        "environment",
        MIRRORED,
        "its name (and url) as written; its protection rules (approvals, wait timers, branch "
        "rules) are GitHub's and are reported as not enforced locally",
    ),
    KeyRule(
        J,
        "outputs",
        MIRRORED,
        "`${{ steps.<id>.outputs.<name> }}` of the task step, read by later jobs as "
        "needs.<job>.outputs.<name>",
    ),
    KeyRule(J, "snapshot", REFUSED, "custom runner images cannot be reproduced locally"),
    KeyRule(
        J, "cache-mode", REFUSED, "changes how GitHub caches, which `invoke ci` cannot reproduce"
    ),
    KeyRule(J, "uses", REFUSED, "a reusable workflow's jobs are not in this repository to run"),
    KeyRule(J, "with", REFUSED, "inputs of a reusable workflow, which `invoke ci` cannot run"),
    KeyRule(J, "secrets", REFUSED, "secrets of a reusable workflow, which `invoke ci` cannot run"),
    KeyRule(T, "matrix", MIRRORED, "expanded like GitHub: product, exclude, then include"),
    KeyRule(
        T, "fail-fast", MIRRORED, "a failed entry cancels the job's other entries (default on)"
    ),
    KeyRule(T, "max-parallel", INERT, "how many entries run at once; results do not change"),
    KeyRule(
        S, "id", MIRRORED, "names the task step for `steps.<id>.outputs` (from $GITHUB_OUTPUT)"
    ),
    KeyRule(S, "name", INERT, "a label"),
    KeyRule(S, "uses", MIRRORED, "setup actions before the task step, publishing actions after it"),
    KeyRule(S, "with", MIRRORED, "the action's inputs, each classified by the action table"),
    KeyRule(S, "run", MIRRORED, "exactly one `uv run --locked invoke <job>` per job"),
    KeyRule(S, "env", MIRRORED, "set for the step; the task must declare it"),
    KeyRule(
        S, "if", MIRRORED, "evaluated with the status functions and the contexts GitHub gives it"
    ),
    KeyRule(S, "working-directory", MIRRORED, "the step runs there"),
    KeyRule(
        S, "shell", MIRRORED, "`bash` only: run like GitHub's bash; any other shell is refused"
    ),
    KeyRule(S, "continue-on-error", MIRRORED, "a failed step does not fail the job"),
    KeyRule(S, "timeout-minutes", MIRRORED, "the step is stopped and failed after it"),
    KeyRule(S, "background", REFUSED, f"{RUNS_ONE_TASK}; nothing runs beside it"),
    KeyRule(S, "cancel", REFUSED, f"{RUNS_ONE_TASK}; nothing runs beside it"),
    KeyRule(S, "parallel", REFUSED, f"{RUNS_ONE_TASK}; nothing runs beside it"),
    KeyRule(S, "wait", REFUSED, f"{RUNS_ONE_TASK}; nothing runs beside it"),
    KeyRule(S, "wait-all", REFUSED, f"{RUNS_ONE_TASK}; nothing runs beside it"),
    KeyRule(D, "working-directory", MIRRORED, "run steps run there unless they say otherwise"),
    KeyRule(
        D, "shell", MIRRORED, "`bash` only: run like GitHub's bash; any other shell is refused"
    ),
)
RULES: Mapping[tuple[Level, str], KeyRule] = {(rule.level, rule.key): rule for rule in KEY_RULES}


class Role(enum.Enum):
    """Where an action may stand in a job."""

    SETUP = "setup"  # before the task step: prepares the machine as `invoke ci` finds it
    POST = "post"  # after the task step: publishes files the task wrote
    TASK = "task"  # is the task step: `invoke ci` runs the command the action runs


@dataclass(frozen=True)
class ActionRule:
    """An action a job may use, where, and how each of its inputs is classified."""

    name: str
    role: Role
    inputs: Mapping[str, KeyClass]
    why: str
    needs_docker: bool = False
    path_input: str | None = None
    # A tool it installs on the runner that the ci image does not carry (`--in-container`).
    host_tool: str | None = None
    # How the path input separates paths, and the (input, value) under which missing files
    # fail the step (None: they always do), as the action itself decides.
    path_separator: str = "\n"
    fails_when: tuple[str, str] | None = None
    # It logs in to a cloud or registry on GitHub; locally it does nothing and says so.
    logs_in: bool = False
    # Outputs that hand the task a credential: each output's name and the environment
    # variable a local run reads it from instead (unset is '', masked like a secret).
    credentials: Mapping[str, str] = field(default_factory=dict)
    # A TASK action: the command it runs, the input that adds arguments and its default,
    # and the setup action that must come before it (its command needs what that installs).
    command: tuple[str, ...] = ()
    arguments_input: str = ""
    arguments_default: str = ""
    requires: str = ""


ACTIONS: tuple[ActionRule, ...] = (
    ActionRule(
        "actions/checkout",
        Role.SETUP,
        {
            "persist-credentials": INERT,
            "fetch-depth": INERT,
            "fetch-tags": INERT,
            "show-progress": INERT,
            # Credentials the checkout fetches with: GitHub's secrets, never read locally.
            "token": INERT,
            "ssh-key": INERT,
            "ref": REFUSED,
            "path": REFUSED,
            # What the checkout holds besides the commit's files: the local tree may not.
            "submodules": REFUSED,
            "lfs": REFUSED,
            "sparse-checkout": REFUSED,
        },
        "the working tree `invoke ci` runs in is the checkout",
    ),
    ActionRule(
        "astral-sh/setup-uv",
        Role.SETUP,
        {
            "version": MIRRORED,
            "python-version": MIRRORED,
            "enable-cache": INERT,
            "cache-dependency-glob": INERT,
        },
        "uv at the pinned version (the job is skipped where the uv on PATH is another); "
        "python-version becomes UV_PYTHON, as setup-uv sets it",
    ),
    ActionRule(
        "docker/setup-buildx-action",
        Role.SETUP,
        {"driver": INERT, "version": INERT},
        "a buildx builder; locally the engine's own",
        needs_docker=True,
    ),
    ActionRule(
        "docker/setup-qemu-action",
        Role.SETUP,
        {"platforms": INERT},
        "emulators for other platforms",
        needs_docker=True,
    ),
    ActionRule(
        "docker/login-action",
        Role.SETUP,
        {
            "registry": INERT,
            "username": INERT,
            "password": INERT,  # a credential: GitHub's secret, never read locally
            "ecr": INERT,
            "logout": INERT,
        },
        "registry credentials; locally your own `docker login`",
        needs_docker=True,
        logs_in=True,
    ),
    ActionRule(
        "aws-actions/configure-aws-credentials",
        Role.SETUP,
        dict.fromkeys(
            (
                "aws-region",
                "role-to-assume",  # a role ARN
                "aws-access-key-id",
                "aws-secret-access-key",
                "aws-session-token",
                "role-session-name",
                "role-duration-seconds",
                "role-external-id",
                "role-chaining",
                "role-skip-session-tagging",
                "audience",
                "web-identity-token-file",
                "mask-aws-account-id",
                "output-credentials",
                "unset-current-credentials",
                "special-characters-workaround",
                "inline-session-policy",
                "managed-session-policies",
            ),
            INERT,
        ),
        "AWS credentials for the task; locally your own (profile or environment)",
        logs_in=True,
    ),
    ActionRule(
        "azure/login",
        Role.SETUP,
        dict.fromkeys(
            (
                "creds",
                "client-id",
                "tenant-id",
                "subscription-id",
                "enable-AzPSSession",
                "environment",
                "allow-no-subscriptions",
                "audience",
                "auth-type",
            ),
            INERT,
        ),
        "an Azure login for the task; locally your own `az login`",
        logs_in=True,
    ),
    ActionRule(
        "google-github-actions/auth",
        Role.SETUP,
        dict.fromkeys(
            (
                "credentials_json",
                "workload_identity_provider",
                "service_account",
                "project_id",
                "audience",
                "token_format",
                "access_token_lifetime",
                "access_token_scopes",
                "access_token_subject",
                "id_token_audience",
                "id_token_include_email",
                "create_credentials_file",
                "export_environment_variables",
                "cleanup_credentials",
                "delegates",
                "universe",
            ),
            INERT,
        ),
        "Google Cloud credentials for the task; locally your own (gcloud auth)",
        logs_in=True,
    ),
    ActionRule(
        "crazy-max/ghaction-github-runtime",
        Role.SETUP,
        {},
        "exposes the Actions cache to the task; locally there is none",
        needs_docker=True,
    ),
    ActionRule(
        "actions/create-github-app-token",
        Role.SETUP,
        {
            "app-id": INERT,
            "client-id": INERT,
            "private-key": INERT,
            "owner": INERT,
            "repositories": INERT,
            "permission-contents": INERT,
            "permission-pull-requests": INERT,
            "permission-workflows": INERT,
        },
        "a token for the task; locally your own: `steps.<id>.outputs.token` reads $GH_TOKEN",
        credentials={"token": "GH_TOKEN"},
    ),
    ActionRule(
        "pre-commit/action",
        Role.TASK,
        {"extra_args": MIRRORED},
        "runs the hooks of .pre-commit-config.yaml (`pre-commit run --show-diff-on-failure "
        "--color=always`, then extra_args, --all-files by default); locally with the lock's "
        "pre-commit through uv. The action installs the newest pre-commit, but the hooks call "
        "the locked tools, so both check with the same versions; fixes a hook makes locally "
        "stay in the working tree, as `pre-commit run` leaves them",
        host_tool="pre-commit",
        command=(
            "uv",
            "run",
            "--locked",
            "pre-commit",
            "run",
            "--show-diff-on-failure",
            "--color=always",
        ),
        arguments_input="extra_args",
        arguments_default="--all-files",
        requires="astral-sh/setup-uv",
    ),
    ActionRule(
        "aquasecurity/setup-trivy",
        Role.SETUP,
        {"version": MIRRORED, "cache": INERT},
        "Trivy at the pinned version, for the security and image scans; locally the job runs "
        "only where the Trivy on PATH is that version, else it is skipped saying how to get it",
        host_tool="Trivy",
    ),
    ActionRule(
        "helm/kind-action",
        Role.SETUP,
        {
            "version": INERT,
            "node_image": INERT,
            "config": INERT,
            "wait": INERT,
            "verbosity": INERT,
            "kubectl_version": INERT,  # `invoke k8s` runs the locked kubectl of the venv
            "ignore_failed_clean": INERT,
            "cloud_provider": INERT,
            "registry": INERT,
            "registry_name": INERT,
            "registry_port": INERT,
            "registry_enable_delete": INERT,
            "cluster_name": REFUSED,  # `invoke k8s` applies to kind-chart-testing only
            "install_only": REFUSED,  # no cluster: the cluster part would be skipped in CI too
        },
        "a kind cluster for `invoke k8s`, which applies only to its context (kind-chart-testing);"
        " locally there is none, and the task skips its cluster part saying so",
    ),
    ActionRule(
        "sigstore/cosign-installer",
        Role.SETUP,
        {"cosign-release": MIRRORED},
        "cosign, for keyless signing of published images; locally the job runs only where the "
        "cosign on PATH is the pinned release (without one, the action's default: skipped)",
        needs_docker=True,
    ),
    ActionRule(
        "actions/upload-artifact",
        Role.POST,
        {
            "name": INERT,
            "path": MIRRORED,
            "if-no-files-found": MIRRORED,
            "retention-days": INERT,
            "compression-level": INERT,
            "overwrite": INERT,
            "include-hidden-files": INERT,
        },
        "publishes files the task wrote; locally their presence is checked",
        path_input="path",
        fails_when=("if-no-files-found", "error"),
    ),
    ActionRule(
        "codecov/codecov-action",
        Role.POST,
        {
            "files": MIRRORED,
            "fail_ci_if_error": MIRRORED,
            "token": INERT,  # a credential: GitHub's secret, never read locally
            "use_oidc": INERT,
            "flags": INERT,
            "name": INERT,
            "slug": INERT,
            "disable_search": INERT,
            "disable_telem": INERT,
            "disable_safe_directory": INERT,
            "handle_no_reports_found": INERT,
            "report_type": INERT,
            "verbose": INERT,
            "url": INERT,
            "version": INERT,
            "override_branch": REFUSED,
            "override_commit": REFUSED,
            "override_pr": REFUSED,
            "directory": REFUSED,
            "root_dir": REFUSED,
            "working-directory": REFUSED,
            "run_command": REFUSED,
            "binary": REFUSED,
        },
        "uploads the coverage reports the task wrote (`files`, comma-separated); locally "
        "their presence is checked, failing the job when fail_ci_if_error is true",
        path_input="files",
        path_separator=",",
        fails_when=("fail_ci_if_error", "true"),
    ),
    ActionRule(
        "github/codeql-action/upload-sarif",
        Role.POST,
        {"sarif_file": MIRRORED, "category": INERT, "wait-for-processing": INERT},
        "publishes the SARIF the task wrote; locally its presence is checked",
        path_input="sarif_file",
    ),
)


# The built-in actions by name, built once; `action_rules` adds the team's own.
BUILTIN_ACTIONS: Mapping[str, ActionRule] = {rule.name: rule for rule in ACTIONS}


def action_rules(config: Config) -> dict[str, ActionRule]:
    """Built-in actions plus the team's own from `[tool.shipshape]`."""
    rules = dict(BUILTIN_ACTIONS)
    for name in config.extra_setup_pins:
        rules.setdefault(name, ActionRule(name, Role.SETUP, {}, "a setup action of the team's"))
    for name, path_input in config.post_actions.items():
        rules.setdefault(
            name,
            ActionRule(
                name, Role.POST, {path_input: MIRRORED}, "the team's", path_input=path_input
            ),
        )
    return rules


def rules_table() -> Sequence[tuple[str, str, str, str]]:
    """(level, key, class, why) for every key, then every action: what `--rules` prints."""
    rows = [(r.level.value, r.key, r.kind.value, r.why) for r in KEY_RULES]
    for action in ACTIONS:
        inputs = ", ".join(f"{k} ({v.value})" for k, v in action.inputs.items()) or "none"
        rows.append(
            (
                f"action ({action.role.value})",
                action.name,
                "mirrored",
                f"{action.why}; inputs: {inputs}",
            )
        )
    return rows
