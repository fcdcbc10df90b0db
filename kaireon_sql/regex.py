"""The regex dialect of `regex` rules: one small syntax that DuckDB, PostgreSQL and Spark read alike.

Engines' regex libraries disagree (DuckDB's RE2, PostgreSQL's ARE, Spark's java.util.regex):
`.` and newlines, `$` before a final newline, what `\\w` or `[[:alpha:]]` match outside ASCII,
backreferences and lookaround. A pattern is therefore parsed here, at validate time, refused
with the construct and the reason when it is outside the dialect, and written out again for each
engine in a form that engine reads with the same meaning.

The dialect (a subset of RE2 syntax; matching is a search: the pattern may match anywhere):
- any character stands for itself, except the metacharacters  . ^ $ * + ? ( ) [ ] { } | \\
- `\\` before an ASCII punctuation character makes it literal (`\\.`, `\\$`, `\\\\`); `\\n` `\\r` `\\t`
  are newline, carriage return and tab
- `.` is any one character (a Unicode code point), newlines included
- `^` is the start of the text, `$` the very end (never a line end, never before a final newline)
- `[abc]`, `[^abc]`, ranges `[a-z]` by code point, with the same escapes inside; a literal `]`,
  `[` or `\\` inside a class is written escaped
- groups `( )` and `(?: )`, alternation `|`
- quantifiers `*` `+` `?` `{n}` `{n,}` `{n,m}` (n, m <= 255), optionally lazy (`*?`: the same
  texts match)
- matching is case-sensitive; there is no Unicode normalisation (e + U+0301 is two characters)
Refused: `\\w \\d \\s \\b` and their negations, POSIX classes (`[[:alpha:]]`), `\\p{..}`, backreferences,
lookaround, inline flags such as `(?i)`, named groups, possessive quantifiers, `\\A \\z \\Z`, and any
other escape of a letter or digit (each engine reads them differently, or one of them cannot).
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_LENGTH = 10_000  # characters of a pattern
MAX_REPEAT = 255  # PostgreSQL's largest {n,m} bound
MAX_SIZE = 20_000  # pattern size with repetitions expanded (RE2 and PostgreSQL refuse huge programs)

METACHARACTERS = set(".^$*+?()[]{}|\\")
_CONTROL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}

_REFUSED_ESCAPES = {
    "w": "word characters differ by engine outside ASCII (é and ٣ are word characters on PostgreSQL only); "
         "write the class, e.g. [A-Za-z0-9_]",
    "d": "digits follow PostgreSQL's locale but not DuckDB's or Spark's; write [0-9]",
    "s": "whitespace differs by engine (U+2028 is whitespace on PostgreSQL only); write the class, e.g. [ \\t\\n\\r]",
    "b": "word boundaries differ by engine outside ASCII (\\bé finds 'é' on Spark only)",
    "p": "Unicode property classes are not supported by PostgreSQL",
    "A": "use ^ (the start of the text)",
    "z": "use $ (the end of the text)",
    "Z": "use $ (the end of the text)",
    "Q": "quoting is not supported by PostgreSQL; escape each metacharacter with \\",
    "x": "hexadecimal escapes differ by engine; write the character itself",
    "u": "code point escapes differ by engine; write the character itself",
}


class RegexError(ValueError):
    """A pattern refused: what, where (0-based character index) and why; `invalid`: not a regex at all,
    else a regex outside the dialect."""

    def __init__(self, construct: str, position: int, reason: str, invalid: bool = False):
        self.construct, self.position, self.reason, self.invalid = construct, position, reason, invalid
        what = "" if invalid else " is not part of the regex dialect"
        super().__init__(f"{construct} at position {position}{what}: {reason}")


def describe(pattern: str, error: RegexError) -> str:
    """The error message for a refused pattern, the pattern shortened when long."""
    return f"{'invalid ' if error.invalid else ''}regular expression {shown(pattern)}: {error}"


# ---- the parsed pattern ------------------------------------------------------------------------

@dataclass(frozen=True)
class Literal:
    char: str


@dataclass(frozen=True)
class AnyChar:
    pass


@dataclass(frozen=True)
class Anchor:
    end: bool  # False: start of text (^), True: end of text ($)


@dataclass(frozen=True)
class CharClass:
    negated: bool
    ranges: tuple[tuple[str, str], ...]  # inclusive code point ranges (a single character: (c, c))


@dataclass(frozen=True)
class Repeat:
    node: object
    low: int
    high: int | None  # None: no upper bound


@dataclass(frozen=True)
class Sequence:
    items: tuple


@dataclass(frozen=True)
class Alternation:
    options: tuple  # of Sequence


@dataclass(frozen=True)
class Group:
    body: Alternation


def _size(node) -> int:
    if isinstance(node, (Literal, AnyChar, Anchor, CharClass)):
        return 1
    if isinstance(node, Repeat):
        return _size(node.node) * max(node.high if node.high is not None else node.low, 1) + 1
    if isinstance(node, Sequence):
        return sum(_size(i) for i in node.items) + 1
    if isinstance(node, Alternation):
        return sum(_size(o) for o in node.options) + 1
    return _size(node.body) + 1


class _Parser:
    def __init__(self, text: str):
        self.text, self.i = text, 0

    def peek(self, n: int = 0) -> str:
        j = self.i + n
        return self.text[j] if j < len(self.text) else ""

    def refuse(self, construct: str, reason: str, at: int | None = None, invalid: bool = False):
        raise RegexError(construct, self.i if at is None else at, reason, invalid)

    def alternation(self, depth: int) -> Alternation:
        if depth > 50:
            self.refuse("a group", "groups are nested more than 50 deep")
        options = [self.sequence(depth)]
        while self.peek() == "|":
            self.i += 1
            options.append(self.sequence(depth))
        return Alternation(tuple(options))

    def sequence(self, depth: int) -> Sequence:
        items: list = []
        while self.peek() not in ("", "|", ")"):
            start = self.i
            atom = self.atom(depth)
            items.append(self.quantified(atom, start))
        return Sequence(tuple(items))

    def quantified(self, atom, start: int):
        if self.peek() not in ("*", "+", "?", "{"):
            return atom
        if isinstance(atom, Anchor):
            self.refuse(f"{self.peek()!r} after {'$' if atom.end else '^'}", "an anchor cannot be repeated")
        at = self.i
        low, high = self.bounds()
        if self.peek() == "?":  # lazy: the same texts match
            self.i += 1
        if self.peek() in ("*", "+", "?", "{"):
            what = "a possessive quantifier" if self.peek() == "+" else "a second quantifier"
            self.refuse(what, "a quantifier cannot follow another; use a group, e.g. (a*)*")
        if high is not None and high < low:
            self.refuse(self.text[at:self.i], "the upper bound is below the lower bound", at, invalid=True)
        return Repeat(atom, low, high)

    def bounds(self) -> tuple[int, int | None]:
        c = self.peek()
        self.i += 1
        if c == "*":
            return 0, None
        if c == "+":
            return 1, None
        if c == "?":
            return 0, 1
        at = self.i - 1
        close = self.text.find("}", self.i)
        body = self.text[self.i:close] if close >= 0 else ""
        low_text, comma, high_text = body.partition(",")
        if close < 0 or not low_text.isdecimal() or (high_text and not high_text.isdecimal()) \
                or not low_text.isascii() or not high_text.isascii():
            self.refuse("'{'", "a literal '{' is written \\{ ({n}, {n,} and {n,m} are repetitions)", at)
        self.i = close + 1
        low = int(low_text)
        high = (int(high_text) if high_text else None) if comma else low
        if low > MAX_REPEAT or (high or 0) > MAX_REPEAT:
            self.refuse(self.text[at:self.i], f"repetition bounds are at most {MAX_REPEAT} (PostgreSQL's limit)", at)
        return low, high

    def atom(self, depth: int):
        c, at = self.peek(), self.i
        if c in ("*", "+", "?"):
            self.refuse(repr(c), "nothing to repeat before it; write \\" + c + " for the character", invalid=True)
        if c == "{":
            self.refuse("'{'", "nothing to repeat before it; write \\{ for the character")
        if c in ("]", "}"):
            self.refuse(repr(c), f"write \\{c} for a literal {c}")
        self.i += 1
        if c == ".":
            return AnyChar()
        if c == "^":
            return Anchor(end=False)
        if c == "$":
            return Anchor(end=True)
        if c == "(":
            if self.peek() == "?":
                if self.peek(1) != ":":
                    self.refuse("'(?" + self.peek(1) + "'", _group_reason(self.peek(1), self.peek(2)), at)
                self.i += 2
            body = self.alternation(depth + 1)
            if self.peek() != ")":
                self.refuse("'('", "the group is not closed by ')'", at, invalid=True)
            self.i += 1
            return Group(body)
        if c == "[":
            return self.char_class(at)
        if c == "\\":
            return Literal(self.escape(at))
        return Literal(c)

    def escape(self, at: int) -> str:
        c = self.peek()
        if c == "":
            self.refuse("'\\' at the end", "a trailing backslash escapes nothing; write \\\\ for a backslash", at,
                        invalid=True)
        self.i += 1
        if c in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[c]
        if c.isascii() and not c.isalnum() and c.isprintable() and c != " ":
            return c
        if c.isdigit():
            self.refuse("\\" + c, "backreferences and octal escapes are not supported (RE2 has neither)", at)
        reason = _REFUSED_ESCAPES.get(c.lower() if c in "WDSBP" else c,
                                      "only \\n, \\r, \\t and escaped punctuation are escapes in the dialect")
        if c in "WDSB":
            reason = reason.replace("write the class", "write the negated class").replace("write [0-9]", "write [^0-9]")
        self.refuse("\\" + c, reason, at)

    def char_class(self, at: int) -> CharClass:
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        if self.peek() == "]":
            self.refuse("']' first in a class", "write \\] for a literal ] (engines read a leading ] differently)")
        ranges: list[tuple[str, str]] = []
        while True:
            c = self.peek()
            if c == "":
                self.refuse("'['", "the class is not closed by ']'", at, invalid=True)
            if c == "]":
                self.i += 1
                break
            low = self.class_char()
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                dash = self.i
                self.i += 1
                high = self.class_char()
                if ord(high) < ord(low):
                    self.refuse(self.text[dash - 1:self.i], "the range is reversed", dash - 1, invalid=True)
                ranges.append((low, high))
            else:
                ranges.append((low, low))
        return CharClass(negated, tuple(ranges))

    def class_char(self) -> str:
        c, at = self.peek(), self.i
        if c == "[":
            if self.peek(1) in (":", "=", "."):
                self.refuse("'[" + self.peek(1) + "'", "POSIX classes, collating elements and equivalence classes "
                            "are not supported (they differ by engine and locale); write the characters")
            self.refuse("'[' in a class", "write \\[ (Spark reads a nested [ as a union of classes)")
        self.i += 1
        if c == "\\":
            return self.escape(at)
        return c


def _group_reason(c: str, c2: str) -> str:
    if c in ("=", "!") or (c == "<" and c2 in ("=", "!")):
        return "lookahead and lookbehind are not supported (RE2 has neither)"
    if c in ("P", "<", "'"):
        return "named groups are not supported (PostgreSQL has none); use ( )"
    if c == ">":
        return "atomic groups are not supported (RE2 and PostgreSQL have none)"
    if c == "#":
        return "comments are not supported"
    return "inline flags such as (?i) or (?s) are not supported: matching is always case-sensitive and '.' " \
           "always matches newlines"


def parse(pattern: str) -> Alternation:
    """The pattern's tree, or RegexError naming the construct refused and why."""
    if len(pattern) > MAX_LENGTH:
        raise RegexError(f"a pattern of {len(pattern)} characters", MAX_LENGTH, f"patterns are at most {MAX_LENGTH} characters")
    if "\x00" in pattern:
        raise RegexError("the NUL character", pattern.index("\x00"), "NUL cannot be stored in PostgreSQL text")
    parser = _Parser(pattern)
    tree = parser.alternation(0)
    if parser.peek() == ")":
        parser.refuse("')'", "no group is open; write \\) for the character", invalid=True)
    if _size(tree) > MAX_SIZE:
        raise RegexError("the repetitions", 0, f"the pattern expands to more than {MAX_SIZE} elements; "
                         "engines refuse or slow down on such programs")
    return tree


# ---- written out for an engine -----------------------------------------------------------------

def _char(c: str, in_class: bool) -> str:
    # control characters are written as themselves: every engine reads them literally
    if in_class:  # every ASCII punctuation escaped: no ] [ - ^ & (Java's &&) can take a meaning
        return "\\" + c if c.isascii() and not c.isalnum() and c.isprintable() and c != " " else c
    return "\\" + c if c in METACHARACTERS else c


def _write(node, end: str) -> str:
    if isinstance(node, Literal):
        return _char(node.char, False)
    if isinstance(node, AnyChar):
        return "."
    if isinstance(node, Anchor):
        return end if node.end else "^"
    if isinstance(node, CharClass):
        body = "".join(_char(lo, True) if lo == hi else _char(lo, True) + "-" + _char(hi, True)
                       for lo, hi in node.ranges)
        return "[" + ("^" if node.negated else "") + body + "]"
    if isinstance(node, Repeat):
        inner = _write(node.node, end)
        if isinstance(node.node, (Sequence, Alternation)):
            inner = "(" + inner + ")"
        if (node.low, node.high) == (0, None):
            return inner + "*"
        if (node.low, node.high) == (1, None):
            return inner + "+"
        if (node.low, node.high) == (0, 1):
            return inner + "?"
        if node.high is None:
            return inner + "{%d,}" % node.low
        return inner + ("{%d}" % node.low if node.low == node.high else "{%d,%d}" % (node.low, node.high))
    if isinstance(node, Sequence):
        return "".join(_write(i, end) for i in node.items)
    if isinstance(node, Alternation):
        return "|".join(_write(o, end) for o in node.options)
    return "(" + _write(node.body, end) + ")"  # groups capture on every engine: no (?:) needed


def translate(pattern: str, prefix: str, end: str) -> str:
    """`pattern` in an engine's syntax: `prefix` sets '.'-matches-newline, `end` is its end-of-text anchor."""
    return prefix + _write(parse(pattern), end)


def shown(pattern: str, limit: int = 80) -> str:
    """The pattern for an error message, shortened when long."""
    return repr(pattern if len(pattern) <= limit else pattern[:limit] + "...")
