"""SOQL: a tokenizer and a recursive-descent parser producing a small syntax tree.

Grammar (the subset calsync and its tests use; https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.
meta/soql_sosl/sforce_api_calls_soql_select.htm)::

    query      := SELECT select_list FROM name [WHERE condition] [ORDER BY order (, order)*]
                  [LIMIT integer] [OFFSET integer] [FOR (UPDATE | VIEW | REFERENCE)] EOF
    select     := COUNT ( [path] ) [alias] | FIELDS ( ALL | STANDARD | CUSTOM ) | path
    condition  := unary ((AND unary)* | (OR unary)*)        -- AND and OR never mix without parentheses
    unary      := NOT unary | ( condition ) | comparison
    comparison := path (= | != | <> | < | <= | > | >=) value | path [NOT] IN ( value (, value)* )
                | path LIKE string
    value      := string | number | TRUE | FALSE | NULL | date | datetime | date_keyword[:n]
    order      := path [ASC | DESC] [NULLS (FIRST | LAST)]

Names are case-insensitive. Errors are ``QueryError`` (``MALFORMED_QUERY``) with messages shaped like the
real parser's: the line, a caret, ``ERROR at Row:R:Column:C`` and the reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce.errors import QueryError
from sandbox.salesforce.schema import parse_datetime

# Date keywords (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/
# sforce_api_calls_soql_select_dateformats.htm).
DATE_KEYWORDS = frozenset(
    {
        "YESTERDAY",
        "TODAY",
        "TOMORROW",
        "LAST_WEEK",
        "THIS_WEEK",
        "NEXT_WEEK",
        "LAST_MONTH",
        "THIS_MONTH",
        "NEXT_MONTH",
        "LAST_90_DAYS",
        "NEXT_90_DAYS",
        "THIS_YEAR",
        "LAST_YEAR",
        "NEXT_YEAR",
    }
)
DATE_KEYWORDS_N = frozenset(
    {
        "LAST_N_DAYS",
        "NEXT_N_DAYS",
        "N_DAYS_AGO",
        "LAST_N_WEEKS",
        "NEXT_N_WEEKS",
        "LAST_N_MONTHS",
        "NEXT_N_MONTHS",
    }
)
RESERVED = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "NULL",
        "TRUE",
        "FALSE",
        "ORDER",
        "BY",
        "LIMIT",
        "OFFSET",
        "GROUP",
        "HAVING",
        "WITH",
        "USING",
        "FOR",
        "INCLUDES",
        "EXCLUDES",
        "TYPEOF",
    }
)
_UNSUPPORTED_CLAUSES = {"GROUP", "HAVING", "WITH", "USING", "TYPEOF", "INCLUDES", "EXCLUDES"}
_STRING_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


@dataclass(frozen=True)
class Token:
    kind: str  # IDENT STRING NUMBER DATE DATETIME DATEKW OP LPAREN RPAREN COMMA EOF
    text: str  # the source text of the token
    pos: int
    value: Any = None  # decoded value: str for STRING (LIKE escapes kept), int/float, date, datetime, (kw, n)

    @property
    def upper(self) -> str:
        return self.text.upper()

    def describe(self) -> str:
        return "<EOF>" if self.kind == "EOF" else f"'{self.text}'"


# -- syntax tree ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Count:
    path: Path | None  # None for COUNT()
    alias: str | None
    pos: int


@dataclass(frozen=True)
class Fields:
    kind: str  # ALL, STANDARD or CUSTOM
    pos: int


@dataclass(frozen=True)
class Literal:
    kind: str  # string number boolean null date datetime datekw
    value: Any
    pos: int
    text: str


@dataclass(frozen=True)
class Compare:
    path: Path
    op: str  # = != < <= > >=
    value: Literal


@dataclass(frozen=True)
class InList:
    path: Path
    negated: bool
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class Like:
    path: Path
    pattern: Literal


@dataclass(frozen=True)
class Not:
    operand: Condition


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND or OR
    operands: tuple[Condition, ...]


Condition = Compare | InList | Like | Not | BoolOp


@dataclass(frozen=True)
class OrderItem:
    path: Path
    descending: bool = False
    nulls_last: bool | None = None  # None: the default (nulls first)


@dataclass
class Query:
    select: list[Path | Count | Fields]
    object_name: str
    object_pos: int
    where: Condition | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    text: str = ""


# -- tokenizer --------------------------------------------------------------------------------------------
def _is_ident_start(c: str) -> bool:
    return c.isascii() and (c.isalpha() or c == "_")


def _is_ident_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c == "_")


class Tokenizer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def error(self, pos: int, detail: str) -> QueryError:
        return QueryError("MALFORMED_QUERY", self.text, pos, detail)

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        text = self.text
        n = len(text)
        while True:
            while self.i < n and text[self.i].isspace():
                self.i += 1
            if self.i >= n:
                out.append(Token("EOF", "", n))
                return out
            c = text[self.i]
            start = self.i
            if c == "'":
                out.append(self._string())
            elif c.isdigit() or (c in "+-" and self.i + 1 < n and text[self.i + 1].isdigit()):
                out.append(self._number_or_date())
            elif _is_ident_start(c):
                out.append(self._ident())
            elif c in "=<>!":
                two = text[start : start + 2]
                if two in {"!=", "<>", "<=", ">="}:
                    self.i += 2
                    out.append(Token("OP", two, start, "!=" if two == "<>" else two))
                elif c == "!":
                    raise self.error(start, f"line 1:{start} no viable alternative at character '{c}'")
                else:
                    self.i += 1
                    out.append(Token("OP", c, start, c))
            elif c in "(),":
                self.i += 1
                out.append(Token({"(": "LPAREN", ")": "RPAREN", ",": "COMMA"}[c], c, start))
            else:
                raise self.error(start, f"line 1:{start} no viable alternative at character '{c}'")

    def _string(self) -> Token:
        text = self.text
        start = self.i
        self.i += 1
        chars: list[str] = []
        while True:
            if self.i >= len(text):
                raise self.error(start, f"Unterminated string literal {text[start:]}")
            c = text[self.i]
            if c == "'":
                self.i += 1
                break
            if c == "\\":
                if self.i + 1 >= len(text):
                    raise self.error(start, f"Unterminated string literal {text[start:]}")
                e = text[self.i + 1]
                if e in _STRING_ESCAPES:
                    chars.append(_STRING_ESCAPES[e])
                    self.i += 2
                elif e in "%_":
                    # Kept escaped: only LIKE gives them meaning (a literal % or _).
                    chars.append("\\" + e)
                    self.i += 2
                elif (
                    e == "u"
                    and self.i + 6 <= len(text)
                    and all(ch in "0123456789abcdefABCDEF" for ch in text[self.i + 2 : self.i + 6])
                ):
                    chars.append(chr(int(text[self.i + 2 : self.i + 6], 16)))
                    self.i += 6
                else:
                    literal = text[start : min(len(text), self.i + 2)]
                    raise self.error(
                        start,
                        f"Invalid string literal '{literal[1:]}'. Illegal character sequence '\\{e}' in string "
                        "literal.",
                    )
                continue
            chars.append(c)
            self.i += 1
        return Token("STRING", self.text[start : self.i], start, "".join(chars))

    def _digits(self) -> str:
        start = self.i
        while self.i < len(self.text) and self.text[self.i].isdigit():
            self.i += 1
        return self.text[start : self.i]

    def _number_or_date(self) -> Token:
        text = self.text
        start = self.i
        if text[self.i] in "+-":
            self.i += 1
        whole = self._digits()
        # A date: 4 digits, '-', 2 digits, '-', 2 digits; a datetime continues with T.
        if len(whole) == 4 and text[start] not in "+-" and text.startswith("-", self.i):
            return self._date(start)
        value: int | float
        if self.i < len(text) and text[self.i] == "." and self.i + 1 < len(text) and text[self.i + 1].isdigit():
            self.i += 1
            self._digits()
            value = float(text[start : self.i])
        else:
            value = int(text[start : self.i])
        if self.i < len(text) and _is_ident_char(text[self.i]):
            raise self.error(start, f"unexpected token: '{self._word_from(start)}'")
        return Token("NUMBER", text[start : self.i], start, value)

    def _word_from(self, start: int) -> str:
        end = start
        while end < len(self.text) and (_is_ident_char(self.text[end]) or self.text[end] in "-:.+"):
            end += 1
        return self.text[start:end]

    def _date(self, start: int) -> Token:
        text = self.text
        end = start
        allowed = set("0123456789-:.+TZ")
        while end < len(text) and text[end] in allowed:
            end += 1
        lexeme = text[start:end]
        self.i = end
        if "T" in lexeme:
            # SOQL datetimes need a zone: Z or +hh:mm / -hh:mm (seconds are required too).
            if not (lexeme.endswith("Z") or lexeme[-6:-5] in {"+", "-"}) or lexeme.count(":") < 2:
                raise self.error(start, f"line 1:{start} mismatched character '{lexeme}' expecting a datetime")
            value = parse_datetime(lexeme)
            if value is None:
                raise self.error(start, f"Invalid datetime: {lexeme}")
            return Token("DATETIME", lexeme, start, value)
        try:
            if len(lexeme) != 10:
                raise ValueError(lexeme)
            date_value = dt.date.fromisoformat(lexeme)
        except ValueError:
            raise self.error(start, f"Invalid date: {lexeme}") from None
        return Token("DATE", lexeme, start, date_value)

    def _ident(self) -> Token:
        text = self.text
        start = self.i
        while True:
            while self.i < len(text) and _is_ident_char(text[self.i]):
                self.i += 1
            # Dotted paths (Owner.Email) are one token; a dot must be followed by a name.
            if self.i + 1 < len(text) and text[self.i] == "." and _is_ident_start(text[self.i + 1]):
                self.i += 1
                continue
            break
        word = text[start : self.i]
        upper = word.upper()
        if upper in DATE_KEYWORDS_N:
            if self.i < len(text) and text[self.i] == ":":
                self.i += 1
                digits = self._digits()
                if not digits:
                    raise self.error(self.i, f"unexpected token: '{text[self.i : self.i + 1] or '<EOF>'}'")
                return Token("DATEKW", text[start : self.i], start, (upper, int(digits)))
            raise self.error(self.i, f"unexpected token: '{word}'")
        if upper in DATE_KEYWORDS:
            return Token("DATEKW", word, start, (upper, None))
        if self.i < len(text) and text[self.i] == ":":
            raise self.error(self.i, "unexpected token: ':'")
        return Token("IDENT", word, start, word)


def tokenize(text: str) -> list[Token]:
    return Tokenizer(text).tokens()


# -- parser -----------------------------------------------------------------------------------------------
class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.k = 0

    # helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.k]

    def advance(self) -> Token:
        token = self.tokens[self.k]
        if token.kind != "EOF":
            self.k += 1
        return token

    def error(self, token: Token, detail: str | None = None) -> QueryError:
        return QueryError("MALFORMED_QUERY", self.text, token.pos, detail or f"unexpected token: {token.describe()}")

    def at_keyword(self, *words: str) -> bool:
        return self.tok.kind == "IDENT" and self.tok.upper in words

    def expect_keyword(self, word: str) -> Token:
        if not self.at_keyword(word):
            raise self.error(self.tok)
        return self.advance()

    def expect(self, kind: str) -> Token:
        if self.tok.kind != kind:
            raise self.error(self.tok)
        return self.advance()

    def name(self) -> Token:
        token = self.tok
        if token.kind != "IDENT" or token.upper in RESERVED:
            if token.kind == "IDENT" and token.upper in _UNSUPPORTED_CLAUSES:
                raise self.unsupported(token)
            raise self.error(token)
        return self.advance()

    def unsupported(self, token: Token) -> QueryError:
        return self.error(token, f"{token.upper} is valid SOQL but not supported by the calsync sandbox")

    # grammar
    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        select = [self.select_item()]
        while self.tok.kind == "COMMA":
            self.advance()
            select.append(self.select_item())
        self.expect_keyword("FROM")
        obj = self.name()
        if "." in obj.text:
            raise self.error(obj)
        query = Query(select, obj.text, obj.pos, text=self.text)
        if self.tok.kind == "IDENT" and self.tok.upper not in RESERVED:
            raise self.error(self.tok)  # an object alias: valid SOQL, not supported here
        if self.at_keyword("WHERE"):
            self.advance()
            query.where = self.condition()
        if self.at_keyword("ORDER"):
            self.advance()
            self.expect_keyword("BY")
            query.order_by.append(self.order_item())
            while self.tok.kind == "COMMA":
                self.advance()
                query.order_by.append(self.order_item())
        if self.at_keyword("LIMIT"):
            self.advance()
            query.limit = self.integer()
        if self.at_keyword("OFFSET"):
            self.advance()
            query.offset = self.integer()
        if self.at_keyword("FOR"):
            self.advance()
            if not self.at_keyword("UPDATE", "VIEW", "REFERENCE"):
                raise self.error(self.tok)
            self.advance()
        if self.tok.kind != "EOF":
            if self.tok.kind == "IDENT" and self.tok.upper in _UNSUPPORTED_CLAUSES:
                raise self.unsupported(self.tok)
            raise self.error(self.tok)
        return query

    def integer(self) -> int:
        token = self.tok
        if token.kind != "NUMBER" or not isinstance(token.value, int) or token.value < 0:
            raise self.error(token)
        self.advance()
        return token.value

    def path(self) -> Path:
        token = self.name()
        return Path(tuple(token.text.split(".")), token.pos)

    def select_item(self) -> Path | Count | Fields:
        token = self.tok
        if token.kind == "LPAREN":
            raise self.error(
                token, "Child relationship subqueries are valid SOQL but not supported by the calsync sandbox"
            )
        if token.kind == "IDENT" and token.upper == "COUNT" and self.tokens[self.k + 1].kind == "LPAREN":
            self.advance()
            self.advance()
            path = None if self.tok.kind == "RPAREN" else self.path()
            self.expect("RPAREN")
            alias = None
            if self.tok.kind == "IDENT" and self.tok.upper not in RESERVED:
                alias = self.advance().text
            return Count(path, alias, token.pos)
        if token.kind == "IDENT" and token.upper == "FIELDS" and self.tokens[self.k + 1].kind == "LPAREN":
            self.advance()
            self.advance()
            kind = self.tok
            if not self.at_keyword("ALL", "STANDARD", "CUSTOM"):
                raise self.error(kind)
            self.advance()
            self.expect("RPAREN")
            return Fields(kind.upper, token.pos)
        if token.kind == "IDENT" and token.upper in RESERVED:
            raise self.error(token)
        return self.path()

    def condition(self) -> Condition:
        first = self.unary()
        if not self.at_keyword("AND", "OR"):
            return first
        op = self.tok.upper
        operands = [first]
        while self.at_keyword("AND", "OR"):
            if self.tok.upper != op:
                # SOQL needs parentheses to mix AND and OR.
                raise self.error(self.tok)
            self.advance()
            operands.append(self.unary())
        return BoolOp(op, tuple(operands))

    def unary(self) -> Condition:
        if self.at_keyword("NOT"):
            self.advance()
            return Not(self.unary())
        if self.tok.kind == "LPAREN":
            self.advance()
            inner = self.condition()
            self.expect("RPAREN")
            return inner
        return self.comparison()

    def comparison(self) -> Condition:
        path = self.path()
        token = self.tok
        if token.kind == "OP":
            self.advance()
            return Compare(path, token.value, self.value())
        if self.at_keyword("LIKE"):
            self.advance()
            pattern = self.value()
            if pattern.kind != "string":
                raise QueryError(
                    "INVALID_FIELD",
                    self.text,
                    pattern.pos,
                    f"value of filter criterion for field '{path.text}' must be of type string and should be "
                    "enclosed in quotes",
                )
            return Like(path, pattern)
        negated = False
        if self.at_keyword("NOT"):
            self.advance()
            negated = True
            if not self.at_keyword("IN"):
                raise self.error(self.tok)
        if self.at_keyword("IN"):
            self.advance()
            self.expect("LPAREN")
            if self.at_keyword("SELECT"):
                raise self.error(
                    self.tok, "Semi-join subqueries are valid SOQL but not supported by the calsync sandbox"
                )
            values = [self.value()]
            while self.tok.kind == "COMMA":
                self.advance()
                values.append(self.value())
            self.expect("RPAREN")
            return InList(path, negated, tuple(values))
        if token.kind == "IDENT" and token.upper in _UNSUPPORTED_CLAUSES:
            raise self.unsupported(token)
        raise self.error(token)

    def value(self) -> Literal:
        token = self.tok
        kinds = {"STRING": "string", "NUMBER": "number", "DATE": "date", "DATETIME": "datetime", "DATEKW": "datekw"}
        if token.kind in kinds:
            self.advance()
            return Literal(kinds[token.kind], token.value, token.pos, token.text)
        if token.kind == "IDENT" and token.upper in {"TRUE", "FALSE"}:
            self.advance()
            return Literal("boolean", token.upper == "TRUE", token.pos, token.text)
        if token.kind == "IDENT" and token.upper == "NULL":
            self.advance()
            return Literal("null", None, token.pos, token.text)
        raise self.error(token)

    def order_item(self) -> OrderItem:
        path = self.path()
        descending = False
        if self.at_keyword("ASC", "DESC"):
            descending = self.advance().upper == "DESC"
        nulls_last = None
        if self.at_keyword("NULLS"):
            self.advance()
            if not self.at_keyword("FIRST", "LAST"):
                raise self.error(self.tok)
            nulls_last = self.advance().upper == "LAST"
        return OrderItem(path, descending, nulls_last)


def parse(text: str) -> Query:
    """Parse a SOQL query; raises ``QueryError`` with a real-looking message when it is malformed."""
    return Parser(text).parse()


def unescape_plain(value: str) -> str:
    """A string literal's value outside LIKE: the LIKE escapes ``\\%`` and ``\\_`` stand for themselves."""
    return value.replace("\\%", "%").replace("\\_", "_")
