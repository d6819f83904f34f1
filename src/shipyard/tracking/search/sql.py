"""SQL constructs that must behave the same on SQLite and PostgreSQL.

- :class:`CaseSensitiveLike` is a case-sensitive ``LIKE`` on both. PostgreSQL's is; SQLite's folds
  ASCII case, so there it is ``x LIKE p`` (a cheap, index-friendly superset) confirmed
  by ``shipyard_like(x, p)``, a Python function doing the exact match.
- :class:`CaseInsensitiveLike` is a Unicode case-insensitive ``LIKE``: PostgreSQL's ``ILIKE``;
  on SQLite ``shipyard_ilike(x, p)`` (SQLite's own folds only ASCII).
- :class:`BinaryText` makes strings sort and compare by code point on both (PostgreSQL's
  ``COLLATE "C"``; SQLite's default ``BINARY``), whatever collation the database has.

Both LIKE flavours use backslash as the escape character: ``\\%`` and ``\\_`` match a
literal ``%`` and ``_``, ``\\\\`` a backslash. The SQLite functions are installed on a
connection by :func:`install_sqlite_functions`.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from sqlalchemy import Boolean, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

ESCAPE = "\\"


class CaseSensitiveLike(FunctionElement[bool]):
    type = Boolean()
    inherit_cache = True
    name = "shipyard_like"


class CaseInsensitiveLike(FunctionElement[bool]):
    type = Boolean()
    inherit_cache = True
    name = "shipyard_ilike"


class BinaryText(FunctionElement[str]):
    type = String()
    inherit_cache = True
    name = "binary_text"


def _args(element: FunctionElement[Any]) -> list[Any]:
    return list(element.clauses)


@compiles(CaseSensitiveLike)
def _like_default(element: CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    left, right = _args(element)
    return compiler.process(left.like(right, escape=ESCAPE), **kw)


@compiles(CaseSensitiveLike, "sqlite")
def _like_sqlite(element: CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    left, right = _args(element)
    prefilter = compiler.process(left.like(right, escape=ESCAPE), **kw)
    exact = f"shipyard_like({compiler.process(left, **kw)}, {compiler.process(right, **kw)})"
    return f"({prefilter} AND {exact})"


@compiles(CaseInsensitiveLike)
def _ilike_default(element: CaseInsensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    left, right = _args(element)
    return compiler.process(left.ilike(right, escape=ESCAPE), **kw)


@compiles(CaseInsensitiveLike, "sqlite")
def _ilike_sqlite(element: CaseInsensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    left, right = _args(element)
    return f"shipyard_ilike({compiler.process(left, **kw)}, {compiler.process(right, **kw)})"


@compiles(BinaryText)
def _binary_default(element: BinaryText, compiler: SQLCompiler, **kw: Any) -> str:
    (inner,) = _args(element)
    return compiler.process(inner, **kw)


@compiles(BinaryText, "postgresql")
def _binary_postgresql(element: BinaryText, compiler: SQLCompiler, **kw: Any) -> str:
    (inner,) = _args(element)
    return f'({compiler.process(inner, **kw)} COLLATE "C")'


@functools.lru_cache(maxsize=256)
def pattern_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """The regular expression a LIKE pattern stands for (``%`` any run, ``_`` one character)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == ESCAPE and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(out), flags)


def _sqlite_like(value: str | None, pattern: str | None) -> int | None:
    if value is None or pattern is None:
        return None
    return 1 if pattern_regex(pattern, False).fullmatch(value) else 0


def _sqlite_ilike(value: str | None, pattern: str | None) -> int | None:
    if value is None or pattern is None:
        return None
    return 1 if pattern_regex(pattern, True).fullmatch(value) else 0


def install_sqlite_functions(dbapi_connection: Any) -> None:
    """Register ``shipyard_like``/``shipyard_ilike`` on a ``sqlite3`` connection (idempotent)."""
    dbapi_connection.create_function("shipyard_like", 2, _sqlite_like, deterministic=True)
    dbapi_connection.create_function("shipyard_ilike", 2, _sqlite_ilike, deterministic=True)
