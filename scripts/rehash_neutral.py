"""Re-record tests/golden/neutral_scenarios.json after an intended change of the compiled SQL
(run from the repo root: .venv/bin/python scripts/rehash_neutral.py). Review the golden SQL diff first:
this trusts the compiler's current output."""
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, "tests")
from neutral_scenarios import SCENARIOS  # noqa: E402

from kaireon_sql.compiler import compile_project  # noqa: E402
from kaireon_sql.config import load_project  # noqa: E402
from kaireon_sql.dialect import ENGINES  # noqa: E402
from kaireon_sql.writer import model_files  # noqa: E402

path = Path("tests/golden/neutral_scenarios.json")
recorded = json.loads(path.read_text(encoding="utf-8"))
folders = {"init": Path("kaireon_sql/templates/init/decisioning")}
tmp = Path(tempfile.mkdtemp())
for name, build in SCENARIOS.items():
    folder = tmp / name
    folder.mkdir()
    (folder / "config.yml").write_text(yaml.safe_dump(build(), sort_keys=False, allow_unicode=True), encoding="utf-8")
    folders[name] = folder
sha = {}
for scenario, folder in folders.items():
    models = compile_project(load_project(folder, display_root=folder))
    sha[scenario] = {}
    for eng_name, eng in ENGINES.items():
        files = model_files(models, eng, "decisioning/")
        reordered = recorded["reordered"].get(scenario, {}).get(eng_name, {})
        for file, content in files.items():
            if file in reordered:
                reordered[file] = hashlib.sha256("\n".join(sorted(content.split("\n"))).encode()).hexdigest()
        sha[scenario][eng_name] = {f: hashlib.sha256(c.encode()).hexdigest() for f, c in sorted(files.items())}
recorded["sha256"] = sha
path.write_text(json.dumps(recorded, indent=1) + "\n", encoding="utf-8")
print(f"re-recorded {sum(len(e) for s in sha.values() for e in s.values())} files of {len(sha)} scenarios")
