"""Import stays cheap and silent: no heavy library, no logging handler, no files."""

import subprocess
import sys

HEAVY = ["torch", "transformers", "peft", "chromadb", "mesa", "langchain_core", "ray", "sklearn"]


def test_light_modules_do_not_import_heavy_libraries(tmp_path):
    code = (
        "import sys, logging\n"
        "import alignuser, alignuser.cli, alignuser.scenario, alignuser.interfaces, alignuser.env.text\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert not logging.getLogger().handlers and not logging.getLogger('alignuser').handlers\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written at import
