"""``when``: a small, safe expression over an event's fields that says what is material, e.g.
``type == "enrollment_changed" and change_pct <= -20 or type == "status_changed"``.

The expression is Python's syntax narrowed to what a rule needs: field names, strings, numbers,
``true``/``false``/``null`` (or Python's spellings), lists of those, ``and``, ``or``, ``not``,
comparisons, ``in`` and ``not in``. It is checked here, node by node, so that an error names
the position and the field; it is evaluated by simpleeval (a well-kept evaluator that never
calls ``eval``), with no function and no attribute access. A comparison with a field the event
does not have (``change_pct`` of a status change) is false, never an error."""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from trialwatch.errors import ConfigError

# The fields a rule may name, and what each holds (docs/subscriptions.md has the table).
FIELDS: dict[str, str] = {
    "type": "the event's type (status_changed, enrollment_changed, date_moved…)",
    "category": "status, dates, enrollment, eligibility, outcomes, results…",
    "kind": '"event", or "change" for a material change no event explains',
    "flags": "the event's flags (after_the_fact, likely_administrative…), a list",
    "headline": "the words the report says",
    "severity": "high, medium, low or noise",
    "nct_id": "the trial",
    "status": "the trial's overall status now (RECRUITING, TERMINATED…)",
    "phase": "the trial's phases (PHASE2, PHASE3…), a list",
    "sponsor": "the trial's lead sponsor",
    "conditions": "the trial's conditions, a list",
    "change_pct": "enrollment: the change in percent, signed",
    "days": "a date moved: by how many days, signed",
    "old": "the value before",
    "new": "the value after",
}
_CONSTANTS = {"true": True, "false": False, "null": None, "none": None}
_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)


def _where(node: ast.AST) -> str:
    col = getattr(node, "col_offset", None)
    return f"at column {col + 1}" if isinstance(col, int) else "in the rule"


def _check(node: ast.AST) -> None:
    """Every node one a rule may hold; ConfigError naming the first that is not."""
    if isinstance(node, ast.Expression):
        _check(node.body)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
        _check(node.operand)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if not isinstance(op, _COMPARE):
                raise ConfigError(
                    f"{_where(node)}: {type(op).__name__} is not a comparison a rule knows"
                )
        for part in [node.left, *node.comparators]:
            _check(part)
    elif isinstance(node, ast.Name):
        if node.id not in FIELDS and node.id.lower() not in _CONSTANTS:
            raise ConfigError(
                f"{_where(node)}: unknown field {node.id!r}; a rule knows " + ", ".join(FIELDS)
            )
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, str | int | float | bool | type(None)):
            raise ConfigError(f"{_where(node)}: {node.value!r} is not a value a rule compares")
    elif isinstance(node, ast.List | ast.Tuple | ast.Set):
        for item in node.elts:
            _check(item)
    else:
        what = type(node).__name__
        hint = " (a rule calls no function)" if isinstance(node, ast.Call) else ""
        hint = " (write a field's name alone)" if isinstance(node, ast.Attribute) else hint
        raise ConfigError(f"{_where(node)}: {what} is not allowed in a rule{hint}")


def _safe(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """An ordering that is false when either side is missing or of another kind."""

    def compare(a: Any, b: Any) -> Any:
        try:
            return op(a, b)
        except TypeError:
            return False

    return compare


def _contains(a: Any, b: Any) -> bool:
    """``a in b``: a word of a text, a member of a list; false when b is missing."""
    if b is None:
        return False
    if isinstance(b, str):
        return isinstance(a, str) and a.casefold() in b.casefold()
    try:
        return a in b
    except TypeError:
        return False


@dataclass(frozen=True, slots=True)
class Rule:
    text: str
    _parsed: Any  # simpleeval's parse of the text (checked first, node by node)

    def __call__(self, fields: Mapping[str, Any]) -> bool:
        from simpleeval import EvalWithCompoundTypes

        names = {**_CONSTANTS, **{k.capitalize(): v for k, v in _CONSTANTS.items()}, **fields}
        evaluator = EvalWithCompoundTypes(names=names, functions={})
        evaluator.operators = {
            **evaluator.operators,
            ast.Lt: _safe(operator.lt),
            ast.LtE: _safe(operator.le),
            ast.Gt: _safe(operator.gt),
            ast.GtE: _safe(operator.ge),
            ast.In: _contains,
            ast.NotIn: lambda a, b: not _contains(a, b),
            ast.USub: lambda a: -a if isinstance(a, int | float) else None,
        }
        try:
            return bool(evaluator.eval(self.text, previously_parsed=self._parsed))
        except Exception:  # a value of an odd kind: the rule does not hold for this event
            return False


def compile_rule(text: str, where: str) -> Rule:
    """A rule from its text; ConfigError with ``where`` (the subscription), the position and
    the field."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f'{where}: when must be a rule (type == "status_changed")')
    source = " ".join(text.split())
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        hint = " (compare with ==)" if re.search(r"(^|[^=!<>])=($|[^=])", source) else ""
        raise ConfigError(
            f"{where}: the rule {source!r} does not read{col}: {exc.msg}{hint}"
        ) from None
    try:
        _check(tree)
    except ConfigError as exc:
        raise ConfigError(f"{where}: the rule {source!r}: {exc}") from None
    from simpleeval import SimpleEval

    return Rule(source, SimpleEval.parse(source))
