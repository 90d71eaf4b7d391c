#!/usr/bin/env bash
# The project's CUDA checks in one run, on a machine with an NVIDIA GPU: `make gpu-check`, or
# `PYTHON=python3 OUT=dir bash benchmarks/gpu_check.sh` with a Python that has the package's dependencies
# (the package itself from `pip install -e .` or PYTHONPATH=src).
#
#   1. tests:  every gpu-marked test (`pytest tests -m gpu --gpu`): kernels and layers on CUDA against the
#              float64 reference and against the CPU, empty rows, gradients, KV caches, models, autocast,
#              a Lightning bf16 run;
#   2. perf:   the performance tests (`pytest tests/test_attention.py -m benchmark --gpu -s`): the CPU
#              ratios and the same claims on CUDA in fp16, each printing its measured figures;
#   3. layers: `mlattn benchmark` on CUDA at the attention table's size (seq_len 1024) in float16, bfloat16, float32;
#   4. models: benchmarks/model_bench.py --device cuda in fp32 and bf16 autocast (the models' table).
#
# Everything is appended to $OUT/gpu_check.log (default OUT=gpu-check-out); the model figures also go to
# $OUT/model_gpu_{fp32,bf16}.json. Each step is bounded by STEP_TIMEOUT seconds (default 240). The exit status
# is non-zero when any step failed; every step runs regardless.
set -u -o pipefail
PYTHON=${PYTHON:-python3}
OUT=${OUT:-gpu-check-out}
STEP_TIMEOUT=${STEP_TIMEOUT:-240}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
export PYTHONUNBUFFERED=1
failed=()

step() {
    local name=$1
    shift
    echo "=== $name: $*" | tee -a "$LOG"
    local t0=$SECONDS
    timeout "$STEP_TIMEOUT" "$@" 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    echo "=== $name: exit $rc in $((SECONDS - t0)) s" | tee -a "$LOG"
    [ "$rc" = 0 ] || failed+=("$name")
}

step env "$PYTHON" -c "import torch, sys; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', \
torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else 'NO CUDA')"
step tests "$PYTHON" -m pytest tests -m gpu --gpu -q -p no:cacheprovider -rfE --junitxml="$OUT/gpu_tests.xml"
step perf "$PYTHON" -m pytest tests/test_attention.py -m benchmark --gpu -s -v -p no:cacheprovider
for dtype in float16 bfloat16 float32; do
    step "layers_$dtype" "$PYTHON" -m ml_attention_mechanisms.cli.main benchmark --device cuda --dtype "$dtype" \
        --batch 8 --seq-len 1024 --d-model 512 --num-heads 8 --runs 50 --warmup 10
done
for precision in 32 bf16; do
    tag=$([ "$precision" = 32 ] && echo fp32 || echo bf16)
    step "models_$tag" "$PYTHON" benchmarks/model_bench.py --device cuda --precision "$precision" \
        --json "$OUT/model_gpu_$tag.json"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "gpu_check: failed steps: ${failed[*]}" | tee -a "$LOG"
    exit 1
fi
echo "gpu_check: all steps passed" | tee -a "$LOG"
