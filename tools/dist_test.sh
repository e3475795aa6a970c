#!/usr/bin/env bash
# Distributed evaluation through torchrun.
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
set -euo pipefail
CONFIG=${1:?usage: dist_test.sh CONFIG CHECKPOINT GPUS [args...]}
CHECKPOINT=${2:?usage: dist_test.sh CONFIG CHECKPOINT GPUS [args...]}
GPUS=${3:?usage: dist_test.sh CONFIG CHECKPOINT GPUS [args...]}
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-$( [[ -x "$here/../.venv/bin/python" ]] && echo "$here/../.venv/bin/python" || echo python)}

PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$here/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
