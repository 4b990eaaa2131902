"""`pip install .` on top of a preinstalled torch and numpy (Colab's situation).

Runs scripts/check_colab_install.sh through ``plain_env.plain_venv`` (shared with
tests/test_plain_env.py, so a session builds the environment once). The script builds a
fresh venv, installs torch==2.13.0 and numpy from pip's configured sources (here the
local wheel in /opt/wheels), then checks with `pip install --dry-run --report` that
installing the course would not touch torch, numpy or any CUDA wheel, installs it for
real (non-editable) and imports every module it ships from outside the repository.
Takes one to several minutes, depending on load.
"""

from __future__ import annotations

import pytest
from plain_env import plain_venv


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_pip_install_keeps_preinstalled_torch_and_numpy(tmp_path_factory) -> None:
    log = plain_venv(tmp_path_factory.mktemp("plain")).install_log
    report = "\n".join(
        line for line in log.splitlines() if not line.startswith("WARNING: Location")
    )
    assert "OK: pip install keeps torch and numpy (2.13.0" in log, report
    would_install = next(line for line in log.splitlines() if "would install:" in line)
    names = would_install.split(":", 1)[1].replace(",", " ").split()
    assert "relu-course" in names
    assert "torch" not in names and "numpy" not in names, would_install
    assert "imported relu_course" in log
    for module in ("data", "training", "diagnostics", "plotting", "notebook"):
        assert module in log.split("imported relu_course", 1)[1], report
