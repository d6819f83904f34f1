"""Parse run filters and order_by entries (a strict superset of MLflow's grammar).

Grammar (keywords are case-insensitive)::

    filter      := [ or_expr ] EOF
    or_expr     := and_expr { OR and_expr }
    and_expr    := primary { AND primary }                  -- AND binds tighter than OR
    primary     := "(" or_expr ")" | comparison
    comparison  := identifier comparator
    identifier  := type "." name
    type        := metric[s] | param[s] | parameter[s] | tag[s]
                 | attribute[s] | attr | run | dataset[s]
    name        := bare | "`" text "`" | '"' text '"'      -- bare: letters digits _ . - / :
    comparator  := ( "=" | "==" | "!=" | "<>" | ">" | ">=" | "<" | "<=" ) value
                 | [ NOT ] ( LIKE | ILIKE ) string
                 | [ NOT ] IN "(" value { "," value } ")"
                 | IS [ NOT ] NULL
    value       := string | number
    string      := "'" text "'" | '"' text '"'              -- a doubled quote is one quote

    order_by entry := identifier [ ASC | DESC ]

What each identifier accepts is in :mod:`shipyard.tracking.search.fields`. Values:

- metrics take numbers (``1``, ``-0.5``, ``1e-3``, ``.5``); a quoted number is refused.
- params, tags, string attributes and dataset fields take quoted strings. A bare number
  compares as the text written: ``params.lr = 0.01`` means ``params.lr = '0.01'`` and
  does not match a run that logged ``'0.010'``.
- ``attributes.experiment_id`` takes an integer, bare or quoted (MLflow sends ``'1'``).
- ``attributes.start_time``/``end_time`` take an ISO-8601 string (no offset means UTC)
  or a number of epoch milliseconds.
- LIKE patterns: ``%`` any run of characters, ``_`` one character, backslash escapes
  (``\\%``, ``\\_``, ``\\\\``). LIKE is case-sensitive and ILIKE case-insensitive
  (Unicode) on both engines.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shipyard.errors import InvalidArgument
from shipyard.tracking.search.errors import describe, syntax_error
from shipyard.tracking.search.fields import (
    ATTRIBUTES,
    DATASET_FIELDS,
    TYPE_NAMES,
    Field,
    ValueKind,
    field_for,
)
from shipyard.tracking.search.lexer import Kind, Token, tokenize
from shipyard.tracking.search.nodes import (
    EQ,
    GE,
    GT,
    ILIKE,
    IN,
    IS_NOT_NULL,
    IS_NULL,
    LE,
    LIKE,
    LT,
    NE,
    NOT_ILIKE,
    NOT_IN,
    NOT_LIKE,
    And,
    Comparison,
    EntityType,
    Expr,
    Or,
    OrderKey,
    Scalar,
    Value,
)

MAX_DEPTH = 32  # nested parentheses
MAX_COMPARISONS = 100
MAX_VALUES = 5000  # literals in one filter, IN lists included (each is a bind parameter)
MAX_ORDER_KEYS = 16
INT64 = (-(2**63), 2**63 - 1)

_SYMBOLS = {"=": EQ, "==": EQ, "!=": NE, "<>": NE, ">": GT, ">=": GE, "<": LT, "<=": LE}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TYPE_HINT = "an identifier (metrics.<name>, params.<name>, tags.<name>, attributes.<name>, datasets.<name>)"


def parse_filter(text: str | None) -> Expr | None:
    """The parsed filter, or None for an empty one. Raises ``InvalidArgument`` (field ``filter``)."""
    if text is None or not text.strip():
        return None
    return _Parser(text, "filter").filter()


def parse_order_by(entries: list[str] | None) -> list[OrderKey]:
    """The parsed order_by entries. Raises ``InvalidArgument`` (field ``order_by``, with ``index``)."""
    if not entries:
        return []
    if len(entries) > MAX_ORDER_KEYS:
        raise InvalidArgument(
            f"order_by has {len(entries)} entries; at most {MAX_ORDER_KEYS} are allowed",
            {"field": "order_by", "max": MAX_ORDER_KEYS},
        )
    keys: list[OrderKey] = []
    seen: dict[tuple[EntityType, str], int] = {}
    for index, entry in enumerate(entries):
        key = _Parser(entry, "order_by", index).order_key()
        previous = seen.setdefault((key.type, key.key), index)
        if previous != index:
            raise syntax_error(
                "order_by",
                entry,
                key.position - 1,
                f"{key.type.value}.{key.key} is already ordered by in order_by[{previous}]",
                entry.strip(),
                index=index,
            )
        keys.append(key)
    return keys


class _Parser:
    def __init__(self, text: str, field: str, index: int | None = None) -> None:
        self.text = text
        self.field = field
        self.index = index
        self.tokens = tokenize(text)
        self.pos = 0
        for offset, ch in enumerate(text):
            # Neither engine stores these (PostgreSQL refuses NUL, UTF-8 refuses lone surrogates).
            if ch == "\x00" or "\ud800" <= ch <= "\udfff":
                raise self.at_error(offset, f"character U+{ord(ch):04X} is not allowed", repr(ch)[1:-1])
        self.depth = 0
        self.comparisons = 0
        self.values = 0

    # -- helpers -------------------------------------------------------------------------

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind is Kind.ERROR:
            raise self.error(token, token.value)
        if token.kind is not Kind.EOF:
            self.pos += 1
        return token

    def error(self, token: Token, reason: str, *, text: str | None = None) -> InvalidArgument:
        if token.kind is Kind.ERROR:  # the lexer's reason wins: it is what went wrong here
            reason = token.value
        return syntax_error(
            self.field, self.text, token.offset, reason, token.text if text is None else text, index=self.index
        )

    def at_error(self, offset: int, reason: str, token: str) -> InvalidArgument:
        return syntax_error(self.field, self.text, offset, reason, token, index=self.index)

    # -- filter --------------------------------------------------------------------------

    def filter(self) -> Expr:
        expr = self.or_expr()
        token = self.peek()
        if token.kind is Kind.EOF:
            return expr
        if token.kind is Kind.RPAREN:
            raise self.error(token, "unbalanced ')': there is no '(' for it to close")
        raise self.error(token, f"expected AND, OR or the end of the filter, got {describe(token.text)}")

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.peek().keyword() == "OR":
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(_flatten(items, Or))

    def and_expr(self) -> Expr:
        items = [self.primary()]
        while self.peek().keyword() == "AND":
            self.advance()
            items.append(self.primary())
        return items[0] if len(items) == 1 else And(_flatten(items, And))

    def primary(self) -> Expr:
        token = self.peek()
        if token.kind is Kind.LPAREN:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(token, f"parentheses are nested more than {MAX_DEPTH} deep")
            self.advance()
            expr = self.or_expr()
            close = self.peek()
            if close.kind is not Kind.RPAREN:
                raise self.error(
                    close,
                    f"expected ')' to close the '(' at column {token.offset + 1}, got {describe(close.text)}",
                )
            self.advance()
            self.depth -= 1
            return expr
        if token.kind is Kind.IDENT:
            return self.comparison()
        hint = ""
        if token.kind is Kind.WORD and token.text.lower() in ATTRIBUTES:
            hint = f" (did you mean attributes.{token.text}?)"
        raise self.error(token, f"expected {_TYPE_HINT} or '(', got {describe(token.text)}{hint}")

    def identifier(self) -> tuple[Token, EntityType, Field]:
        token = self.advance()
        type_ = TYPE_NAMES.get(token.type_word.lower())
        if type_ is None:
            raise self.at_error(
                token.offset,
                f"unknown identifier type {token.type_word!r}; expected metrics, params, tags, attributes or datasets",
                token.type_word,
            )
        field = field_for(type_, token.value)
        if field is None:
            if type_ is EntityType.ATTRIBUTE:
                reason = f"unknown attribute {token.value!r}; expected one of {', '.join(ATTRIBUTES)}"
            else:
                reason = f"unknown dataset field {token.value!r}; expected one of {', '.join(DATASET_FIELDS)}"
            raise self.at_error(token.name_offset, reason, token.value)
        return token, type_, field

    def comparison(self) -> Comparison:
        self.comparisons += 1
        ident, type_, field = self.identifier()
        if self.comparisons > MAX_COMPARISONS:
            raise self.error(ident, f"the filter has more than {MAX_COMPARISONS} comparisons")
        op_token = self.peek()
        op = self.comparator(ident)
        op_text = self.text[op_token.offset : self.peek().offset].rstrip()
        if op not in field.operators:
            raise self.error(
                op_token,
                f"{op} cannot compare {_describe_field(type_, ident)}; use one of {', '.join(field.operators)}",
                text=op_text,
            )
        key = field.name or ident.value
        lhs = f"{ident.text} {op_text}"
        value: Value
        if op in (IS_NULL, IS_NOT_NULL):
            value = None
        elif op in (IN, NOT_IN):
            value = self.value_list(field, lhs)
        else:
            value = self.value(field, lhs, like=op in (LIKE, ILIKE, NOT_LIKE, NOT_ILIKE))
        return Comparison(type_, key, op, value, ident.offset + 1)

    def comparator(self, ident: Token) -> str:
        token = self.peek()
        if token.kind is Kind.OP:
            self.advance()
            return _SYMBOLS[token.text]
        word = token.keyword()
        if word in ("LIKE", "ILIKE", "IN"):
            self.advance()
            return word
        if word == "NOT":
            self.advance()
            after = self.peek()
            if after.keyword() not in ("LIKE", "ILIKE", "IN"):
                raise self.error(after, f"expected IN, LIKE or ILIKE after NOT, got {describe(after.text)}")
            self.advance()
            return f"NOT {after.keyword()}"
        if word == "IS":
            self.advance()
            after = self.peek()
            negated = after.keyword() == "NOT"
            if negated:
                self.advance()
                after = self.peek()
            if after.keyword() != "NULL":
                raise self.error(
                    after, f"expected {'NULL' if negated else 'NULL or NOT NULL'} after IS, got {describe(after.text)}"
                )
            self.advance()
            return IS_NOT_NULL if negated else IS_NULL
        raise self.error(token, f"expected a comparator after {ident.text!r}, got {describe(token.text)}")

    def value_list(self, field: Field, lhs: str) -> tuple[Scalar, ...]:
        opening = self.peek()
        if opening.kind is not Kind.LPAREN:
            raise self.error(opening, f"expected '(' after {lhs!r}, got {describe(opening.text)}")
        self.advance()
        if self.peek().kind is Kind.RPAREN:
            raise self.error(self.peek(), f"empty IN list after {lhs!r}: give at least one value")
        values: list[Scalar] = []
        while True:
            values.append(self.value(field, lhs, like=False))
            sep = self.peek()
            if sep.kind is Kind.RPAREN:
                self.advance()
                return tuple(values)
            if sep.kind is not Kind.COMMA:
                raise self.error(sep, f"expected ',' or ')' in the list after {lhs!r}, got {describe(sep.text)}")
            self.advance()

    def value(self, field: Field, lhs: str, *, like: bool) -> Scalar:
        token = self.peek()
        self.values += 1
        if self.values > MAX_VALUES:
            raise self.error(token, f"the filter has more than {MAX_VALUES} values")
        expected = f"expected {'a LIKE pattern in quotes' if like else field.kind.value} after {lhs!r}"
        got = f"{expected}, got {describe(token.text)}"
        if token.keyword() == "NULL":
            got += " (use IS NULL or IS NOT NULL)"
        kind = field.kind
        if kind is ValueKind.STRING:
            # A bare number compares as the text written: params.lr = 0.01 means params.lr = '0.01'.
            if token.kind is Kind.STRING or (token.kind is Kind.NUMBER and not like):
                self.advance()
                if like:
                    _check_pattern(self, token)
                return token.value
            raise self.error(token, got)
        if kind is ValueKind.FLOAT:
            if token.kind is Kind.NUMBER:
                self.advance()
                return float(token.value)
            raise self.error(token, got)
        if kind is ValueKind.INT:
            if token.kind in (Kind.NUMBER, Kind.STRING):
                number = _as_int(token.value)
                if number is None:
                    raise self.error(token, f"{expected}, got {describe(token.text)}, which is not an integer")
                if not INT64[0] <= number <= INT64[1]:
                    raise self.error(token, f"{token.text} is out of range for an id")
                self.advance()
                return number
            raise self.error(token, got)
        # TIME
        if token.kind is Kind.STRING:
            moment = _as_time(token.value)
            if moment is None:
                raise self.error(token, f"{token.text} is not an ISO-8601 time (e.g. '2024-05-01T12:00:00Z')")
            self.advance()
            return moment
        if token.kind is Kind.NUMBER:
            moment = _from_epoch_ms(token.value)
            if moment is None:
                raise self.error(token, f"{token.text} is not a time in epoch milliseconds")
            self.advance()
            return moment
        raise self.error(token, got)

    # -- order_by ------------------------------------------------------------------------

    def order_key(self) -> OrderKey:
        token = self.peek()
        if token.kind is Kind.EOF:
            raise self.error(token, "empty order_by entry; expected <type>.<key> [ASC|DESC]")
        if token.kind is not Kind.IDENT:
            raise self.error(
                token,
                f"expected metrics.<name>, params.<name>, tags.<name> or attributes.<name>, got {describe(token.text)}",
            )
        ident, type_, field = self.identifier()
        if type_ is EntityType.DATASET:
            raise self.at_error(ident.offset, "datasets cannot be used in order_by", ident.text)
        if not field.orderable:
            orderable = ", ".join(name for name, f in ATTRIBUTES.items() if f.orderable)
            raise self.at_error(
                ident.name_offset,
                f"attribute {ident.value!r} cannot be used in order_by; use one of {orderable}",
                ident.value,
            )
        descending = False
        direction = self.peek()
        if direction.keyword() in ("ASC", "DESC"):
            descending = direction.keyword() == "DESC"
            self.advance()
        elif direction.kind is not Kind.EOF:
            raise self.error(
                direction, f"expected ASC, DESC or nothing after {ident.text!r}, got {describe(direction.text)}"
            )
        end = self.peek()
        if end.kind is not Kind.EOF:
            raise self.error(end, f"expected the end of the order_by entry, got {describe(end.text)}")
        return OrderKey(type_, field.name or ident.value, descending, ident.offset + 1)


def _flatten(items: list[Expr], cls: type[And] | type[Or]) -> tuple[Expr, ...]:
    out: list[Expr] = []
    for item in items:
        if isinstance(item, cls):
            out.extend(item.items)
        else:
            out.append(item)
    return tuple(out)


def _describe_field(type_: EntityType, ident: Token) -> str:
    if type_ is EntityType.METRIC:
        return f"metric {ident.text!r}"
    if type_ in (EntityType.PARAM, EntityType.TAG):
        return f"{'param' if type_ is EntityType.PARAM else 'tag'} {ident.text!r}"
    if type_ is EntityType.DATASET:
        return f"dataset field {ident.text!r}"
    return f"attribute {ident.text!r}"


def _check_pattern(parser: _Parser, token: Token) -> None:
    """A LIKE pattern may not end in a lone escape character (PostgreSQL would refuse it)."""
    pattern = token.value
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if i + 1 == len(pattern):
                raise parser.at_error(
                    token.offset,
                    "the LIKE pattern ends with the escape character '\\'; write '\\\\' for a backslash",
                    token.text,
                )
            i += 2
        else:
            i += 1


def _as_int(text: str) -> int | None:
    stripped = text.strip()
    body = stripped[1:] if stripped[:1] in "+-" else stripped
    if not body.isdigit() or not body.isascii():
        return None
    return int(stripped)


def _as_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _from_epoch_ms(text: str) -> datetime | None:
    try:
        return _EPOCH + timedelta(milliseconds=int(text) if _as_int(text) is not None else float(text))
    except (OverflowError, ValueError):
        return None
