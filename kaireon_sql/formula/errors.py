"""The one error type of the formula engine."""
from __future__ import annotations


class FormulaError(ValueError):
    """A compile-time formula error: syntax, unknown name, arity or type mismatch.

    ``position`` is the 0-based character offset, ``column`` the 1-based one;
    ``message`` already contains ``at column N``.
    """

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.message = message
        self.position = position
        self.column = position + 1


def error(what: str, position: int, hint: str | None = None) -> FormulaError:
    """Build ``"<what> at column N[; hint]"``."""
    msg = f"{what} at column {position + 1}"
    if hint:
        msg += f"; {hint}"
    return FormulaError(msg, position)
