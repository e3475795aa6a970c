#!/usr/bin/env bash
# Fill tools/benchmarks/wheels/ (git-ignored) with the wheels that
# tools/benchmarks/gpu_check.sh installs on a GPU machine without a package
# registry, and check that they stay under 64 MiB.
#
# The GPU machine to expect has Python 3.12 with its own torch
# 2.11 and numpy 2, and already holds opencv-python-headless, scipy, pillow,
# torchvision, matplotlib, pyyaml, regex, rich, einops, packaging, pytest and
# pytest-timeout (gpu_check.sh checks they import). What it lacks is the
# OpenMMLab stack in the no-compile form of tools/install/setup_env.sh
# (mmcv-lite 2.1.0 + mmdiverse's stand-in for mmcv._ext) and the pure-Python
# packages those need. The versions are those of the tested .venv/.
# Every wheel is fetched with --no-deps, so this list is the whole closure.
#
# Usage:
#   tools/benchmarks/prepare_gpu_wheels.sh [DIR]      # default: tools/benchmarks/wheels
# Environment:
#   GPU_PYTHON_VERSION  target interpreter (default 3.12)
#   PIP                 pip command (default: .venv/bin/python -m pip, else python3 -m pip)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=${1:-$root/tools/benchmarks/wheels}
pyver=${GPU_PYTHON_VERSION:-3.12}
abi=cp${pyver/./}
if [[ -z "${PIP:-}" ]]; then
    if [[ -x "$root/.venv/bin/python" ]]; then PIP="$root/.venv/bin/python -m pip"
    else PIP="python3 -m pip"; fi
fi
limit=$((64 * 1024 * 1024))

# name==version  (why)
packages=(
    mmengine==0.10.7            # runner, registries, optim wrappers
    mmpretrain==1.2.0           # classifiers, ViT / Swin backbones
    mmsegmentation==1.2.2       # UperNet, EncoderDecoder
    mmcv-lite==2.1.0            # mmcv without compiled ops (+ mmdiverse's mmcv._ext stand-in)
    addict==2.4.0               # mmengine.config
    yapf==0.43.0                # mmengine.config (pretty_text)
    platformdirs==4.14.9        # yapf
    termcolor==3.3.0            # mmengine.logging
    modelindex==0.0.2           # mmpretrain.apis (distribution name of the import below)
    model-index==0.1.11         # mmpretrain.apis: `import modelindex`
    ordered-set==4.1.0          # model-index
    mat4py==0.6.0               # mmpretrain.datasets
    prettytable==3.18.0         # mmseg.evaluation
    wcwidth==0.9.4              # prettytable, ftfy
    ftfy==6.3.1                 # mmseg.utils.tokenizer
    importlib-metadata==10.2.0  # mmpretrain requirement
    setuptools==81.0.0          # pkg_resources for mmengine/mmcv: installed only where missing
)

mkdir -p "$dir"
rm -f "$dir"/*.whl
names=("${packages[@]}")
echo "[prepare_gpu_wheels] downloading ${#names[@]} wheels for CPython $pyver into $dir"
# pip warns once per package about this machine's empty local indexes; hide only that.
$PIP download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version "$pyver" --implementation cp --abi "$abi" --abi abi3 --abi none \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 --platform any \
    -d "$dir" "${names[@]}" 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
[[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "[prepare_gpu_wheels] pip download failed" >&2; exit 1; }

count=$(find "$dir" -maxdepth 1 -name '*.whl' | wc -l)
if [[ "$count" -ne "${#names[@]}" ]]; then
    echo "[prepare_gpu_wheels] expected ${#names[@]} wheels, found $count" >&2
    exit 1
fi
total=$(find "$dir" -maxdepth 1 -name '*.whl' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
( cd "$dir" && ls -l --block-size=K ./*.whl | awk '{print "  " $5 "\t" $9}' )
printf '[prepare_gpu_wheels] %d wheels, %.1f MiB in all (limit 64 MiB)\n' "$count" \
    "$(awk -v t="$total" 'BEGIN {print t / 1048576}')"
if (( total >= limit )); then
    echo "[prepare_gpu_wheels] the wheels exceed 64 MiB" >&2
    exit 1
fi
