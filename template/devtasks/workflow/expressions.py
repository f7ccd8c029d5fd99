"""GitHub Actions expressions (`${{ ... }}`): parsed once into a tree, then checked or evaluated.

`parse` builds the tree; `references` and `functions` say statically what an expression reads
(parity checks them against the location's contexts in `contexts.py`, never by running the
expression against a made-up context); `evaluate` runs a tree with GitHub's semantics:
`&&`/`||` short-circuit and return an operand, `!` works on truthiness, comparisons of
different types compare numbers, strings compare ignoring case, and `startsWith`,
`endsWith`, `contains` ignore case (docs.github.com "Evaluate expressions in workflows and
actions"; actions/runner's ExpressionUtility).
"""

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

Value = str | bool | float | None
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<number>-?(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))
      | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\],.])
      | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)
# Status functions, answered from how the job (or the job's needs) has gone so far.
STATUS_FUNCTIONS = frozenset({"success", "always", "failure", "cancelled"})
# name -> (fewest, most) arguments; GitHub's other functions (toJSON, fromJSON, join,
# hashFiles) need values `invoke ci` does not model, so an expression calling them is refused.
# The functions evaluated here, spelled as GitHub's docs spell them: fewest and most arguments.
EVALUATED: Mapping[str, tuple[int, int]] = {
    "contains": (2, 2),
    "startsWith": (2, 2),
    "endsWith": (2, 2),
    "format": (1, 64),
    **dict.fromkeys(sorted(STATUS_FUNCTIONS), (0, 0)),
}
# Function names are case-insensitive: looked up case-folded.
FUNCTIONS = {name.casefold(): arity for name, arity in EVALUATED.items()}
NUMBER = re.compile(r"-?(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
KEYWORDS: Mapping[str, Value] = {"true": True, "false": False, "null": None}


class ExpressionError(ValueError):
    """An expression that cannot be parsed, or read here, or evaluated."""


# -- the tree --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    """`null`, `true`, a number or a 'string'."""

    value: Value


@dataclass(frozen=True)
class Reference:
    """A context property: `github.ref`, `needs.build.outputs['x']` as (github, ref)."""

    path: tuple[str, ...]

    @property
    def context(self) -> str:
        """The context the path starts in, lower-cased (contexts ignore case)."""
        return self.path[0].casefold()


@dataclass(frozen=True)
class Call:
    """A function call, its name as written."""

    name: str
    arguments: tuple["Node", ...] = ()


@dataclass(frozen=True)
class Not:
    """`!operand`."""

    operand: "Node"


@dataclass(frozen=True)
class Binary:
    """`left <op> right` for &&, ||, ==, !=, <, <=, >, >=."""

    operator: str
    left: "Node"
    right: "Node"


Node = Literal | Reference | Call | Not | Binary


def children(node: Node) -> Iterator[Node]:
    """The node and every node below it, depth first."""
    yield node
    if isinstance(node, Call):
        for argument in node.arguments:
            yield from children(argument)
    elif isinstance(node, Not):
        yield from children(node.operand)
    elif isinstance(node, Binary):
        yield from children(node.left)
        yield from children(node.right)


def references(node: Node) -> list[Reference]:
    """Every context property the expression reads, in order."""
    return [found for found in children(node) if isinstance(found, Reference)]


def functions(node: Node) -> list[Call]:
    """Every function the expression calls, in order."""
    return [found for found in children(node) if isinstance(found, Call)]


def uses_status(node: Node) -> bool:
    """Whether the expression calls a status function (so no `success() &&` is implied)."""
    return any(call.name.casefold() in STATUS_FUNCTIONS for call in functions(node))


# -- parsing ---------------------------------------------------------------------------------

# Lowest first, as GitHub's operator table lists them from the other end.
PRECEDENCE: tuple[frozenset[str], ...] = (
    frozenset({"||"}),
    frozenset({"&&"}),
    frozenset({"==", "!="}),
    frozenset({"<", "<=", ">", ">="}),
)


def _number_literal(text: str) -> float:
    negative = text.startswith("-")
    digits = text.lstrip("-")
    value = float(int(digits, 16)) if digits.lower().startswith("0x") else float(digits)
    return -value if negative else value


class _Parser:
    """Recursive descent over one expression's tokens; builds the tree, evaluates nothing."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = self._tokenize(source)
        self.position = 0

    @staticmethod
    def _tokenize(source: str) -> list[tuple[str, str]]:
        tokens = []
        position = 0
        while source[position:].strip():
            match = TOKEN.match(source, position)
            if match is None or match.end() == position:
                msg = f"cannot read `{source.strip()}` at `{source[position:].strip()}`"
                raise ExpressionError(msg)
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind)))
            position = match.end()
        return tokens

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, text: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (text is not None and token != ("op", text)):
            found = f", found `{token[1]}`" if token else ""
            msg = f"`{self.source.strip()}`: expected `{text or 'a value'}`{found}"
            raise ExpressionError(msg)
        self.position += 1
        return token

    def parse(self) -> Node:
        if not self.tokens:
            msg = "an empty expression"
            raise ExpressionError(msg)
        node = self.binary(0)
        if (token := self.peek()) is not None:
            msg = f"`{self.source.strip()}`: unexpected `{token[1]}`"
            raise ExpressionError(msg)
        return node

    def binary(self, level: int) -> Node:
        if level == len(PRECEDENCE):
            return self.unary()
        node = self.binary(level + 1)
        operators = PRECEDENCE[level]
        while (token := self.peek()) is not None and token[0] == "op" and token[1] in operators:
            self.take()
            node = Binary(token[1], node, self.binary(level + 1))
        return node

    def unary(self) -> Node:
        if self.peek() == ("op", "!"):
            self.take()
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "string":
            return Literal(text[1:-1].replace("''", "'"))
        if kind == "number":
            return Literal(_number_literal(text))
        if (kind, text) == ("op", "("):
            node = self.binary(0)
            self.take(")")
            return node
        if kind != "name":
            msg = f"`{self.source.strip()}`: unexpected `{text}`"
            raise ExpressionError(msg)
        if text.casefold() in KEYWORDS:
            return Literal(KEYWORDS[text.casefold()])
        if self.peek() == ("op", "("):
            return self.call(text)
        return self.reference(text)

    def call(self, name: str) -> Node:
        self.take("(")
        arguments: list[Node] = []
        while self.peek() != ("op", ")"):
            if arguments:
                self.take(",")
            arguments.append(self.binary(0))
        self.take(")")
        return Call(name, tuple(arguments))

    def reference(self, first: str) -> Node:
        path = [first]
        while (token := self.peek()) in {("op", "."), ("op", "[")}:
            self.take()
            if token == ("op", "."):
                kind, text = self.take()
                if kind != "name":
                    msg = f"`{self.source.strip()}`: `.{text}` is not a property name"
                    raise ExpressionError(msg)
                path.append(text)
                continue
            index = self.binary(0)
            self.take("]")
            # Only a literal index names a property `invoke ci` can look up.
            if not isinstance(index, Literal) or not isinstance(index.value, str):
                msg = f"`{self.source.strip()}`: an index must be a 'string' literal"
                raise ExpressionError(msg)
            path.append(index.value)
        return Reference(tuple(path))


def parse(source: str) -> Node:
    """The tree of one expression (the text inside `${{ }}`, or a bare `if:` condition)."""
    return _Parser(source).parse()


def parse_condition(source: str) -> Node:
    """An `if:` value as written, with or without its `${{ }}`."""
    text = source.strip()
    match = EXPRESSION.fullmatch(text)
    return parse(match.group(1) if match else text)


# -- printing (the inverse of parse; tests round-trip through it) ---------------------------


def render(node: Node) -> str:
    """The expression as text that parses back into the same tree."""
    if isinstance(node, Literal):
        if isinstance(node.value, str):
            return "'" + node.value.replace("'", "''") + "'"
        return text_of(node.value) if node.value is not None else "null"
    if isinstance(node, Reference):
        head, *rest = node.path
        return head + "".join("['" + part.replace("'", "''") + "']" for part in rest)
    if isinstance(node, Call):
        return f"{node.name}({', '.join(render(a) for a in node.arguments)})"
    if isinstance(node, Not):
        return f"!({render(node.operand)})"
    return f"({render(node.left)} {node.operator} {render(node.right)})"


# -- values ----------------------------------------------------------------------------------


def truthy(value: Value) -> bool:
    """GitHub's truthiness: false, 0, -0, NaN, '' and null are false."""
    if isinstance(value, float):
        return not (value == 0 or math.isnan(value))
    return value not in (None, False, "")


def text_of(value: Value) -> str:
    """A value as text, as the runner formats it (integers without a fraction)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def number_of(value: Value) -> float:
    """A value as a number: null 0, booleans 1/0, numeric strings parsed, else NaN."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    stripped = value.strip()
    if not stripped:
        return 0.0
    try:
        return _number_literal(stripped) if NUMBER.fullmatch(stripped) else float("nan")
    except ValueError:  # beyond a float's range
        return float("nan")


def _equal(left: Value, right: Value) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if type(left) is type(right):
        return left == right
    return number_of(left) == number_of(right)


def _ordered(left: Value, right: Value, *, strict: bool) -> bool:
    """`left < right` (or `<=`): strings ignoring case, anything else as numbers (NaN: false)."""
    if isinstance(left, str) and isinstance(right, str):
        a, b = left.casefold(), right.casefold()
        return a < b if strict else a <= b
    x, y = number_of(left), number_of(right)
    return x < y if strict else x <= y


COMPARISONS: Mapping[str, Callable[[Value, Value], bool]] = {
    "==": _equal,
    "!=": lambda a, b: not _equal(a, b),
    "<": lambda a, b: _ordered(a, b, strict=True),
    "<=": lambda a, b: _ordered(a, b, strict=False),
    ">": lambda a, b: _ordered(b, a, strict=True),
    ">=": lambda a, b: _ordered(b, a, strict=False),
}


def _format(template: str, arguments: list[Value]) -> str:
    """GitHub's format(): `{N}` replaced, `{{` and `}}` escape braces."""
    out = []
    position = 0
    while position < len(template):
        char = template[position]
        if char in "{}" and template[position : position + 2] in {"{{", "}}"}:
            out.append(char)
            position += 2
            continue
        if char == "{":
            end = template.find("}", position)
            index = template[position + 1 : end] if end > 0 else ""
            if not index.isdigit() or int(index) >= len(arguments):
                msg = f"format(): `{template}` has no argument for `{{{index}}}`"
                raise ExpressionError(msg)
            out.append(text_of(arguments[int(index)]))
            position = end + 1
            continue
        if char == "}":
            msg = f"format(): `{template}` has an unmatched `}}`"
            raise ExpressionError(msg)
        out.append(char)
        position += 1
    return "".join(out)


# -- evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What an expression can read in one place: values by dotted name, and the status.

    `values` holds properties by their full dotted name (`github.ref`, `needs.a.outputs.x`);
    `objects` holds whole contexts looked up by key (secrets and vars, read from the
    environment, where unset is ''). `readable` are the contexts this place may read;
    `contexts.scope` builds a Context from the location's row of the availability table,
    so a context parity lets a place read is always one the Context supplies.
    """

    values: Mapping[str, Value]
    succeeded: bool = True
    cancelled: bool = False
    readable: frozenset[str] = frozenset({"github", "matrix", "env"})
    objects: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def read(self, reference: Reference) -> Value:
        """A property's value; a property GitHub would not have is null, as on GitHub."""
        if reference.context not in self.readable:
            msg = f"`{'.'.join(reference.path)}` cannot be read here"
            raise ExpressionError(msg)
        lowered = ".".join(reference.path).casefold()
        for key, value in self.values.items():
            if key.casefold() == lowered:
                return value
        found = self.objects.get(reference.context)
        if found is not None and len(reference.path) == 2:  # noqa: PLR2004 - context.name
            return found.get(reference.path[1], "")
        return None


def evaluate_node(node: Node, context: Context) -> Value:  # noqa: PLR0911 - one per node kind
    """Evaluate a tree; the right side of `&&`/`||` only when the left does not decide."""
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Reference):
        return context.read(node)
    if isinstance(node, Not):
        return not truthy(evaluate_node(node.operand, context))
    if isinstance(node, Binary):
        left = evaluate_node(node.left, context)
        if node.operator == "&&":
            return evaluate_node(node.right, context) if truthy(left) else left
        if node.operator == "||":
            return left if truthy(left) else evaluate_node(node.right, context)
        return COMPARISONS[node.operator](left, evaluate_node(node.right, context))
    return _call(node, context)


def _call(node: Call, context: Context) -> Value:
    name = node.name.casefold()
    fewest, most = FUNCTIONS.get(name, (-1, -1))
    if not fewest <= len(node.arguments) <= most:
        count = len(node.arguments)
        msg = (
            f"the function `{node.name}` with {count} argument(s) is not one `invoke ci` evaluates"
        )
        raise ExpressionError(msg)
    if name in STATUS_FUNCTIONS:
        return {
            "success": context.succeeded and not context.cancelled,
            "failure": not context.succeeded,
            "always": True,
            "cancelled": context.cancelled,
        }[name]
    arguments = [evaluate_node(argument, context) for argument in node.arguments]
    if name == "format":
        return _format(text_of(arguments[0]), arguments[1:])
    haystack, needle = (text_of(a).casefold() for a in arguments)
    if name == "startswith":
        return haystack.startswith(needle)
    if name == "endswith":
        return haystack.endswith(needle)
    return needle in haystack


def problems(node: Node) -> list[str]:
    """What no context can fix: functions `invoke ci` does not evaluate, or wrong arity."""
    found = []
    for call in functions(node):
        fewest, most = FUNCTIONS.get(call.name.casefold(), (-1, -1))
        if fewest < 0:
            found.append(
                f"the function `{call.name}` is not one `invoke ci` evaluates (it evaluates "
                f"{', '.join(EVALUATED)}): compute the value in a task and read it as a step "
                "output (devtasks.jobs.outputs.set_outputs)"
            )
        elif not fewest <= len(call.arguments) <= most:
            count = len(call.arguments)
            found.append(f"`{call.name}` takes {fewest}-{most} arguments, not {count}")
    return found


def evaluate(source: str, context: Context) -> Value:
    """Parse and evaluate one expression (the text inside `${{ }}`)."""
    return evaluate_node(parse(source), context)


def condition_node(node: Node | None, context: Context) -> bool:
    """An `if:` tree: without a status function, GitHub adds `success() &&`."""
    status = context.succeeded and not context.cancelled
    if node is None:
        return status
    value = truthy(evaluate_node(node, context))
    return value if uses_status(node) else value and status


def condition(source: str | bool | None, context: Context) -> bool:  # noqa: FBT001
    """An `if:` value as written (None when absent)."""
    if source is None:
        return condition_node(None, context)
    if isinstance(source, bool):
        return condition_node(Literal(source), context)
    return condition_node(parse_condition(source), context)


def substitute(text: str, context: Context) -> str:
    """Replace every `${{ ... }}` in a string with its value, as the runner does."""
    return EXPRESSION.sub(lambda match: text_of(evaluate(match.group(1), context)), text)


def names_in(text: str) -> list[str]:
    """The expressions in a string (their inner text), for parity's reasons."""
    return [match.group(1).strip() for match in EXPRESSION.finditer(text)]
