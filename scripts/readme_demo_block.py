"""Re-write the demo summary the README quotes (tests/test_demo_dbt.py test_readme_quotes_what_the_demo_prints)
from what the demo prints now: runs `kaireon run --as-of 2026-11-20T15:00:00Z --quiet-dbt` in a copy of the
demo and quotes its output, dbt's progress lines left out ('...'). Run from the repo root."""
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, "tests")
from conftest import copy_demo  # noqa: E402

project = copy_demo(Path(tempfile.mkdtemp()), cross_sell=True)
out = subprocess.run([str(Path(".venv/bin/kaireon").resolve()), "run", "--as-of", "2026-11-20T15:00:00Z", "--quiet-dbt"],
                     cwd=project, capture_output=True, text=True, check=True).stdout.splitlines()
lines: list[str] = []
for line in out:
    if re.match(r"^  \[\d+/\d+\] ", line) or line.startswith("dbt build: parsing"):
        if lines[-1:] != ["..."]:
            lines.append("...")
        continue
    lines.append(line)
readme = Path("README.md")
text = readme.read_text(encoding="utf-8")
start = text.index("```\n", text.index("one summary\nblock per flow")) + 4
end = text.index("```", start)
readme.write_text(text[:start] + "\n".join(lines) + "\n" + text[end:], encoding="utf-8")
print("\n".join(lines))
