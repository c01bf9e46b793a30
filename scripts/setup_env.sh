#!/usr/bin/env bash
# Creates the project's virtual environment and installs everything, CPU-only torch first.
# Idempotent: re-running it on a ready environment only checks that the package is installed.
set -euo pipefail
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# torch must come first: anything that depends on it would otherwise pull a multi-GB CUDA build.
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    "$PY" -m pip install -q "torch==${TORCH_VERSION}"
fi
"$PY" -m pip install -q -e ".[dev]"
"$PY" -c "import inseq, torch; print(f'inseq {inseq.get_version()} ready (torch {torch.__version__})')"
