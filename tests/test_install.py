"""`pip install .` on top of a preinstalled torch and numpy (Colab's situation).

Runs scripts/check_colab_install.sh, which builds a fresh venv, installs torch==2.13.0 and
numpy from pip's configured sources (here the local wheel in /opt/wheels), then checks
with `pip install --dry-run --report` that installing the course would not touch torch,
numpy or any CUDA wheel, installs it for real (non-editable) and imports every module it
ships from outside the repository. Takes one to several minutes, depending on load.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_colab_install.sh"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_pip_install_keeps_preinstalled_torch_and_numpy(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(SCRIPT), str(ROOT)],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(Path.home()),
            "TMPDIR": str(tmp_path),
            "PYTHON": sys.executable,
            **{k: v for k, v in os.environ.items() if k.startswith("PIP_")},
        },
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = (
        result.stdout
        + "\n"
        + "\n".join(
            line for line in result.stderr.splitlines() if not line.startswith("WARNING: Location")
        )
    )
    assert result.returncode == 0, report
    assert "OK: pip install keeps torch and numpy (2.13.0" in result.stdout, report
    would_install = next(line for line in result.stdout.splitlines() if "would install:" in line)
    names = would_install.split(":", 1)[1].replace(",", " ").split()
    assert "relu-course" in names
    assert "torch" not in names and "numpy" not in names, would_install
    assert "imported relu_course" in result.stdout
    for module in ("data", "training", "diagnostics", "plotting"):
        assert module in result.stdout.split("imported relu_course", 1)[1], report
