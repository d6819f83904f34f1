"""Tokens of the run search language.

The lexer never raises: a character it cannot read becomes an ``ERROR`` token carrying
the reason, and the parser reports it when (and only if) it gets there, so the first
mistake in reading order is the one reported.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Characters allowed in an unquoted key after ``<type>.``: enough for MLflow's usual
# names (``mlflow.runName``, ``train/loss``, ``val-acc``, ``a:b``). Anything else
# (spaces, quotes, operators) needs backticks or double quotes.
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/:")
_WORD_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_DIGITS = frozenset("0123456789")
_OPERATORS = ("!=", "<>", ">=", "<=", "==", "=", ">", "<")


class Kind(enum.Enum):
    IDENT = "identifier"  # <type>.<name>
    WORD = "word"  # keywords (AND, OR, IN, ...) and anything else bare
    STRING = "string"
    NUMBER = "number"
    OP = "operator"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    ERROR = "error"
    EOF = "end of input"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str  # the source text of the token
    offset: int  # 0-based offset of its first character
    value: str = ""  # STRING: the unquoted text; IDENT: the unquoted name; ERROR: the reason
    type_word: str = ""  # IDENT: the part before the dot
    name_offset: int = 0  # IDENT: where the name starts

    def keyword(self) -> str | None:
        """The upper-cased word if this is a bare word, else None."""
        return self.text.upper() if self.kind is Kind.WORD else None


def tokenize(text: str) -> list[Token]:
    """Every token of ``text``, ending with ``EOF`` (or an ``ERROR`` where reading stopped)."""
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            tokens.append(Token(Kind.EOF, "", n))
            return tokens
        token = _next(text, i)
        tokens.append(token)
        if token.kind is Kind.ERROR:
            return tokens
        i = token.offset + len(token.text)


def _next(text: str, i: int) -> Token:
    ch = text[i]
    if ch == "(":
        return Token(Kind.LPAREN, ch, i)
    if ch == ")":
        return Token(Kind.RPAREN, ch, i)
    if ch == ",":
        return Token(Kind.COMMA, ch, i)
    if ch in "'\"":
        return _string(text, i)
    if ch in _DIGITS or (ch in "+-." and _starts_number(text, i)):
        return _number(text, i)
    if ch in _WORD_START:
        return _word_or_identifier(text, i)
    for op in _OPERATORS:
        if text.startswith(op, i):
            return Token(Kind.OP, op, i)
    if ch == "`":
        return Token(Kind.ERROR, ch, i, value="a backtick-quoted name needs a type before it, as in tags.`name`")
    return Token(Kind.ERROR, ch, i, value=f"unexpected character {ch!r}")


def _starts_number(text: str, i: int) -> bool:
    j = i + 1 if text[i] in "+-" else i
    if j < len(text) and text[j] in _DIGITS:
        return True
    return j + 1 < len(text) and text[j] == "." and text[j + 1] in _DIGITS


def _number(text: str, i: int) -> Token:
    j = i
    n = len(text)
    if text[j] in "+-":
        j += 1
    while j < n and text[j] in _DIGITS:
        j += 1
    if j < n and text[j] == ".":
        j += 1
        while j < n and text[j] in _DIGITS:
            j += 1
    if j < n and text[j] in "eE":
        k = j + 1
        if k < n and text[k] in "+-":
            k += 1
        if k < n and text[k] in _DIGITS:
            while k < n and text[k] in _DIGITS:
                k += 1
            j = k
    return Token(Kind.NUMBER, text[i:j], i, value=text[i:j])


def _quoted(text: str, i: int) -> tuple[str, int] | None:
    """Read a quoted run starting at ``text[i]`` (the quote); a doubled quote is one quote.

    Returns the unquoted value and the offset just past the closing quote, or None when
    the quote is never closed.
    """
    quote = text[i]
    out: list[str] = []
    j = i + 1
    n = len(text)
    while j < n:
        ch = text[j]
        if ch == quote:
            if j + 1 < n and text[j + 1] == quote:
                out.append(quote)
                j += 2
                continue
            return "".join(out), j + 1
        out.append(ch)
        j += 1
    return None


def _string(text: str, i: int) -> Token:
    read = _quoted(text, i)
    if read is None:
        return Token(Kind.ERROR, text[i:], i, value=f"unterminated string: no closing {text[i]} for this one")
    value, end = read
    return Token(Kind.STRING, text[i:end], i, value=value)


def _word_or_identifier(text: str, i: int) -> Token:
    j = i
    n = len(text)
    while j < n and text[j] in _WORD_CHARS:
        j += 1
    word = text[i:j]
    if j >= n or text[j] != ".":
        return Token(Kind.WORD, word, i)
    start = j + 1  # the name starts after the dot
    if start < n and text[start] in '`"':
        read = _quoted(text, start)
        if read is None:
            return Token(
                Kind.ERROR,
                text[start:],
                start,
                value=f"unterminated quoted name: no closing {text[start]} for this one",
            )
        name, end = read
        if not name:
            return Token(Kind.ERROR, text[i:end], start, value=f"empty name after '{word}.'")
        return Token(Kind.IDENT, text[i:end], i, value=name, type_word=word, name_offset=start)
    end = start
    while end < n and text[end] in _NAME_CHARS:
        end += 1
    if end == start:
        got = text[start] if start < n else ""
        return Token(
            Kind.ERROR,
            got,
            start,
            value=f"expected a name after '{word}.', got {_name_of(got)}"
            + ("; quote names with spaces or symbols in backticks" if got else ""),
        )
    return Token(Kind.IDENT, text[i:end], i, value=text[start:end], type_word=word, name_offset=start)


def _name_of(ch: str) -> str:
    if not ch:
        return "end of input"
    return "whitespace" if ch.isspace() else repr(ch)
