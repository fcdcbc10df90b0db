"""Formula engine: parse, type-check, compile to sqlglot, and evaluate in Python (S5)."""
from .api import Formula, parse_formula
from .errors import FormulaError
from .functions import FUNCTIONS, FunctionSpec
from .types import Field, Resolver

__all__ = ["Field", "Formula", "FormulaError", "FUNCTIONS", "FunctionSpec", "Resolver", "parse_formula"]
