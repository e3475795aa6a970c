#!/usr/bin/env bash
# The GPU check in one command, for a machine with Python 3.12, its own torch and
# numpy 2 and no package registry (run from anywhere; about 3-5 minutes on one GPU):
#
#   bash tools/benchmarks/gpu_check.sh                # CUDA, bf16, default pairs
#   bash tools/benchmarks/gpu_check.sh --device cpu -- --batch-size 2 --iters 1 ...
#
# 1. checks that the packages such a machine already holds import (torch, numpy,
#    cv2, scipy, PIL, torchvision, yaml, regex, rich, einops, pytest);
# 2. installs the wheels of tools/benchmarks/wheels/ (made beforehand, where pip
#    reaches PyPI, by prepare_gpu_wheels.sh) with `pip install --no-index --no-deps`
#    into a separate folder ($GPU_SITE), leaving the machine's own packages alone,
#    and makes the interpreter load it through a .pth in its site-packages, which
#    also puts this repository on sys.path;
# 3. writes the .pth that loads mmdiverse's stand-in for mmcv._ext at start-up,
#    as tools/install/setup_env.sh does for the no-compile (mmcv-lite) install;
# 4. runs the GPU tests (host syncs under sync debug mode 'error', AMP steps, fused
#    attention outside the tapped blocks);
# 5. runs tools/benchmarks/benchmark_step.py --device cuda --amp bf16 on the
#    default pairs and writes the table and the JSON figures to $OUT_DIR.
#
# Options: --device cuda|cpu (default cuda), --amp bf16|fp16 (default bf16),
# --skip-install, --skip-tests; arguments after `--` go to benchmark_step.py.
# Environment: PYTHON (default python3), WHEELS (default tools/benchmarks/wheels),
# GPU_SITE (default /tmp/mmdiverse_site), OUT_DIR (default $OUT if set, else
# work_dirs/gpu_check).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
py=${PYTHON:-python3}
wheels=${WHEELS:-$root/tools/benchmarks/wheels}
site_dir=${GPU_SITE:-/tmp/mmdiverse_site}
out_dir=${OUT_DIR:-${OUT:-$root/work_dirs/gpu_check}}
device=cuda
amp=bf16
install=1
tests=1
bench_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --device) device=$2; shift 2 ;;
        --amp) amp=$2; shift 2 ;;
        --skip-install) install=0; shift ;;
        --skip-tests) tests=0; shift ;;
        --) shift; bench_args=("$@"); break ;;
        *) echo "[gpu_check] unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
mkdir -p "$out_dir"
log() { echo "[gpu_check $(date +%H:%M:%S)] $*"; }
start=$(date +%s)
status=0

log "python: $("$py" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
missing=$("$py" - <<'EOF'
import importlib
have, missing = [], []
for name in ('torch', 'numpy', 'cv2', 'scipy', 'PIL', 'torchvision', 'yaml', 'regex', 'rich',
             'einops', 'packaging', 'pytest'):
    try:
        module = importlib.import_module(name)
        have.append(f'{name} {getattr(module, "__version__", "")}'.strip())
    except Exception as error:  # noqa: BLE001  (report every missing package at once)
        missing.append(f'{name} ({type(error).__name__}: {error})')
print('have: ' + ', '.join(have), flush=True)
import sys
print('\n'.join(missing), file=sys.stderr)
EOF
)
log "$missing"
"$py" -c 'import torch, numpy, cv2, scipy, PIL, torchvision, yaml, regex, rich, einops, pytest' \
    2>/dev/null || { log "the packages above are missing on this machine; carry them as wheels"; exit 1; }
if [[ "$device" == cuda ]]; then
    "$py" -c 'import torch; assert torch.cuda.is_available(); print(torch.cuda.get_device_name())' \
        || { log "--device cuda: torch sees no GPU"; exit 1; }
fi

if [[ "$install" == 1 ]]; then
    shopt -s nullglob
    whls=("$wheels"/*.whl)
    [[ ${#whls[@]} -gt 0 ]] || { log "no wheels in $wheels: run tools/benchmarks/prepare_gpu_wheels.sh where pip reaches PyPI"; exit 1; }
    if "$py" -c 'import pkg_resources' 2>/dev/null; then
        # the machine's own setuptools provides pkg_resources: leave it in charge
        kept=()
        for whl in "${whls[@]}"; do [[ "$(basename "$whl")" == setuptools-* ]] || kept+=("$whl"); done
        whls=("${kept[@]}")
    fi
    log "installing ${#whls[@]} wheels into $site_dir"
    "$py" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target "$site_dir" "${whls[@]}" \
        || { log "pip install from $wheels failed"; exit 1; }
    # mmsegmentation's and model-index's wheels carry their own top-level `tests`
    # package, which would shadow this repository's tests/.
    rm -rf "$site_dir/tests"
    purelib=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    # The machine's packages keep precedence (addsitedir appends), then the wheels, then this
    # repository; addsitedir also runs the .pth files inside $site_dir.
    printf "import site; site.addsitedir('%s')\n%s\n" "$site_dir" "$root" \
        > "$purelib/mmdiverse_gpu_site.pth" || { log "cannot write $purelib"; exit 1; }
    standin="$root/mmdiverse/compat/mmcv_ext_standin.py"
    # As tools/install/setup_env.sh: the stand-in's install() runs at every start-up,
    # before any import of mmcv.ops.
    {
        printf "import importlib.util as u, sys; "
        printf "s = u.spec_from_file_location('mmdiverse.compat.mmcv_ext_standin', '%s'); " "$standin"
        printf "m = sys.modules.setdefault(s.name, u.module_from_spec(s)); "
        printf "s.loader.exec_module(m); m.install()\n"
    } > "$site_dir/mmdiverse_mmcv_ext_standin.pth"
fi
cd "$root" || exit 1
"$py" -c 'import mmcv, mmcv.ops, mmengine, mmpretrain, mmseg, mmseg.models, mmdiverse, numpy
print("mmcv", mmcv.__version__, "| mmengine", mmengine.__version__, "| mmpretrain",
      mmpretrain.__version__, "| mmseg", mmseg.__version__, "| numpy", numpy.__version__)' \
    2>&1 | grep -v 'pkg_resources' || true
"$py" -c 'import mmcv.ops, mmseg.models, mmpretrain, mmdiverse' 2>/dev/null \
    || { log "the installed stack does not import"; "$py" -c 'import mmdiverse'; exit 1; }
log "stack imports ($(( $(date +%s) - start )) s)"

if [[ "$tests" == 1 ]]; then
    log "GPU tests (host syncs, AMP, fused attention)"
    PYTHONUNBUFFERED=1 timeout 240 "$py" -m pytest -q -p no:cacheprovider -rs \
        tests/test_models/test_host_syncs.py tests/test_models/test_amp_step.py \
        tests/test_models/test_fused_attention.py \
        2>&1 | tee "$out_dir/gpu_tests.log" | grep -v 'pkg_resources\|_bootstrap'
    [[ ${PIPESTATUS[0]} -eq 0 ]] || { log "GPU tests FAILED"; status=1; }
fi

log "benchmark_step.py --device $device --amp $amp ${bench_args[*]}"
PYTHONUNBUFFERED=1 timeout 360 "$py" -m tools.benchmarks.benchmark_step \
    --device "$device" --amp "$amp" --json "$out_dir/benchmark_step.json" "${bench_args[@]}" \
    2>&1 | tee "$out_dir/benchmark_step.log" | grep -v 'pkg_resources\|_bootstrap\|UserWarning'
[[ ${PIPESTATUS[0]} -eq 0 ]] || { log "benchmark FAILED"; status=1; }
log "done in $(( $(date +%s) - start )) s (status $status); figures in $out_dir"
exit $status
