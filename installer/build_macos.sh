#!/usr/bin/env bash
# macOS: dist/Unmasker.app and dist/Unmasker-VERSION.dmg. Run on a Mac with Python 3.11:
#   bash installer/build_macos.sh
# (There is no NVIDIA flavour on macOS: torch runs on the CPU, or Apple's GPU through MPS.)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/venv/bin/python ] || python3.11 -m venv build/venv  # run-time packages only
build/venv/bin/python -m pip install -q --upgrade pip
build/venv/bin/python -m pip install -q torch
build/venv/bin/python -m pip install -q ".[build]"
VERSION=$(build/venv/bin/python -c "import app; print(app.__version__)")
start=$(date +%s)
build/venv/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller installer/unmasker.spec
echo "build: $(( $(date +%s) - start )) s"
dist/Unmasker.app/Contents/MacOS/unmasker --self-test
rm -f "dist/Unmasker-$VERSION.dmg"
hdiutil create -volname Unmasker -srcfolder dist/Unmasker.app -ov -format UDZO "dist/Unmasker-$VERSION.dmg"
du -sh dist/Unmasker.app "dist/Unmasker-$VERSION.dmg"
