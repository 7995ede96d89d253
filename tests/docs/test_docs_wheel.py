"""The documentation ships inside the package: a wheel built from this checkout holds the
README and every docs/ file, and installed from it, the server finds its pages there."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
CONTENT = "modelgates/server/docs/_content"


def test_a_wheel_install_has_the_docs(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(REPOSITORY),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("modelgates-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"{CONTENT}/README.md"} | {
        f"{CONTENT}/docs/{path.relative_to(REPOSITORY / 'docs').as_posix()}"
        for path in (REPOSITORY / "docs").rglob("*")
        if path.is_file()
    }
    assert expected <= names

    # Installed (unpacked) on its own path, away from this checkout, it reads its own copy.
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = (
        "from modelgates.server.docs.pages import content_root, library; "
        "print(content_root()); print(' '.join(p.slug for p in library().pages))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(target), "PATH": ""},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    root, slugs = done.stdout.splitlines()
    assert Path(root) == target / CONTENT
    assert {"overview", "reference", "api", "security"} <= set(slugs.split())
