"""A plain environment, as Colab or a laptop has it, and a notebook runner to use inside it.

Two halves, one file:

* In the test process, :func:`plain_venv` builds the environment once per session with
  ``scripts/check_colab_install.sh`` (a fresh venv with torch and numpy preinstalled,
  then ``pip install .`` with no extras; the script checks that torch and numpy stay as
  they were), then adds ``ipykernel`` and ``nbclient``, nothing else.
* Inside that environment, ``python plain_env.py REPORT.json NOTEBOOK...`` runs each
  notebook top to bottom with nbclient, in a working folder outside the repository, and
  writes per notebook the seconds it took, its first error, and every cell's stderr.
  This half imports only the standard library, nbformat and nbclient.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_colab_install.sh"
KERNEL_PACKAGES = ("ipykernel", "nbclient")
# Notebooks run side by side: half the cores, at most 4 (1 on a 2-core machine).
WORKERS = max(1, min(4, (os.cpu_count() or 1) // 2))


class PlainVenv:
    """The environment: its python, and what the install script printed."""

    def __init__(self, folder: Path, install_log: str, seconds: float) -> None:
        self.folder = folder
        self.python = folder / "venv" / "bin" / "python"
        self.install_log = install_log
        self.seconds = seconds

    def env(self) -> dict[str, str]:
        """A clean environment for its kernels: no variables of the development setup."""
        keep = {k: v for k, v in os.environ.items() if k.startswith("PIP_")}
        return {
            **keep,
            "PATH": f"{self.python.parent}:/usr/bin:/bin",
            "HOME": str(Path.home()),
            "TMPDIR": str(self.folder),
            "LANG": "C.UTF-8",
        }

    def run_notebooks(self, notebooks: list[Path], timeout: int) -> list[dict[str, Any]]:
        """Run ``notebooks`` with this environment's kernel; one result per notebook.

        Up to :data:`WORKERS` runners share the list (the chapters use one torch thread
        each), every runner in its own working folder.
        """
        chunks = [notebooks[i::WORKERS] for i in range(min(WORKERS, len(notebooks)))]
        runs = []
        for index, chunk in enumerate(chunks):
            report = self.folder / f"report-{time.monotonic_ns()}-{index}.json"
            workdir = Path(tempfile.mkdtemp(prefix="run-", dir=self.folder))
            process = subprocess.Popen(
                [str(self.python), __file__, str(report), *map(str, chunk)],
                cwd=workdir,
                env=self.env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            runs.append((process, report))
        results: dict[str, dict[str, Any]] = {}
        for process, report in runs:
            output, _ = process.communicate(timeout=timeout)
            if process.returncode != 0 or not report.exists():
                raise RuntimeError(f"the runner failed:\n{output}")
            results.update({r["path"]: r for r in json.loads(report.read_text(encoding="utf8"))})
        return [results[str(path)] for path in notebooks]


_CACHE: dict[str, PlainVenv] = {}


def plain_venv(tmp_root: Path) -> PlainVenv:
    """Build the plain environment once per test run (under ``tmp_root``).

    In a pytest run (tests/conftest.py sets ``$RELU_COURSE_TESTRUN_DIR``) the first
    process to ask builds it in the run's folder and the others (xdist workers) reuse it.
    """
    if "venv" in _CACHE:
        return _CACHE["venv"]
    shared = os.environ.get("RELU_COURSE_TESTRUN_DIR")
    if shared:
        from filelock import FileLock

        folder = Path(shared) / "plain-env"
        folder.mkdir(exist_ok=True)
        with FileLock(folder / "lock"):
            saved = folder / "venv.json"
            if not saved.is_file():
                built = _build_plain_venv(folder)
                saved.write_text(json.dumps([str(built.folder), built.install_log, built.seconds]))
            where, log, seconds = json.loads(saved.read_text())
            _CACHE["venv"] = PlainVenv(Path(where), log, seconds)
        return _CACHE["venv"]
    _CACHE["venv"] = _build_plain_venv(tmp_root)
    return _CACHE["venv"]


def _build_plain_venv(tmp_root: Path) -> PlainVenv:
    start = time.perf_counter()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(Path.home()),
        "TMPDIR": str(tmp_root),
        "PYTHON": sys.executable,
        "KEEP_TMP": "1",
        **{k: v for k, v in os.environ.items() if k.startswith("PIP_")},
    }
    result = subprocess.run(
        ["bash", str(SCRIPT), str(ROOT)], env=env, capture_output=True, text=True, timeout=1200
    )
    log = result.stdout + "\n" + result.stderr
    kept = [
        line.split(" ", 1)[1] for line in result.stdout.splitlines() if line.startswith("kept ")
    ]
    if result.returncode != 0 or not kept:
        raise RuntimeError(f"check_colab_install.sh failed:\n{log}")
    venv = PlainVenv(Path(kept[-1]), log, 0.0)
    pip = [str(venv.python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "-c", str(ROOT / "constraints.txt"), *KERNEL_PACKAGES],
        env=venv.env(),
        check=True,
        capture_output=True,
        timeout=900,
    )
    # Colab starts with matplotlib's font cache built; build it here, outside any notebook.
    subprocess.run(
        [str(venv.python), "-c", "import matplotlib.pyplot, torch"],
        env=venv.env(),
        check=True,
        capture_output=True,
        timeout=300,
    )
    venv.seconds = time.perf_counter() - start
    return venv


# ------------------------------------------------------------- inside the plain venv


def _run(paths: list[str]) -> list[dict[str, Any]]:
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    results = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        # IPC sockets, not TCP: ipykernel 7 warns on stderr about unencrypted TCP, a notice
        # about this runner's transport that Colab's own kernels never print.
        manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path("kernel")))
        client = NotebookClient(
            notebook, km=manager, timeout=900, resources={"metadata": {"path": "."}}
        )
        start = time.perf_counter()
        error = None
        try:
            client.execute()
        except CellExecutionError as exc:
            error = str(exc)[-4000:]
        finally:  # nbclient leaves a kernel it did not start running
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)
        seconds = time.perf_counter() - start
        nbformat.write(notebook, Path(path).stem + ".executed.ipynb")  # to look at after
        cells = []
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            stderr = "".join(
                o.get("text", "")
                for o in cell.get("outputs", [])
                if o.get("output_type") == "stream" and o.get("name") == "stderr"
            )
            cells.append(
                {
                    "index": index,
                    "id": cell.get("id"),
                    "grade_id": cell.metadata.get("nbgrader", {}).get("grade_id"),
                    "tags": cell.metadata.get("tags", []),
                    "first_line": cell.source.split("\n", 1)[0],
                    "installs": "%pip install" in cell.source,
                    "executed": cell.get("execution_count") is not None,
                    "stderr": stderr,
                    "stdout": "".join(
                        o.get("text", "")
                        for o in cell.get("outputs", [])
                        if o.get("output_type") == "stream" and o.get("name") == "stdout"
                    )[:2000],
                }
            )
        results.append({"path": path, "seconds": seconds, "error": error, "cells": cells})
    return results


if __name__ == "__main__":
    report, *notebooks = sys.argv[1:]
    Path(report).write_text(json.dumps(_run(notebooks), indent=1), encoding="utf8")
