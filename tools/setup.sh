#!/usr/bin/env bash
# Set up ssbfv in ./.venv (idempotent): system libraries that the gmsh wheel links against,
# a virtual environment, and the package with its test dependencies.
# Works on a fresh Debian/Ubuntu machine with Python >= 3.11 (as root, or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

"$PY" - <<'PYEOF' || { echo "ssbfv needs Python >= 3.11 (found $("$PY" --version 2>&1))" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PYEOF

# Debian packages: python3-venv for ensurepip; X/GL client libraries for the gmsh wheel.
pkgs=()
"$PY" -c "import ensurepip, venv" 2>/dev/null || pkgs+=("python3-venv")
ldconf=$(command -v ldconfig || echo /sbin/ldconfig)
declare -A libpkg=(
  [libGLU.so.1]=libglu1-mesa [libGL.so.1]=libgl1 [libXcursor.so.1]=libxcursor1
  [libXft.so.2]=libxft2 [libXinerama.so.1]=libxinerama1 [libXrender.so.1]=libxrender1
  [libXfixes.so.3]=libxfixes3 [libXext.so.6]=libxext6 [libX11.so.6]=libx11-6
  [libfontconfig.so.1]=libfontconfig1 [libgomp.so.1]=libgomp1
)
for lib in "${!libpkg[@]}"; do
  "$ldconf" -p 2>/dev/null | grep -q "$lib" || pkgs+=("${libpkg[$lib]}")
done
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${pkgs[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if command -v apt-get >/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
  else
    echo "setup: please install the equivalents of: ${pkgs[*]}" >&2
    exit 1
  fi
fi

stamp=.venv/.ssbfv-setup
want=$(cat pyproject.toml | sha1sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup: creating .venv and installing ssbfv (a few minutes the first time)"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
echo "$want" > "$stamp"
echo "setup: done ($(.venv/bin/ssbfv --version))"
