#!/usr/bin/env bash
# Create or update .venv/ at the repository root with the pinned OpenMMLab stack
# and mmdiverse installed in editable mode. Idempotent: when the requirement
# files, setup.py and these install scripts are unchanged since the last
# successful run, it returns at once.
#
# Environment:
#   PYTHON                 interpreter used to create the venv (default python3)
#   MMDIVERSE_WHEEL_CACHE  where the compiled mmcv wheel is kept (build_mmcv_wheel.sh)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv="$root/.venv"
stamp="$venv/.mmdiverse-install-stamp"
here="$root/tools/install"

fingerprint=$(cat "$root"/requirements/*.txt "$root/setup.py" "$here"/*.sh | sha256sum | cut -d' ' -f1)
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

echo "[setup_env] installing torch and build tools"
pip_install torch torchvision 'setuptools<82' wheel ninja

wheel=$(bash "$here/build_mmcv_wheel.sh" "$py" | tail -n 1)
echo "[setup_env] installing $(basename "$wheel")"
pip_install --no-deps "$wheel"

echo "[setup_env] installing the OpenMMLab stack and test tools"
pip_install -r "$root/requirements/runtime.txt" -r "$root/requirements/tests.txt"
pip_install --no-deps --no-build-isolation -e "$root"

"$py" -c "import mmcv.ops, mmseg, mmpretrain, mmdiverse" \
    || { echo "[setup_env] the installed stack does not import" >&2; exit 1; }
echo "$fingerprint" > "$stamp"
echo "[setup_env] done in $(( $(date +%s) - start )) s"
