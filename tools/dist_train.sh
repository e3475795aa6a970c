#!/usr/bin/env bash
# Distributed training through torchrun: one process per GPU (or per CPU slot,
# with the gloo backend, when no GPU is visible).
#   tools/dist_train.sh CONFIG GPUS [train.py args...]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
set -euo pipefail
CONFIG=${1:?usage: dist_train.sh CONFIG GPUS [args...]}
GPUS=${2:?usage: dist_train.sh CONFIG GPUS [args...]}
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
    "$here/train.py" "$CONFIG" --launcher pytorch "${@:3}"
