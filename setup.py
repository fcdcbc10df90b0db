"""Ships the dbt package (dbt_project.yml, macros/) inside the wheel as kaireon_sql/dbt_package/.

`kaireon init` points packages.yml at that folder of a plain install (kaireon_sql/scaffold.py); a
checkout or an editable install uses the repository root instead. Everything else is in pyproject.toml.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
DBT_PACKAGE = ("dbt_project.yml", "macros", "LICENSE")


class BuildWithDbtPackage(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads the checkout itself
            return
        dest = Path(self.build_lib) / "kaireon_sql" / "dbt_package"
        for name in DBT_PACKAGE:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, dest / name, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest / name)


setup(cmdclass={"build_py": BuildWithDbtPackage})
