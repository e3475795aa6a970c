#!/usr/bin/env bash
# Evaluation on a SLURM cluster: one task per GPU, started by srun.
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
# Environment: GPUS (total tasks, default 8), GPUS_PER_NODE (default min(GPUS, 8)),
# CPUS_PER_TASK (default 5), SRUN_ARGS (extra srun options), MASTER_PORT
# (default 29500), PYTHON (interpreter; default .venv/bin/python if present).
# Example: tools/slurm_test.sh gpu eval configs/seg/upernet_swin_l_ade20k.py iter_160000.pth --tta
set -euo pipefail
usage="usage: slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [args...]"
PARTITION=${1:?$usage}
JOB_NAME=${2:?$usage}
CONFIG=${3:?$usage}
CHECKPOINT=${4:?$usage}
shift 4
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
    "$PYTHON" -u "$here/test.py" "$CONFIG" "$CHECKPOINT" --launcher slurm "$@"
