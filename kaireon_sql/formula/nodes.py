"""Formula AST: frozen dataclasses. ``pos`` is the 0-based offset of the node's key token."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Num:
    value: float
    pos: int = 0


@dataclass(frozen=True)
class Str:
    value: str
    pos: int = 0


@dataclass(frozen=True)
class Bool:
    value: bool
    pos: int = 0


@dataclass(frozen=True)
class Ident:
    name: str
    pos: int = 0


@dataclass(frozen=True)
class Unary:
    op: str  # '-' or '!'
    operand: "Node"
    pos: int = 0


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / % == != < <= > >= && ||
    left: "Node"
    right: "Node"
    pos: int = 0  # position of the operator


@dataclass(frozen=True)
class Ternary:
    cond: "Node"
    then: "Node"
    else_: "Node"
    pos: int = 0  # position of '?'


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple["Node", ...]
    pos: int = 0  # position of the function name


Node = Union[Num, Str, Bool, Ident, Unary, Binary, Ternary, Call]


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Ternary):
        return (node.cond, node.then, node.else_)
    if isinstance(node, Call):
        return node.args
    return ()


def to_text(node: Node) -> str:
    """Render a node back to formula text, fully parenthesised (parses back to the same tree)."""
    if isinstance(node, Num):
        return repr(node.value) if node.value >= 0 else f"({repr(node.value)})"
    if isinstance(node, Str):
        return "'" + node.value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(node, Bool):
        return "true" if node.value else "false"
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, Unary):
        return f"{node.op}({to_text(node.operand)})"
    if isinstance(node, Binary):
        return f"({to_text(node.left)} {node.op} {to_text(node.right)})"
    if isinstance(node, Ternary):
        return f"({to_text(node.cond)} ? {to_text(node.then)} : {to_text(node.else_)})"
    if isinstance(node, Call):
        return f"{node.name}({', '.join(to_text(a) for a in node.args)})"
    raise TypeError(node)
