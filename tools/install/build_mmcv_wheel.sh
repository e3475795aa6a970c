#!/usr/bin/env bash
# Build (once per machine) and cache a wheel of mmcv 2.1.0 with its compiled ops.
#
# Why this script exists: mmsegmentation 1.2.2 imports mmcv.ops at import time
# (so mmcv-lite is not enough) and asserts mmcv < 2.2.0, but no mmcv 2.1.0 wheel
# exists for torch 2.14, and its sdist does not build against it as shipped:
#   * setup.py and mmengine import pkg_resources  -> setuptools < 82 in the venv;
#   * setup.py imports torch                      -> pip --no-build-isolation;
#   * setup.py pins -std=c++14 / -std=c++17, but torch 2.14's headers require
#     C++20                                      -> the flags are rewritten below.
# The compiled wheel is kept in $MMDIVERSE_WHEEL_CACHE (default
# ~/.cache/mmdiverse/wheels) under a tag naming torch and the device kind, so a
# second install on the same machine -- a fresh clone included -- reuses it.
#
# CUDA ops are compiled when torch sees a GPU or FORCE_CUDA=1 is set (mmcv's own
# switch), which requires nvcc; otherwise the CPU ops are built (~10 min, 2 cores).
#
# Usage: build_mmcv_wheel.sh PYTHON   (the venv's interpreter, with torch installed)
# Prints the path of the wheel on its last line of stdout.
set -euo pipefail

MMCV_VERSION=2.1.0
PYTHON=${1:?usage: build_mmcv_wheel.sh PYTHON}
CACHE_ROOT=${MMDIVERSE_WHEEL_CACHE:-$HOME/.cache/mmdiverse/wheels}

tag=$("$PYTHON" - <<'EOF'
import os, sys, torch
cuda = torch.version.cuda and (torch.cuda.is_available() or os.getenv('FORCE_CUDA') == '1')
kind = 'cu' + torch.version.cuda.replace('.', '') if cuda else 'cpu'
print(f"py{sys.version_info.major}{sys.version_info.minor}-torch{torch.__version__.split('+')[0]}-{kind}")
EOF
)
cache_dir="$CACHE_ROOT/mmcv-$MMCV_VERSION-$tag"
existing=$(ls "$cache_dir"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
if [[ -n "$existing" ]]; then
    echo "[build_mmcv_wheel] reusing cached wheel ($tag)" >&2
    echo "$existing"
    exit 0
fi

if [[ "$tag" == *-cu* ]]; then
    export FORCE_CUDA=1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "[build_mmcv_wheel] building mmcv $MMCV_VERSION with ops for $tag; this takes ~10 minutes" >&2
"$PYTHON" -m pip download --quiet --no-deps --no-build-isolation --no-binary :all: \
    "mmcv==$MMCV_VERSION" -d "$work" >&2
tar -xzf "$work/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
src="$work/mmcv-$MMCV_VERSION"
# The C++20 workaround: every pinned language standard (gcc and nvcc) becomes c++20.
sed -i -E 's/std=c\+\+1[47]/std=c++20/g' "$src/setup.py"
if grep -qE 'std=c\+\+1[47]' "$src/setup.py"; then
    echo "[build_mmcv_wheel] could not rewrite the C++ standard in mmcv's setup.py" >&2
    exit 1
fi

MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    "$PYTHON" -m pip wheel --no-deps --no-build-isolation "$src" -w "$work/out" >&2
mkdir -p "$cache_dir"
wheel=$(ls "$work"/out/mmcv-*.whl)
# Copy under a temporary name, then rename: an interrupted build leaves no partial wheel.
cp "$wheel" "$cache_dir/.partial.whl"
mv "$cache_dir/.partial.whl" "$cache_dir/$(basename "$wheel")"
echo "$cache_dir/$(basename "$wheel")"
