#!/bin/bash
# The GPU checks of one session, as one run on a machine with CUDA (the device tool's
# 15 minutes fit it with room to spare): the CUDA tests, then bench/pool_gpu_launches.py
# (ours launched directly and through Triton's launcher), bench/pool.py --device cuda and
# bench/pool_gpu_host_time.py, each under its own time limit. Logs go to $OUT.
#
#   OUT=gpu_out bash bench/gpu_checks.sh
#
# Where the machine lacks some of the project's dependencies (rapidfuzz, jsonargparse, ...),
# wheels in .whl/ are installed into /tmp/site first.
set -u
OUT=${OUT:-gpu_checks_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
{
    nvidia-smi -L
    python3 -c "import torch, triton, torch_geometric as g; print('torch', torch.__version__, 'triton', triton.__version__, 'torch_geometric', g.__version__)"
} 2>&1 | tee "$OUT/machine.txt"
tests="tests/test_cuda.py tests/test_pool_paths_agree.py tests/test_pool_threshold_merge.py"
timeout 120 python3 -m pytest -p no:cacheprovider -n 0 -q -rA -s $tests -k "cuda and not fit_cli" 2>&1 \
    | tee "$OUT/cuda_tests.log"
# Ours launched directly and through Triton's public launcher, side by side.
timeout 170 python3 bench/pool_gpu_launches.py --parity 0 --repeats 20 --launcher both 2>&1 \
    | tee "$OUT/pool_gpu_launches.log"
timeout 150 python3 bench/pool.py --device cuda --no-memory --edge-pool-max 16384 --max-call-seconds 1 2>&1 \
    | tee "$OUT/pool_cuda.log"
timeout 60 python3 bench/pool_gpu_host_time.py --sizes 2048 --rows 30 2>&1 \
    | tee "$OUT/pool_gpu_host_time.log"
if [ "${FIT_TEST:-0}" = 1 ]; then  # the text model's GPU fit (minutes): FIT_TEST=1
    timeout 150 python3 -m pytest -p no:cacheprovider -n 0 -q -rA -s tests/test_cuda.py -k fit_cli 2>&1 \
        | tee "$OUT/cuda_fit_test.log"
fi
