#!/usr/bin/env bash
# GPU check of issue 22 (prepared for a machine with a GPU; it does not run without one):
#   * fp32 vs bf16 vs fp16 attributions (saliency, integrated gradients) of a randomly initialised Llama-shaped
#     model of ~1.0B parameters built offline (22 layers, hidden 2048), differences reported;
#   * time and peak GPU memory of each run, and inseq 0.7.1 on the same model and inputs when a venv has it;
#   * a 2-way device_map (layers split over cuda:0 and cuda:1) against one GPU, when 2 GPUs are visible.
# Everything is local: no download. The whole check stops starting runs after BUDGET_S seconds (default 540).
#
# Usage (from the repository root):
#   benchmarks/gpu_check.sh [OUT_DIR]
# Environment:
#   PYTHON    python with this checkout's dependencies (default: .venv/bin/python, else python3)
#   INSEQ071  python of a separate venv with inseq 0.7.1, compared side by side (optional). Prepare it once, on a
#             machine that reaches PyPI (inseq 0.7.1 pins transformers 4.x, so keep it out of this venv):
#               python -m venv /opt/inseq071 && /opt/inseq071/bin/pip install "inseq==0.7.1" torch safetensors accelerate
#             then INSEQ071=/opt/inseq071/bin/python benchmarks/gpu_check.sh
#   BUDGET_S  seconds after which no new run is started (default 540: under 10 minutes in all)
# Output: the report on stdout and OUT_DIR/report.json (default OUT_DIR: ${OUT:-/tmp}/gpu_check).
# CPU smoke test of the script itself (2-layer model): python benchmarks/gpu_check.py all --out /tmp/g --device cpu --tiny
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT_DIR=${1:-${OUT:-/tmp}/gpu_check}
if ! command -v nvidia-smi >/dev/null 2>&1 || ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: no CUDA GPU visible (nvidia-smi / torch.cuda.is_available()): nothing measured." >&2
    exit 2
fi
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader
"$PYTHON" -c "import torch, transformers, inseq; print('torch', torch.__version__, 'transformers', transformers.__version__, 'inseq', inseq.__version__)"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
EXTRA=()
if [ -n "${INSEQ071:-}" ]; then
    if "$INSEQ071" -c "import inseq, sys; sys.exit(0 if inseq.__version__.startswith('0.7') else 1)" 2>/dev/null; then
        EXTRA=(--inseq071 "$INSEQ071")
    else
        echo "gpu_check: INSEQ071=$INSEQ071 has no inseq 0.7.x: the side-by-side comparison is skipped." >&2
    fi
fi
timeout 590 "$PYTHON" benchmarks/gpu_check.py all --out "$OUT_DIR" --device cuda --budget_s "${BUDGET_S:-540}" "${EXTRA[@]}"
