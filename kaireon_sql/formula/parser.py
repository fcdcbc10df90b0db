"""Recursive-descent parser.

Precedence, loosest first: ternary (right-assoc) < || < && < == != < < <= > >=
< + - < * / % < unary - ! < primary. Binary operators are left-associative.
"""
from __future__ import annotations

from .errors import error
from .nodes import Binary, Bool, Call, Ident, Node, Num, Str, Ternary, Unary, children
from .tokens import Token, tokenize

# Deepest nesting a formula may have, counted two ways, each at most MAX_DEPTH: the tree (each operator,
# call, unary and ternary adds a level; `a + b + c` is two) and the text (each pair of parentheses, call,
# unary operator and ternary branch). Deeper formulas are refused with a FormulaError; the limit keeps
# every step (checking, SQL generation, the engines' own parsers) far from recursion limits.
MAX_DEPTH = 40
_TOO_DEEP = f"formula nested too deeply (more than {MAX_DEPTH} levels of operators, calls or parentheses)"
_SPLIT = "split it into computed fields"

_LEVELS: tuple[tuple[str, ...], ...] = (
    ("||",),
    ("&&",),
    ("==", "!="),
    ("<", "<=", ">", ">="),
    ("+", "-"),
    ("*", "/", "%"),
)


def _describe(tok: Token) -> str:
    if tok.kind == "eof":
        return "end of formula"
    if tok.kind == "str":
        return "string literal"
    if tok.kind == "num":
        return f"number {tok.value[1]}"
    return f"'{tok.value}'"


class _Parser:
    def __init__(self, text: str):
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise error(_TOO_DEEP, self.tok.pos, _SPLIT)

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def at_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.value in ops

    def expect_op(self, op: str, what: str) -> Token:
        if not self.at_op(op):
            raise error(f"expected {what}, found {_describe(self.tok)}", self.tok.pos)
        t = self.tok
        self.i += 1
        return t

    def parse(self) -> Node:
        if self.tok.kind == "eof":
            raise error("empty formula", 0, "expected an expression")
        node = self.ternary()
        if self.tok.kind != "eof":
            raise error(f"unexpected {_describe(self.tok)}", self.tok.pos, "expected an operator or end of formula")
        return node

    def ternary(self) -> Node:
        self.enter()
        cond = self.binary(0)
        if self.at_op("?"):
            q = self.tok
            self.i += 1
            then = self.ternary()
            self.expect_op(":", "':' of the ternary started")
            else_ = self.ternary()
            self.depth -= 1
            return Ternary(cond, then, else_, q.pos)
        self.depth -= 1
        return cond

    def binary(self, level: int) -> Node:
        if level == len(_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.at_op(*_LEVELS[level]):
            op = self.tok
            self.i += 1
            right = self.binary(level + 1)
            left = Binary(op.value, left, right, op.pos)
        return left

    def unary(self) -> Node:
        if self.at_op("-", "!"):
            op = self.tok
            self.i += 1
            self.enter()
            operand = self.unary()
            self.depth -= 1
            return Unary(op.value, operand, op.pos)
        return self.primary()

    def primary(self) -> Node:
        t = self.tok
        if t.kind == "num":
            self.i += 1
            return Num(t.value[0], t.pos)
        if t.kind == "str":
            self.i += 1
            return Str(t.value, t.pos)
        if t.kind == "ident":
            self.i += 1
            if t.value in ("true", "false"):
                return Bool(t.value == "true", t.pos)
            if self.at_op("("):
                if "." in t.value:
                    raise error(f"'{t.value}' is not a function name", t.pos)
                self.i += 1
                args: list[Node] = []
                if not self.at_op(")"):
                    args.append(self.ternary())
                    while self.at_op(","):
                        self.i += 1
                        args.append(self.ternary())
                self.expect_op(")", f"',' or ')' in call of {t.value}()")
                return Call(t.value, tuple(args), t.pos)
            return Ident(t.value, t.pos)
        if self.at_op("("):
            self.i += 1
            node = self.ternary()
            self.expect_op(")", "')'")
            return node
        raise error(f"expected a number, string, name or '(', found {_describe(t)}", t.pos)


def check_depth(root: Node) -> None:
    """FormulaError when the tree is deeper than MAX_DEPTH (left-associative chains grow it without nesting)."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise error(_TOO_DEEP, node.pos, _SPLIT)
        stack.extend((c, depth + 1) for c in children(node))


def parse(text: str) -> Node:
    """Parse formula text into an AST; raises FormulaError on syntax errors and on nesting beyond MAX_DEPTH."""
    tree = _Parser(text).parse()
    check_depth(tree)
    return tree
