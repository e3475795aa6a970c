#!/usr/bin/env bash
# Create or update .venv/ at the repository root with the pinned OpenMMLab stack
# and mmdiverse installed in editable mode. Idempotent: when the requirement
# files, setup.py and these install scripts are unchanged since the last
# successful run, it returns at once.
#
# Two modes, chosen by MMDIVERSE_MMCV:
#   lite (default)  mmcv-lite 2.1.0 (pure Python, no compiling) plus mmdiverse's
#                   stand-in for mmcv._ext (mmdiverse/compat/mmcv_ext_standin.py),
#                   loaded at interpreter start-up by a .pth file: nothing this
#                   project runs calls a compiled op, and one that is called raises
#                   an error naming it. About 2 minutes on a fresh machine.
#   full            mmcv 2.1.0 with its compiled ops, built once per machine by
#                   build_mmcv_wheel.sh and cached (10-25 minutes the first time).
#
# Environment:
#   MMDIVERSE_MMCV         lite | full (default lite)
#   PYTHON                 interpreter used to create the venv (default python3)
#   MMDIVERSE_WHEEL_CACHE  where the compiled mmcv wheel is kept (build_mmcv_wheel.sh)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv="$root/.venv"
stamp="$venv/.mmdiverse-install-stamp"
here="$root/tools/install"

mode=${MMDIVERSE_MMCV:-lite}
if [[ "$mode" != lite && "$mode" != full ]]; then
    echo "[setup_env] MMDIVERSE_MMCV must be 'lite' or 'full', got '$mode'" >&2
    exit 2
fi
standin="$root/mmdiverse/compat/mmcv_ext_standin.py"
fingerprint=$( { echo "$mode"; cat "$root"/requirements/*.txt "$root/setup.py" "$here"/*.sh; } \
    | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$fingerprint" && -x "$venv/bin/python" ]]; then
    echo "[setup_env] .venv is up to date"
    exit 0
fi

start=$(date +%s)
if [[ ! -x "$venv/bin/python" ]]; then
    echo "[setup_env] creating $venv"
    "${PYTHON:-python3}" -m venv "$venv"
fi
py="$venv/bin/python"
pip_install() {
    # pip warns once per package about this machine's empty local indexes; hide only that.
    "$py" -m pip install --quiet --disable-pip-version-check \
        -c "$root/requirements/constraints.txt" "$@" 2>&1 \
        | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
    return "${PIPESTATUS[0]}"
}

site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
pth="$site/mmdiverse_mmcv_ext_standin.pth"
echo "[setup_env] installing torch (mmcv: $mode)"
if [[ "$mode" == full ]]; then
    pip_install torch torchvision 'setuptools<82' wheel ninja
    rm -f "$pth"
    "$py" -m pip uninstall --quiet -y mmcv-lite 2>/dev/null || true
    wheel=$(bash "$here/build_mmcv_wheel.sh" "$py" | tail -n 1)
    echo "[setup_env] installing $(basename "$wheel")"
    pip_install --no-deps --force-reinstall "$wheel"
else
    pip_install torch torchvision 'setuptools<82' wheel
    "$py" -m pip uninstall --quiet -y mmcv 2>/dev/null || true
    pip_install --no-deps --force-reinstall 'mmcv-lite==2.1.0'
    # Runs the stand-in's install() at every interpreter start-up, before any
    # import of mmcv.ops (see the module's docstring for why).
    {
        printf "import importlib.util as u, sys; "
        printf "s = u.spec_from_file_location('mmdiverse.compat.mmcv_ext_standin', '%s'); " "$standin"
        printf "m = sys.modules.setdefault(s.name, u.module_from_spec(s)); "
        printf "s.loader.exec_module(m); m.install()\n"
    } > "$pth"
fi

echo "[setup_env] installing the OpenMMLab stack and test tools"
pip_install -r "$root/requirements/runtime.txt" -r "$root/requirements/tests.txt"
pip_install --no-deps --no-build-isolation -e "$root"

"$py" -c "import mmcv.ops, mmseg.models, mmpretrain, mmdiverse" \
    || { echo "[setup_env] the installed stack does not import" >&2; exit 1; }
echo "$fingerprint" > "$stamp"
echo "[setup_env] done in $(( $(date +%s) - start )) s"
