"""kaireon-sql: next-best-action decisioning config compiled into dbt models."""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("kaireon-sql")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
