"""Parse a gate policy: one rule per line (or separated by ``;``), ``#`` starts a comment.

A hand-written recursive-descent parser over a small tokenizer; every error names the line,
the column and the token it stopped at (:class:`~shipyard.gates.rules.PolicySyntaxError`).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from shipyard.gates.rules import (
    ALIASES,
    BaselineTerm,
    DatasetAgeRule,
    FormatRule,
    MetricRef,
    MetricRule,
    Operator,
    PolicySyntaxError,
    Rule,
    SignatureRule,
    ThresholdRule,
)

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<op>>=|<=|>|<)"
    r"|(?P<bracket>\[[^\]]*\])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<punct>[.+\-*%=]))"
)
_UNITS = {"day": 1.0, "days": 1.0, "hour": 1 / 24, "hours": 1 / 24}
MAX_RULES = 200


@dataclass(frozen=True)
class Token:
    kind: str  # number, op, bracket, word, punct, end
    text: str
    column: int  # 1-based


def _tokens(line: str, number: int) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(line):
        if not line[pos:].strip():
            break
        match = _TOKEN.match(line, pos)
        if match is None or match.lastgroup is None:
            column = pos + len(line[pos:]) - len(line[pos:].lstrip()) + 1
            bad = line[column - 1 :].split(maxsplit=1)[0] if line[column - 1 :].split() else line[column - 1 :]
            raise PolicySyntaxError(f"unexpected '{bad[:40]}'", line=number, column=column, token=bad[:40])
        start = match.start(match.lastgroup)
        out.append(Token(match.lastgroup, match.group(match.lastgroup), start + 1))
        pos = match.end()
    out.append(Token("end", "", len(line.rstrip()) + 1))
    return out


class _Line:
    def __init__(self, text: str, number: int) -> None:
        self.text = text.strip()
        self.lineno = number
        self.tokens = _tokens(text, number)
        self.i = 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def error(self, expected: str, token: Token | None = None) -> PolicySyntaxError:
        token = token or self.peek
        found = "the end of the rule" if token.kind == "end" else f"'{token.text}'"
        return PolicySyntaxError(
            f"expected {expected}, found {found}", line=self.lineno, column=token.column, token=token.text
        )

    def word(self, *expected: str) -> Token:
        token = self.peek
        if token.kind != "word" or (expected and token.text.lower() not in expected):
            raise self.error(" or ".join(f"'{e}'" for e in expected) if expected else "a name")
        return self.take()

    def accept(self, *words: str) -> bool:
        if self.peek.kind == "word" and self.peek.text.lower() in words:
            self.take()
            return True
        return False

    def number(self, what: str = "a number") -> float:
        sign = 1.0
        if self.peek.kind == "punct" and self.peek.text in "+-":
            sign = -1.0 if self.take().text == "-" else 1.0
        token = self.peek
        if token.kind != "number":
            raise self.error(what)
        self.take()
        value = sign * float(token.text)
        if not math.isfinite(value):
            raise self.error("a finite number", token)
        return value

    def end(self) -> None:
        if self.peek.kind != "end":
            raise self.error("the end of the rule")


def _metric(line: _Line) -> MetricRef:
    name_token = line.word()
    name = ALIASES.get(name_token.text.lower(), name_token.text)
    if line.peek.kind != "bracket":
        return MetricRef(name)
    token = line.take()
    cls: str | None = None
    slice_: str | None = None
    for part in token.text[1:-1].split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not value or key not in ("class", "slice"):
            raise PolicySyntaxError(
                f"a selector is class=<label> or slice=<column>:<value> (or slice=*), got '{part.strip()}'",
                line=line.lineno,
                column=token.column,
                token=token.text,
            )
        if key == "class":
            cls = value
        else:
            if value != "*" and ":" not in value:
                raise PolicySyntaxError(
                    f"slice must be <column>:<value>, <column>:* or *, got '{value}'",
                    line=line.lineno,
                    column=token.column,
                    token=token.text,
                )
            slice_ = value
    return MetricRef(name, cls, slice_)


def _baseline(line: _Line, metric: MetricRef) -> BaselineTerm:
    line.word("baseline")
    ref = metric
    if line.peek.kind == "punct" and line.peek.text == ".":
        line.take()
        other = _metric(line)
        ref = MetricRef(other.name, other.cls if other.cls is not None else metric.cls, other.slice or metric.slice)
    if line.peek.kind == "punct" and line.peek.text in "+-":
        sign = -1.0 if line.take().text == "-" else 1.0
        offset = sign * line.number("a number after '+'/'-'")
        if line.peek.kind == "punct" and line.peek.text == "%":
            line.take()
            return BaselineTerm(ref, factor=1.0 + offset / 100.0)
        return BaselineTerm(ref, offset=offset)
    if line.peek.kind == "punct" and line.peek.text == "*":
        line.take()
        return BaselineTerm(ref, factor=line.number("a factor after '*'"))
    return BaselineTerm(ref)


def _comparison(line: _Line) -> Rule:
    metric = _metric(line)
    if line.accept("meets"):
        return _threshold(line, metric)
    token = line.peek
    if token.kind != "op":
        raise line.error("a comparison (>=, <=, >, <) or 'meets'")
    op = cast(Operator, line.take().text)
    if line.peek.kind == "word" and line.peek.text.lower() == "baseline":
        term = _baseline(line, metric)
        significant = line.accept("significant", "significantly")
        line.end()
        return MetricRule(line.text, metric, op, baseline=term, significant=significant)
    threshold = line.number("a number or 'baseline'")
    line.end()
    return MetricRule(line.text, metric, op, threshold=threshold)


def _threshold(line: _Line, metric: MetricRef) -> ThresholdRule:
    values: dict[str, float | bool] = {}
    while line.peek.kind != "end":
        key = line.word("threshold", "min_absolute_change", "min_relative_change", "greater_is_better")
        equals = line.take()
        if equals.text != "=":
            raise line.error("'='", equals)
        if key.text.lower() == "greater_is_better":
            values["greater_is_better"] = line.word("true", "false").text.lower() == "true"
            continue
        value = line.number()
        if key.text.lower() != "threshold" and value < 0:
            raise PolicySyntaxError(
                f"{key.text} must not be negative", line=line.lineno, column=key.column, token=key.text
            )
        values[key.text.lower()] = value
    if not any(k != "greater_is_better" for k in values):
        raise line.error("threshold=, min_absolute_change= or min_relative_change=")
    return ThresholdRule(
        line.text,
        metric,
        threshold=cast(float | None, values.get("threshold")),
        min_absolute_change=cast(float | None, values.get("min_absolute_change")),
        min_relative_change=cast(float | None, values.get("min_relative_change")),
        greater_is_better=cast(bool | None, values.get("greater_is_better")),
    )


def _rule(line: _Line) -> Rule:
    first = line.peek
    lead = first.text.lower() if first.kind == "word" else ""
    following = line.tokens[line.i + 1]
    keyword = following.kind == "word"
    if lead == "signature" and keyword:
        line.take()
        line.word("compatible")
        line.word("with")
        line.word("baseline")
        line.end()
        return SignatureRule(line.text)
    if lead == "artifact" and keyword:
        line.take()
        line.word("format")
        line.word("in")
        token = line.peek
        if token.kind != "bracket":
            raise line.error("a list such as [skops, onnx, xgboost-json]")
        line.take()
        formats = tuple(f.strip().lower() for f in token.text[1:-1].split(",") if f.strip())
        if not formats:
            raise line.error("at least one format in the list", token)
        line.end()
        return FormatRule(line.text, formats)
    if lead == "evaluated" and keyword:
        line.take()
        line.word("on")
        line.accept("a", "the")
        line.word("dataset")
        line.word("registered")
        line.word("within")
        amount = line.number("a number of days")
        unit = line.word(*_UNITS)
        line.end()
        if amount <= 0:
            raise PolicySyntaxError("the age must be positive", line=line.lineno, column=unit.column, token=unit.text)
        return DatasetAgeRule(line.text, timedelta(days=amount * _UNITS[unit.text.lower()]))
    return _comparison(line)


def parse_policy(text: str) -> list[Rule]:
    """The rules of ``text``; raises :class:`PolicySyntaxError` at the first error."""
    rules: list[Rule] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        code = raw.split("#", 1)[0]
        offset = 0
        for part in code.split(";"):
            if part.strip():  # padded so that columns count from the start of the line
                rules.append(_rule(_Line(" " * offset + part, number)))
            offset += len(part) + 1
    if not rules:
        raise PolicySyntaxError("a policy needs at least one rule", line=1, column=1, token="")
    if len(rules) > MAX_RULES:
        raise PolicySyntaxError(f"at most {MAX_RULES} rules", line=1, column=1, token="")
    return rules


def policy_digest(text: str) -> str:
    """sha256 of the normalised rules (comments, blank lines and spacing do not count)."""
    rules = [r.text for r in parse_policy(text)]
    return hashlib.sha256("\n".join(" ".join(r.split()) for r in rules).encode()).hexdigest()


__all__ = ["parse_policy", "policy_digest"]
