"""Where things are in a dbt project: dbt_project.yml, the profile's engine, the config folder."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from .dialect import ENGINES
from .errors import KaireonError

DEFAULT_CONFIG = "decisioning"
DEFAULT_OUT = "models/kaireon"


@dataclass
class DbtProject:
    root: Path
    profiles_dir: Path | None
    target: str | None = None

    @property
    def config_dir(self) -> Path:
        return self.root / DEFAULT_CONFIG

    @property
    def out_dir(self) -> Path:
        return self.root / DEFAULT_OUT

    def project_yml(self) -> dict:
        path = self.root / "dbt_project.yml"
        if not path.is_file():
            raise KaireonError(f"{path}: not found; run kaireon in a dbt project (or pass --project-dir)")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise KaireonError(f"{path}: cannot parse: {exc}") from None
        if not isinstance(data, dict) or "profile" not in data:
            raise KaireonError(f"{path}: expected a 'profile' key naming the dbt profile to use")
        return data

    def profiles_path(self) -> Path:
        candidates = [self.profiles_dir] if self.profiles_dir else []
        env = os.environ.get("DBT_PROFILES_DIR")
        candidates += ([Path(env)] if env else []) + [self.root, Path.home() / ".dbt"]
        for folder in candidates:
            if folder and (folder / "profiles.yml").is_file():
                return folder / "profiles.yml"
        raise KaireonError("profiles.yml not found in --profiles-dir, $DBT_PROFILES_DIR, the project folder or ~/.dbt; "
                           "`kaireon init` writes a DuckDB one")

    def engine_name(self) -> str:
        """The dbt adapter type of the selected target (duckdb, postgres, spark, ...)."""
        return str(self.output()["type"])

    def ensure_duckdb_folder(self) -> None:
        """Create the folder of a DuckDB target's file (warehouse/ by default; dbt-duckdb does not)."""
        output = self.output()
        path = output.get("path")
        if output["type"] != "duckdb" or not isinstance(path, str) or "{" in path or ":" in path.split("/")[0]:
            return  # another engine, an env_var() path, :memory:, md:..., s3://...
        folder = (self.root / path).parent
        if not folder.exists():
            folder.mkdir(parents=True, exist_ok=True)

    def output(self) -> dict:
        """The selected target's output of the profile (its 'type' one of ENGINES)."""
        profile_name = self.project_yml()["profile"]
        path = self.profiles_path()
        try:
            profiles = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise KaireonError(f"{path}: cannot parse: {exc}") from None
        profile = profiles.get(profile_name)
        if not isinstance(profile, dict):
            raise KaireonError(f"{path}: no profile {profile_name!r} (named by dbt_project.yml)")
        target = self.target or profile.get("target")
        output = (profile.get("outputs") or {}).get(target)
        if not isinstance(output, dict) or "type" not in output:
            raise KaireonError(f"{path}: profile {profile_name!r} has no target {target!r} with a 'type'")
        kind = str(output["type"])
        if kind not in ENGINES:
            raise KaireonError(f"{path}: target {target!r} has type {kind!r}; kaireon compiles for "
                               + ", ".join(ENGINES))
        return output
