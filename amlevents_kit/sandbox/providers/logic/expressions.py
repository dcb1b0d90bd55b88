"""The Workflow Definition Language's expressions: a tokenizer, a recursive-descent parser, an evaluator.

A JSON string in a workflow definition is one of:

* ``"@equals(triggerBody()?['eventType'], 'x')"``: an expression; its value may be of any type;
* ``"Run @{triggerBody()?['subject']} ended"``: a template; each ``@{...}`` is evaluated and
  written into the string;
* anything else: a literal (``@@`` at the start escapes a literal ``@``).

Grammar (the subset Logic Apps and Data Factory share)::

    expression := primary postfix*
    primary    := STRING | NUMBER | 'true' | 'false' | 'null' | NAME '(' [expression (',' expression)*] ')'
    postfix    := '.' NAME | '?' '.' NAME | '[' expression ']' | '?' '[' expression ']'

Strings are single-quoted, a quote is doubled (``'it''s'``). ``?`` makes a lookup on a missing
property or a null give null instead of failing, as in Azure.

Comparisons follow Logic Apps: ``equals``, ``startsWith`` and ``endsWith`` ignore the case of
strings; ``contains`` does not.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any, Callable


class ExpressionError(ValueError):
    """An expression that cannot be parsed or evaluated; ``position`` is an offset in ``text``."""

    def __init__(self, message: str, text: str = "", position: int | None = None) -> None:
        self.message = message
        self.text = text
        self.position = position
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"{message}{where} in {text!r}" if text else message)


# -- syntax tree ----------------------------------------------------------------------------------
@dataclass
class Literal:
    value: Any


@dataclass
class Call:
    name: str
    args: list
    position: int


@dataclass
class Member:
    target: Any
    key: Any          # a node (for [expr]) or a Literal name (for .name)
    optional: bool
    position: int


@dataclass
class Template:
    """A string with ``@{...}`` holes: literal strings and expression nodes, in order."""

    parts: list


# -- tokenizer --------------------------------------------------------------------------------------
@dataclass
class Token:
    kind: str    # name, string, number, punct, end
    value: Any
    position: int


_PUNCT = "(),[].?"


def tokenize(text: str) -> list[Token]:
    """Split an expression (without its leading ``@``) into tokens."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "'":
            start, i, out = i, i + 1, []
            while True:
                if i >= n:
                    raise ExpressionError("unterminated string literal", text, start)
                if text[i] == "'":
                    if i + 1 < n and text[i + 1] == "'":
                        out.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                out.append(text[i])
                i += 1
            tokens.append(Token("string", "".join(out), start))
        elif c.isdigit() or (c == "-" and i + 1 < n and text[i + 1].isdigit()):
            start = i
            i += 1
            while i < n and text[i].isdigit():
                i += 1
            is_float = False
            if i + 1 < n and text[i] == "." and text[i + 1].isdigit():
                is_float = True
                i += 1
                while i < n and text[i].isdigit():
                    i += 1
            raw = text[start:i]
            try:
                number = float(raw) if is_float else int(raw)
            except ValueError:  # Python refuses ints of more than 4300 digits
                raise ExpressionError("the number is too long", text, start) from None
            tokens.append(Token("number", number, start))
        elif c.isalpha() or c == "_":
            start = i
            while i < n and (text[i].isalnum() or text[i] in "_$"):
                i += 1
            tokens.append(Token("name", text[start:i], start))
        elif c in _PUNCT:
            tokens.append(Token("punct", c, i))
            i += 1
        else:
            raise ExpressionError(f"unexpected character {c!r}", text, i)
    tokens.append(Token("end", None, n))
    return tokens


# -- parser -------------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, value: str) -> Token:
        tok = self.peek()
        if tok.kind != "punct" or tok.value != value:
            found = "the end of the expression" if tok.kind == "end" else repr(tok.value)
            raise ExpressionError(f"expected {value!r} but found {found}", self.text, tok.position)
        return self.take()

    def parse(self) -> Any:
        if self.peek().kind == "end":
            raise ExpressionError("the expression is empty", self.text, 0)
        node = self.expression()
        tok = self.peek()
        if tok.kind != "end":
            raise ExpressionError(f"unexpected {tok.value!r} after the end of the expression", self.text, tok.position)
        return node

    def expression(self) -> Any:
        node = self.primary()
        while True:
            tok = self.peek()
            if tok.kind != "punct":
                return node
            optional = False
            if tok.value == "?":
                nxt = self.peek(1)
                if not (nxt.kind == "punct" and nxt.value in ".["):
                    raise ExpressionError("'?' must be followed by '[' or '.'", self.text, tok.position)
                self.take()
                optional = True
                tok = self.peek()
            if tok.value == ".":
                self.take()
                name = self.take()
                if name.kind != "name":
                    raise ExpressionError("expected a property name after '.'", self.text, name.position)
                node = Member(node, Literal(name.value), optional, tok.position)
            elif tok.value == "[":
                self.take()
                key = self.expression()
                self.expect("]")
                node = Member(node, key, optional, tok.position)
            else:
                return node

    def primary(self) -> Any:
        tok = self.take()
        if tok.kind in ("string", "number"):
            return Literal(tok.value)
        if tok.kind == "name":
            lowered = tok.value.lower()
            if self.peek().kind == "punct" and self.peek().value == "(":
                self.take()
                args = []
                if not (self.peek().kind == "punct" and self.peek().value == ")"):
                    args.append(self.expression())
                    while self.peek().kind == "punct" and self.peek().value == ",":
                        self.take()
                        args.append(self.expression())
                self.expect(")")
                return Call(tok.value, args, tok.position)
            if lowered in ("true", "false"):
                return Literal(lowered == "true")
            if lowered == "null":
                return Literal(None)
            raise ExpressionError(f"'{tok.value}' is not a function call or a literal (strings take single quotes)",
                                  self.text, tok.position)
        if tok.kind == "end":
            raise ExpressionError("the expression ends too early", self.text, tok.position)
        raise ExpressionError(f"unexpected {tok.value!r}", self.text, tok.position)


def parse_expression(text: str) -> Any:
    """Parse an expression written without its leading ``@`` into a tree."""
    return _Parser(text).parse()


def _find_close(text: str, start: int) -> int:
    """The index of the ``}`` closing a ``@{`` hole opened before ``start`` (quotes respected)."""
    depth, i, quoted = 0, start, False
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    i += 1
                else:
                    quoted = False
        elif c == "'":
            quoted = True
        elif c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise ExpressionError("'@{' is not closed by '}'", text, start - 2)


def parse_value(value: str) -> Any:
    """Parse a definition string: a Literal, an expression tree or a Template."""
    if value.startswith("@@"):
        return Literal(value[1:])
    if value.startswith("@") and not value.startswith("@{"):
        try:
            return _shift(parse_expression(value[1:]), 1)
        except ExpressionError as err:
            raise ExpressionError(err.message, value, (err.position or 0) + 1) from None
    if "@{" not in value:
        return Literal(value)
    parts: list = []
    i, buf = 0, []
    while i < len(value):
        if value.startswith("@@{", i):
            buf.append("@{")
            i += 3
        elif value.startswith("@{", i):
            end = _find_close(value, i + 2)
            if buf:
                parts.append("".join(buf))
                buf = []
            inner = value[i + 2:end]
            try:
                parts.append(_shift(parse_expression(inner), i + 2))
            except ExpressionError as err:
                offset = i + 2 + (err.position or 0)
                raise ExpressionError(err.message, value, offset) from None
            i = end + 1
        else:
            buf.append(value[i])
            i += 1
    if buf:
        parts.append("".join(buf))
    return Template(parts)


def _shift(node: Any, delta: int) -> Any:
    """Make the positions in a tree count from the start of the whole definition string."""
    if isinstance(node, (Call, Member)):
        node.position += delta
        for child in (node.args if isinstance(node, Call) else [node.target, node.key]):
            _shift(child, delta)
    return node


def is_dynamic(value: Any) -> bool:
    """True for a string holding an expression or a template."""
    return isinstance(value, str) and value.startswith("@") and not value.startswith("@@") or (
        isinstance(value, str) and "@{" in value)


def calls(node: Any) -> list[Call]:
    """Every function call in a tree, outermost first."""
    found: list[Call] = []

    def walk(n: Any) -> None:
        if isinstance(n, Call):
            found.append(n)
            for a in n.args:
                walk(a)
        elif isinstance(n, Member):
            walk(n.target)
            walk(n.key)
        elif isinstance(n, Template):
            for p in n.parts:
                walk(p)

    walk(node)
    return found


# -- values -------------------------------------------------------------------------------------------
def to_text(value: Any) -> str:
    """A value as WDL writes it into a string: null is empty, booleans are True/False, objects JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _type_name(value: Any) -> str:
    if value is None:
        return "Null"
    return {bool: "Boolean", int: "Integer", float: "Float", str: "String", dict: "Object",
            list: "Array"}.get(type(value), type(value).__name__)


def _a(value: Any) -> str:
    """The value's type with its article, as the error messages say it: 'an Integer', 'a String'."""
    name = _type_name(value)
    return ("an " if name[0] in "AEIOU" else "a ") + name


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return a == b


def _num(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ExpressionError(f"The template language function '{name}' expects numbers; "
                              f"it got {_a(value)} ({to_text(value)!r}).")
    return value


def _compare(name: str, a: Any, b: Any) -> int:
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    x, y = _num(name, a), _num(name, b)
    return (x > y) - (x < y)


def _str_args(name: str, *values: Any) -> list[str]:
    out = []
    for v in values:
        if not isinstance(v, str):
            raise ExpressionError(f"The template language function '{name}' expects strings; "
                                  f"it got {_a(v)} ({to_text(v)!r}).")
        out.append(v)
    return out


def _contains(collection: Any, value: Any) -> bool:
    if isinstance(collection, str):
        return to_text(value) in collection
    if isinstance(collection, dict):
        return isinstance(value, str) and value in collection
    if isinstance(collection, list):
        return any(_same(item, value) if not isinstance(item, str) else item == value for item in collection)
    if collection is None:
        return False
    raise ExpressionError(f"The template language function 'contains' expects a string, an array or an object; "
                          f"it got {_a(collection)}.")


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ExpressionError(f"The template language function '{name}' expects booleans; it got "
                          f"{_a(value)} ({to_text(value)!r}).")


def _int(value: Any, name: str = "int") -> int:
    try:
        return int(value) if not isinstance(value, str) else int(value.strip())
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float('inf'))
        raise ExpressionError(f"The template language function '{name}' cannot convert {to_text(value)!r} "
                              "to an integer.") from None


INT64 = 2 ** 63


def _arith(name: str, op: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    """``op`` on two numbers; a result beyond a float or a 64-bit integer (WDL's integers) is an error,
    never a Python big int that later fails to print or serialise."""
    x, y = _num(name, a), _num(name, b)
    try:
        result = op(x, y)
    except OverflowError:
        result = None
    if result is None or (isinstance(result, int) and not -INT64 <= result < INT64):
        raise ExpressionError(f"The template language function '{name}' overflowed: its result is too large.")
    return result


def _collection(name: str, value: Any, *, strings: bool = True) -> Any:
    """``value`` if it is an array (or a string, when ``strings``), else the error naming ``name``."""
    if isinstance(value, list) or (strings and isinstance(value, str)):
        return value
    kinds = "an array or a string" if strings else "an array"
    raise ExpressionError(f"The template language function '{name}' expects {kinds}; it got "
                          f"{_a(value)} ({to_text(value)!r}).")


def _first(value: Any) -> Any:
    if value is None:
        return None
    seq = _collection("first", value)
    return seq[0] if seq else None


def _last(value: Any) -> Any:
    if value is None:
        return None
    seq = _collection("last", value)
    return seq[-1] if seq else None


def _join(items: Any, delimiter: Any) -> str:
    seq = _collection("join", items, strings=False)
    sep = _str_args("join", delimiter)[0]
    return sep.join(to_text(x) for x in seq)


def _split(text: Any, delimiter: Any) -> list[str]:
    s, sep = _str_args("split", text, delimiter)
    if not sep:
        raise ExpressionError("The template language function 'split' needs a delimiter that is not empty.")
    return s.split(sep)


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ExpressionError(f"The template language function 'json' got text that is not JSON: {exc}.") from None


def _length(value: Any) -> int:
    if isinstance(value, (str, list, dict)):
        return len(value)
    raise ExpressionError(f"The template language function 'length' expects a string or an array; it got "
                          f"{_a(value)}.")


def _substring(text: Any, start: Any, length: Any = None) -> str:
    s = _str_args("substring", text)[0]
    a = _int(start, "substring")
    b = len(s) if length is None else a + _int(length, "substring")
    if a < 0 or a > len(s) or b > len(s):
        raise ExpressionError(f"The template language function 'substring' got start {a} and length "
                              f"{b - a} for a string of length {len(s)}.")
    return s[a:b]


def _div(a: Any, b: Any) -> Any:
    if _num("div", b) == 0:
        raise ExpressionError("The template language function 'div' cannot divide by zero.")
    return _arith("div", _quotient, a, b)


def _quotient(x: Any, y: Any) -> Any:
    if isinstance(x, int) and isinstance(y, int):
        q = abs(x) // abs(y)  # exact for any size, truncated toward zero as .NET does
        return q if (x < 0) == (y < 0) else -q
    return x / y


# name -> (implementation, minimum arguments, maximum arguments or None for any)
BUILTINS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    "equals": (lambda a, b: _same(a, b), 2, 2),
    "not": (lambda a: not _bool("not", a), 1, 1),
    "and": (lambda *a: all(_bool("and", x) for x in a), 2, None),
    "or": (lambda *a: any(_bool("or", x) for x in a), 2, None),
    "greater": (lambda a, b: _compare("greater", a, b) > 0, 2, 2),
    "greaterOrEquals": (lambda a, b: _compare("greaterOrEquals", a, b) >= 0, 2, 2),
    "less": (lambda a, b: _compare("less", a, b) < 0, 2, 2),
    "lessOrEquals": (lambda a, b: _compare("lessOrEquals", a, b) <= 0, 2, 2),
    "contains": (_contains, 2, 2),
    "startsWith": (lambda a, b: (lambda s, p: s.lower().startswith(p.lower()))(*_str_args("startsWith", a, b)), 2, 2),
    "endsWith": (lambda a, b: (lambda s, p: s.lower().endswith(p.lower()))(*_str_args("endsWith", a, b)), 2, 2),
    "empty": (lambda a: a is None or (isinstance(a, (str, list, dict)) and len(a) == 0), 1, 1),
    "if": (lambda c, a, b: a if _bool("if", c) else b, 3, 3),
    "coalesce": (lambda *a: next((x for x in a if x is not None), None), 1, None),
    "concat": (lambda *a: "".join(to_text(x) for x in a), 1, None),
    "toLower": (lambda a: _str_args("toLower", a)[0].lower() if a is not None else "", 1, 1),
    "toUpper": (lambda a: _str_args("toUpper", a)[0].upper() if a is not None else "", 1, 1),
    "trim": (lambda a: _str_args("trim", a)[0].strip(), 1, 1),
    "replace": (lambda s, old, new: (lambda x, y, z: x.replace(y, z))(*_str_args("replace", s, old, new)), 3, 3),
    "substring": (_substring, 2, 3),
    "indexOf": (lambda s, p: (lambda x, y: x.lower().find(y.lower()))(*_str_args("indexOf", s, p)), 2, 2),
    "split": (_split, 2, 2),
    "join": (_join, 2, 2),
    "length": (_length, 1, 1),
    "first": (_first, 1, 1),
    "last": (_last, 1, 1),
    "createArray": (lambda *a: list(a), 1, None),
    "string": (to_text, 1, 1),
    "int": (_int, 1, 1),
    "float": (lambda a: _arith("float", lambda x, _: float(x), a, 0), 1, 1),
    "bool": (lambda a: _bool("bool", a) if isinstance(a, (bool, str)) else bool(a), 1, 1),
    "json": (_json, 1, 1),
    "add": (lambda a, b: _arith("add", lambda x, y: x + y, a, b), 2, 2),
    "sub": (lambda a, b: _arith("sub", lambda x, y: x - y, a, b), 2, 2),
    "mul": (lambda a, b: _arith("mul", lambda x, y: x * y, a, b), 2, 2),
    "div": (_div, 2, 2),
    "encodeURIComponent": (lambda a: urllib.parse.quote(to_text(a), safe=""), 1, 1),
    "decodeURIComponent": (lambda a: urllib.parse.unquote(to_text(a)), 1, 1),
    "guid": (lambda: str(uuid.uuid4()), 0, 0),
}


class Context:
    """What an expression can see: the built-in functions plus those the host adds (triggerBody …)."""

    def __init__(self, functions: dict[str, Callable[..., Any]] | None = None) -> None:
        self.functions = {name.lower(): impl for name, (impl, _, _) in BUILTINS.items()}
        for name, impl in (functions or {}).items():
            self.functions[name.lower()] = impl

    # -- evaluation ----------------------------------------------------------------------------------
    def evaluate(self, node: Any, text: str = "") -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Template):
            return "".join(p if isinstance(p, str) else to_text(self.evaluate(p, text)) for p in node.parts)
        if isinstance(node, Call):
            impl = self.functions.get(node.name.lower())
            if impl is None:
                raise ExpressionError(f"The template language function '{node.name}' is not available here",
                                      text, node.position)
            args = [self.evaluate(a, text) for a in node.args]
            try:
                return impl(*args)
            except ExpressionError as err:
                if err.text:
                    raise
                raise ExpressionError(err.message, text, node.position) from None
        if isinstance(node, Member):
            target = self.evaluate(node.target, text)
            key = self.evaluate(node.key, text)
            return _select(target, key, node.optional, text, node.position)
        raise TypeError(f"not an expression node: {node!r}")

    def value(self, raw: Any) -> Any:
        """Evaluate a definition value: strings by their expressions, objects and arrays deeply."""
        if isinstance(raw, str):
            node = parse_value(raw)
            return self.evaluate(node, raw)
        if isinstance(raw, dict):
            return {k: self.value(v) for k, v in raw.items()}
        if isinstance(raw, list):
            return [self.value(v) for v in raw]
        return raw


def _select(target: Any, key: Any, optional: bool, text: str, position: int) -> Any:
    """``target[key]`` with WDL's rules: case-insensitive names; ``?`` turns missing into null."""
    if target is None:
        if optional:
            return None
        raise ExpressionError(f"property '{to_text(key)}' cannot be selected because the value is null "
                              "(use ?[...] to allow it)", text, position)
    if isinstance(target, dict):
        if isinstance(key, str):
            if key in target:
                return target[key]
            for k, v in target.items():
                if k.lower() == key.lower():
                    return v
        if optional:
            return None
        available = ", ".join(repr(k) for k in target) or "none"
        raise ExpressionError(f"property '{to_text(key)}' doesn't exist; available properties are {available}",
                              text, position)
    if isinstance(target, list):
        if isinstance(key, int) and not isinstance(key, bool) and -len(target) <= key < len(target) and key >= 0:
            return target[key]
        if optional:
            return None
        raise ExpressionError(f"index {to_text(key)!r} is outside the array of {len(target)} items", text, position)
    if optional:
        return None
    raise ExpressionError(f"property '{to_text(key)}' cannot be selected from {_a(target)}",
                          text, position)


def check(raw: str, functions: dict[str, tuple[int, int | None]]) -> list[Call]:
    """Parse ``raw`` and check every call names a known function with a valid number of arguments.

    ``functions`` maps the host's extra functions to their (min, max) argument counts; the
    built-ins are always known. Returns the calls found, so the caller can check references.
    """
    node = parse_value(raw)
    known = {name.lower(): (name, lo, hi) for name, (_, lo, hi) in BUILTINS.items()}
    known.update({name.lower(): (name, lo, hi) for name, (lo, hi) in functions.items()})
    found = calls(node)
    for call in found:
        entry = known.get(call.name.lower())
        if entry is None:
            raise ExpressionError(f"The template language function '{call.name}' is not supported by the sandbox "
                                  f"runner (supported: {', '.join(sorted(v[0] for v in known.values()))})",
                                  raw, call.position)
        name, lo, hi = entry
        n = len(call.args)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
            raise ExpressionError(f"The template language function '{name}' expects {want} parameter(s); "
                                  f"it was given {n}", raw, call.position)
    return found

