"""The words after the task name in a task step: that task's own arguments, and nothing else.

`invoke lint --help` prints help and exits 0, `invoke lint typecheck` runs two tasks: a job
would pass having run something else, or nothing. So each job's words are parsed by invoke's
own parser, for every matrix entry as GitHub substitutes it, and must come out as one call of
the job's task with only its options; a core flag, a second task, a stray word or `--` is
refused with one line naming the word.
"""

from invoke.collection import Collection
from invoke.exceptions import ParseError
from invoke.parser.argument import Argument
from invoke.parser.context import ParserContext
from invoke.parser.parser import Parser
from invoke.program import Program

from devtasks.workflow import expressions, model, rules

FIX = "a task step passes only its task's own options"


def _flag_word(words: list[str], core: ParserContext, given: Argument) -> str:
    """The word that set a core flag, as written (`-h`, `--list=x`), else its long form."""
    for word in words:
        flag = word.partition("=")[0]
        # Lexicon resolves aliases (`-h`) on indexing, not in .get().
        if flag in core.flags and core.flags[flag] is given:
            return word
    return f"--{given.name}"


def _task_word(words: list[str], context: ParserContext) -> str:
    """The word that named a task, as written (its name or an alias)."""
    names = {context.name, *context.aliases}
    return next((word for word in words if word in names), str(context.name))


def call_problem(words: list[str], tasks: Collection) -> str | None:
    """Why `invoke <words>` is not one call of `words[0]` with its own arguments, or None."""
    name, rest = words[0], words[1:]
    call = f"`invoke {' '.join(words)}`"
    if "--" in rest:
        return f"{call}: `--` hands the words after it to the task unparsed; {FIX}"
    parser = Parser(initial=Program().initial_context, contexts=tasks.to_contexts())
    try:
        result = parser.parse_argv(words)
    except ParseError as error:
        return f"{call}: invoke refuses it ({error}); {FIX}"
    core = result[0]
    given = [argument for argument in core.args.values() if argument.got_value]
    if given:
        word = _flag_word(rest, core, given[0])
        return f"{call}: `{word}` is an option of invoke itself, not of task `{name}`; {FIX}"
    if len(result) > 2:  # noqa: PLR2004 - the core context and the one task
        word = _task_word(rest, result[2])
        return f"{call}: `{word}` is a second task, which the job would run too; {FIX}"
    return None


def problem(job: model.Job, tasks: Collection) -> model.Problem | None:
    """The job's task call refused, for its first matrix entry whose words are not one call."""
    argv = job.argv
    if argv is None or job.task not in tasks.task_names:
        return None  # not a task call, or no such task: the model and check_tasks say so
    written = argv[len(rules.TASK_PREFIX) :]
    varies = any(expressions.EXPRESSION.search(word) for word in written)
    for entry in job.entries() if varies else ():
        try:
            words = [expressions.substitute(word, entry.context({})) for word in written]
        except expressions.ExpressionError:
            return None  # the model refuses the expression itself
        odd = next((word for word in words if not rules.SAFE_ARGUMENT.match(word)), None)
        if odd is not None:
            message = f"for matrix entry {entry.label}, the task step has the word {odd!r}; "
            return model.Problem(job.path, job.id, message + "matrix values must be plain words")
        if (why := call_problem(words, tasks)) is not None:
            return model.Problem(job.path, job.id, f"for matrix entry {entry.label}, {why}")
    if not varies and (why := call_problem(written, tasks)) is not None:
        return model.Problem(job.path, job.id, f"calls {why}")
    return None


def problems(workflow: model.Workflow, tasks: Collection) -> list[model.Problem]:
    """Every job of the workflow whose task call is refused, one problem each."""
    found = (problem(job, tasks) for job in workflow.jobs.values())
    return [item for item in found if item is not None]
