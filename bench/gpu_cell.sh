#!/usr/bin/env bash
# One Gowalla Table 1 cell on a lent GPU, in one go (issue 9 §4). Run it with the device tool:
#   run(command="bash bench/gpu_cell.sh", timeout_s=590)
# Device check first (step and evaluation times: sizes the rest), then pretraining (cached in
# $BET_HOME for the session), then SU, SR and BET at c = 0.95 with the paper's settings; rows are
# appended to docs/table1.csv with device = cuda, each as it completes, and $OUT gets the
# table, the store and the logs. If time runs out, what completed is kept (rerun to continue:
# the store resumes the BET search only within the same machine session).
set -uo pipefail
export BET_HOME=${BET_HOME:-$PWD/.bet-gpu}
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
PY=${PY:-python3}
if ! $PY -c "import torch, scipy, numpy" 2>/dev/null; then
  $PY -m pip install -q -r requirements.txt > "$OUT/pip.log" 2>&1 || { echo "pip install failed"; tail "$OUT/pip.log"; exit 1; }
fi
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
$PY bench/device_check.py --dataset gowalla --device cuda --steps 30 2>&1 | tee "$OUT/device_check.log"
cell=${CELL:-gowalla/lightgcn/0.95}
timeout ${CELL_TIMEOUT:-540} $PY -m bet reproduce --cells "$cell" --methods su,sr,bet --device cuda \
  --store "$OUT/table1-gpu.sqlite" --table docs/table1.csv 2> "$OUT/reproduce.err" | tee "$OUT/reproduce.log"
echo "exit $?"
cp docs/table1.csv "$OUT/table1.csv"
$PY bench/table1_phases.py --store "$OUT/table1-gpu.sqlite" --table docs/table1.csv --pretrain-log /dev/null \
  --rss-log /dev/null | tee "$OUT/phases.md"
