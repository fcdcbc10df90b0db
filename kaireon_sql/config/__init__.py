"""Decisioning config: pydantic models of KaireonAI's payload shapes, loaded from a folder."""
from .loader import load_project
from .project import KINDS, Project

__all__ = ["KINDS", "Project", "load_project"]
