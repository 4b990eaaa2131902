#!/usr/bin/env bash
# Prove that `pip install <repo>` leaves a preinstalled torch and numpy alone, as on Colab.
#
#   scripts/check_colab_install.sh [REPO_DIR]        (default: this script's repository)
#
# Steps, in a fresh virtual environment under a temporary folder:
#   1. pip install torch==$TORCH_VERSION numpy   (what Colab already has)
#   2. pip install --dry-run --report report.json REPO
#      -> fails if torch, numpy or any nvidia-* CUDA wheel is in the install list
#   3. pip install REPO                          (a real, non-editable install)
#   4. from outside the repository, import relu_course and every module it ships
#
# Environment: PYTHON (interpreter that creates the venv, default python3),
# TORCH_VERSION (default 2.13.0), KEEP_TMP=1 to keep the temporary folder.
# The repository is copied first (tracked and untracked-but-not-ignored files), so the
# build never writes build/ or *.egg-info into the working tree.
# Prints "OK: ..." and exits 0 on success; prints "FAIL: ..." and exits 1 otherwise.
set -euo pipefail

repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
python=${PYTHON:-python3}
torch_version=${TORCH_VERSION:-2.13.0}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/colab-install.XXXXXX")
cleanup() { [ "${KEEP_TMP:-0}" = 1 ] && echo "kept $tmp" || rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== copy $repo"
mkdir "$tmp/src"
if git -C "$repo" rev-parse --show-toplevel >/dev/null 2>&1; then
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf -) | tar -C "$tmp/src" -xf -
else
  cp -r "$repo/." "$tmp/src/"
fi

echo "== fresh venv with torch==$torch_version and numpy (the Colab starting point)"
"$python" -m venv "$tmp/venv"
pip=("$tmp/venv/bin/python" -m pip --disable-pip-version-check --no-input)
"${pip[@]}" install -q "torch==$torch_version" numpy
echo "   at $SECONDS s"
before=$("$tmp/venv/bin/python" -c "import torch, numpy; print(torch.__version__, numpy.__version__)")
echo "   preinstalled: torch numpy = $before"

echo "== dry run: what would pip install?"
"${pip[@]}" install -q --dry-run --report "$tmp/report.json" "$tmp/src"
"$tmp/venv/bin/python" - "$tmp/report.json" <<'PY'
import json, re, sys

report = json.load(open(sys.argv[1]))
names = sorted(re.sub(r"[-_.]+", "-", item["metadata"]["name"]).lower()
               for item in report["install"])
print("   would install:", ", ".join(names))
bad = [n for n in names if n in ("torch", "numpy") or n.startswith("nvidia-")]
if bad:
    sys.exit(f"FAIL: installing the course would replace or add {bad}; loosen the pins")
if "relu-course" not in names:
    sys.exit("FAIL: relu-course itself is not in the install list")
PY
echo "   at $SECONDS s"

echo "== real install"
"${pip[@]}" install -q "$tmp/src"
echo "   at $SECONDS s"
after=$("$tmp/venv/bin/python" -c "import torch, numpy; print(torch.__version__, numpy.__version__)")
[ "$before" = "$after" ] || fail "torch/numpy changed from '$before' to '$after'"

echo "== import from outside the repository"
(cd "$tmp" && "$tmp/venv/bin/python" - "$tmp/venv" <<'PY'
import importlib
import pkgutil
import sys

import relu_course

if not relu_course.__file__.startswith(sys.argv[1]):
    sys.exit(f"FAIL: imported relu_course from {relu_course.__file__}, not from the venv")
found = sorted(m.name for m in pkgutil.iter_modules(relu_course.__path__))
imported, optional = [], []
for name in found:
    try:
        importlib.import_module(f"relu_course.{name}")
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] == "relu_course":
            sys.exit(f"FAIL: relu_course.{name} needs {err.name}, which the wheel lacks: "
                     "list every subpackage in pyproject.toml [tool.setuptools]")
        optional.append(f"{name} (needs the optional {err.name})")
    else:
        imported.append(name)
print(f"   imported relu_course {relu_course.__version__} and: {', '.join(imported)}")
if optional:
    print(f"   not importable without extras: {', '.join(optional)}")
PY
)
echo "OK: pip install keeps torch and numpy ($after) and relu_course imports ($SECONDS s)"
