"""GitHub Actions expressions (`${{ ... }}`): the subset `invoke ci` can evaluate, and no more.

Parity refuses an expression this module cannot evaluate, so `invoke ci` never guesses.
Semantics follow GitHub's: string comparison ignores case, `!` / `&&` / `||` work on
truthiness and return an operand, `startsWith`/`endsWith`/`contains` ignore case.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Value = str | bool | float | None
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|<=|>=|&&|\|\||[<>!(),])
      | (?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)
    )""",
    re.VERBOSE,
)
# Status functions, answered from how the job (or the job's needs) has gone so far.
STATUS_FUNCTIONS = frozenset({"success", "always", "failure", "cancelled"})
STRING_FUNCTIONS = frozenset({"startswith", "endswith", "contains"})


class ExpressionError(ValueError):
    """An expression outside the subset `invoke ci` evaluates."""


@dataclass(frozen=True)
class Context:
    """What an expression can read: named values (`github.ref`, `matrix.os`) and the status."""

    values: Mapping[str, Value]
    succeeded: bool = True
    cancelled: bool = False
    # Prefixes an expression may read in this place; anything else is refused.
    readable: frozenset[str] = frozenset({"github", "matrix", "env"})


def _truthy(value: Value) -> bool:
    return value not in (None, False, "", 0, 0.0)


def _text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return value


def _number(value: Value) -> float:
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
        return float(stripped)
    except ValueError:
        return float("nan")


def _equal(left: Value, right: Value) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if type(left) is type(right):
        return left == right
    return _number(left) == _number(right)


class _Parser:
    """Recursive descent over one expression; evaluates as it parses."""

    def __init__(self, source: str, context: Context) -> None:
        self.tokens = self._tokenize(source)
        self.position = 0
        self.context = context
        self.status_used = False

    @staticmethod
    def _tokenize(source: str) -> list[tuple[str, str]]:
        tokens = []
        position = 0
        while position < len(source):
            if source[position:].strip() == "":
                break
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
        if token is None or (text is not None and token[1] != text):
            msg = f"expected `{text or 'a value'}`"
            raise ExpressionError(msg)
        self.position += 1
        return token

    def parse(self) -> Value:
        value = self.or_()
        if self.peek() is not None:
            msg = f"unexpected `{self.peek()[1]}`"  # type: ignore[index]
            raise ExpressionError(msg)
        return value

    def or_(self) -> Value:
        value = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            value = value if _truthy(value) else right
        return value

    def and_(self) -> Value:
        value = self.comparison()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.comparison()
            value = right if _truthy(value) else value
        return value

    def comparison(self) -> Value:
        value = self.unary()
        operators: dict[str, Callable[[Value, Value], bool]] = {
            "==": _equal,
            "!=": lambda a, b: not _equal(a, b),
            "<": lambda a, b: _number(a) < _number(b),
            "<=": lambda a, b: _number(a) <= _number(b),
            ">": lambda a, b: _number(a) > _number(b),
            ">=": lambda a, b: _number(a) >= _number(b),
        }
        while (token := self.peek()) is not None and token[1] in operators:
            self.take()
            value = operators[token[1]](value, self.unary())
        return value

    def unary(self) -> Value:
        if self.peek() == ("op", "!"):
            self.take()
            return not _truthy(self.unary())
        return self.primary()

    def primary(self) -> Value:
        kind, text = self.take()
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "number":
            return float(text)
        if kind == "op" and text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind != "name":
            msg = f"unexpected `{text}`"
            raise ExpressionError(msg)
        if self.peek() == ("op", "("):
            return self.call(text)
        return self.name(text)

    def call(self, function: str) -> Value:
        self.take("(")
        arguments: list[Value] = []
        while self.peek() != ("op", ")"):
            if arguments:
                self.take(",")
            arguments.append(self.or_())
        self.take(")")
        name = function.casefold()
        if name in STATUS_FUNCTIONS and not arguments:
            self.status_used = True
            return {
                "success": self.context.succeeded and not self.context.cancelled,
                "failure": not self.context.succeeded,
                "always": True,
                "cancelled": self.context.cancelled,
            }[name]
        if name in STRING_FUNCTIONS and len(arguments) == 2:  # noqa: PLR2004 - (haystack, needle)
            haystack, needle = (_text(a).casefold() for a in arguments)
            if name == "startswith":
                return haystack.startswith(needle)
            if name == "endswith":
                return haystack.endswith(needle)
            return needle in haystack
        msg = f"the function `{function}` is not one `invoke ci` evaluates"
        raise ExpressionError(msg)

    def name(self, dotted: str) -> Value:
        lowered = dotted.casefold()
        if lowered in {"true", "false"}:
            return lowered == "true"
        if lowered == "null":
            return None
        prefix = lowered.split(".", 1)[0]
        if prefix not in self.context.readable:
            msg = f"`{dotted}` cannot be read here ({prefix} is not a context `invoke ci` has)"
            raise ExpressionError(msg)
        for key, value in self.context.values.items():
            if key.casefold() == lowered:
                return value
        if prefix == "github":
            msg = f"`{dotted}` is not a github property `invoke ci` knows"
            raise ExpressionError(msg)
        return None


def evaluate(source: str, context: Context) -> Value:
    """Evaluate one expression (the text inside `${{ }}`, or a bare `if:` condition)."""
    return _Parser(source, context).parse()


def condition(source: str | bool | None, context: Context) -> bool:  # noqa: FBT001
    """An `if:` value: without a status function, GitHub adds `success() &&`."""
    if source is None:
        return context.succeeded and not context.cancelled
    if isinstance(source, bool):
        return source and context.succeeded and not context.cancelled
    text = source.strip()
    match = EXPRESSION.fullmatch(text)
    if match is not None:
        text = match.group(1)
    parser = _Parser(text, context)
    value = _truthy(parser.parse())
    if parser.status_used:
        return value
    return value and context.succeeded and not context.cancelled


def substitute(text: str, context: Context) -> str:
    """Replace every `${{ ... }}` in a string with its value, as the runner does."""
    return EXPRESSION.sub(lambda match: _text(evaluate(match.group(1), context)), text)


def names_in(text: str) -> list[str]:
    """The expressions in a string (their inner text), for parity's reasons."""
    return [match.group(1).strip() for match in EXPRESSION.finditer(text)]
