#!/usr/bin/env bash
# Training on a SLURM cluster: one task per GPU, started by srun; mmengine's
# "slurm" launcher reads SLURM_PROCID / SLURM_NTASKS / SLURM_NODELIST.
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [train.py args...]
# Environment: GPUS (total tasks, default 8), GPUS_PER_NODE (default min(GPUS, 8)),
# CPUS_PER_TASK (default 5), SRUN_ARGS (extra srun options, e.g. "--quotatype=auto"),
# MASTER_PORT (default 29500), PYTHON (interpreter; default .venv/bin/python if present).
# Example: GPUS=16 tools/slurm_train.sh gpu swin_l configs/pretrain/swin_l_diverse.py
set -euo pipefail
usage="usage: slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [args...]"
PARTITION=${1:?$usage}
JOB_NAME=${2:?$usage}
CONFIG=${3:?$usage}
shift 3
WORK_DIR_ARGS=()
if [[ $# -gt 0 && $1 != -* ]]; then
    WORK_DIR_ARGS=(--work-dir "$1")
    shift
fi
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-$( [[ -x "$here/../.venv/bin/python" ]] && echo "$here/../.venv/bin/python" || echo python)}
export MASTER_PORT=${MASTER_PORT:-29500}
export PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}"

# shellcheck disable=SC2086  # SRUN_ARGS is a list of options
exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$here/train.py" "$CONFIG" "${WORK_DIR_ARGS[@]}" --launcher slurm "$@"
