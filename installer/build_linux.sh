#!/usr/bin/env bash
# Linux bundle: dist/unmasker/ (folder), dist/unmasker-VERSION-linux-x86_64.tar.gz, and a .deb
# that installs it under /opt/unmasker with a menu entry, an icon and /usr/bin/unmasker.
# Then the smoke test, offline: `unshare -n` cuts the network (falls back to a plain run where
# user namespaces are not allowed; the test downloads nothing either way).
#   bash installer/build_linux.sh
#   TORCH_INDEX=https://download.pytorch.org/whl/cpu   bash installer/build_linux.sh   CPU flavour
#   TORCH_INDEX=https://download.pytorch.org/whl/cu126 bash installer/build_linux.sh   NVIDIA flavour
# Without TORCH_INDEX torch comes from PyPI (a CUDA build on most machines; the CPU build on this
# project's build machine). Start from a fresh build/venv to change flavour.
set -euo pipefail
cd "$(dirname "$0")/.."
# A clean environment with the app's run-time packages only (the development .venv also holds the
# training and test tools, which would end up in the bundle).
BVENV=build/venv
PY=${PYTHON:-python3}
[ -x "$BVENV/bin/python" ] || "$PY" -m venv "$BVENV"
"$BVENV/bin/python" -m pip install -q --upgrade pip
"$BVENV/bin/python" -c "import torch" 2>/dev/null ||
  "$BVENV/bin/python" -m pip install -q ${TORCH_INDEX:+--index-url "$TORCH_INDEX"} "torch==2.13.0"
"$BVENV/bin/python" -m pip install -q . "pyinstaller>=6.0"
"$BVENV/bin/python" -c "import torch; print('torch', torch.__version__, 'CUDA ' + torch.version.cuda if torch.version.cuda else 'CPU only')"
VERSION=$("$BVENV/bin/python" -c "import app; print(app.__version__)")
ARCH=$(uname -m)
start=$(date +%s)
"$BVENV/bin/pyinstaller" --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller installer/unmasker.spec
echo "build: $(( $(date +%s) - start )) s"

tar -C dist -czf "dist/unmasker-$VERSION-linux-$ARCH.tar.gz" unmasker

# .deb
DEB=build/deb/unmasker_$VERSION
rm -rf "$DEB" && mkdir -p "$DEB/DEBIAN" "$DEB/opt" "$DEB/usr/bin" "$DEB/usr/share/applications" "$DEB/usr/share/icons/hicolor/256x256/apps"
cp -a dist/unmasker "$DEB/opt/unmasker"
ln -s /opt/unmasker/unmasker "$DEB/usr/bin/unmasker"
cp resources/icons/unmasker.png "$DEB/usr/share/icons/hicolor/256x256/apps/unmasker.png"
cat > "$DEB/usr/share/applications/unmasker.desktop" <<DESKTOP
[Desktop Entry]
Type=Application
Name=Unmasker
Comment=Remove face masks from photos
Exec=/opt/unmasker/unmasker %F
Icon=unmasker
Terminal=false
Categories=Graphics;Photography;
MimeType=image/jpeg;image/png;image/webp;image/tiff;
DESKTOP
DEBARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
cat > "$DEB/DEBIAN/control" <<CONTROL
Package: unmasker
Version: $VERSION
Architecture: $DEBARCH
Maintainer: Unmasker developers <unmasker@example.org>
Section: graphics
Priority: optional
Depends: libc6, libgl1, libegl1, libfontconfig1, libxkbcommon0, libxkbcommon-x11-0, libdbus-1-3, libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-image0, libxcb-render-util0, libxcb-shape0, libxcb-xkb1
Description: Remove face masks from photos
 Finds each face, segments its mask, fills the hidden face with a GAN and pastes it back
 seamlessly. Runs offline on the CPU or an NVIDIA GPU.
CONTROL
# zstd: seconds instead of xz's minutes on a 1 GB tree, at a similar size; dpkg reads it since
# 1.21.18 (Debian 12, Ubuntu 22.04). DEB_COMPRESSION=xz for older systems.
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-zstd}" --build "$DEB" "dist/unmasker_${VERSION}_${DEBARCH}.deb" >/dev/null

du -sh dist/unmasker "dist/unmasker-$VERSION-linux-$ARCH.tar.gz" "dist/unmasker_${VERSION}_${DEBARCH}.deb"

# Smoke test from inside the bundle, with no network.
if unshare -rn true 2>/dev/null; then OFFLINE="unshare -rn"; else OFFLINE=""; echo "(unshare -n not allowed here: running without it)"; fi
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
t0=$(date +%s.%N)
env -u UNMASKER_MODELS QT_QPA_PLATFORM=offscreen $OFFLINE dist/unmasker/unmasker --self-test
echo "self-test: $(elapsed "$t0") s"
# Start-up: from launch to the editor's window shown (the app quits right after).
for run in first second; do
  t0=$(date +%s.%N)
  env UNMASKER_QUIT_AFTER_SHOW=1 QT_QPA_PLATFORM=offscreen dist/unmasker/unmasker
  echo "editor start-up ($run run): $(elapsed "$t0") s"
done
