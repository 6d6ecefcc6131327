#!/usr/bin/env bash
# The GPU checks (tests/test_gpu.py): `bash tests/run_gpu.sh` on a machine with CUDA runs
# `pytest -m gpu -s` and prints the figures ([gpu] lines) at the end. Extra arguments go
# to pytest.
#
# A GPU machine needs no network: what it lacks beyond Python 3.12, torch, torchaudio,
# sacrebleu, sentencepiece, pyarrow and pytest (fairseq, the packages fairseq and the
# plugin import, and the part of the Fish Fillets data the tests read) comes from
# .gpu-wheelhouse/, which `bash tests/run_gpu.sh --pack` fills on a machine with network
# (cp312 manylinux wheels, fairseq-fixed's included where the index has one for cp312, else its
# source, built there with the machine's torch).
# Installs go into .gpu-venv/, a venv over the system's packages; nothing else is touched.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
house=${MU2SLAM_GPU_WHEELHOUSE:-$repo/.gpu-wheelhouse}
target_python=3.12
# distribution:module of what fairseq (its task and criterion registries import
# scikit-learn) and the plugin import, beyond the GPU machine's own packages
needed=(
  hydra-core:hydra omegaconf:omegaconf antlr4-python3-runtime:antlr4 PyYAML:yaml
  bitarray:bitarray regex:regex scikit-learn:sklearn scipy:scipy joblib:joblib
  threadpoolctl:threadpoolctl tqdm:tqdm editdistance:editdistance soundfile:soundfile
  cffi:cffi pycparser:pycparser packaging:packaging wheel:wheel narwhals:narwhals
  typing-extensions:typing_extensions cloudpickle:cloudpickle jiwer:jiwer rapidfuzz:rapidfuzz
  click:click
)
# the Fish Fillets files tests/pretrain_corpus.py reads: the alibaba level's Dutch clips
# and the nl, de and fr dialogue scripts
fillets_files=("sound/alibaba/nl/*.ogg" "script/*/dialogs_nl.lua" "script/*/dialogs_de.lua" "script/*/dialogs_fr.lua")

if [ "${1:-}" = "--pack" ]; then
  # the project's venv (the verified versions) does the downloads
  if [ -n "${PACK_PYTHON:-}" ]; then
    py=$PACK_PYTHON
  else
    py="$(bash "$repo/examples/install.sh" | tail -n 1)/bin/python"
  fi
  rm -rf "$house"
  mkdir -p "$house/wheels"
  pins=()
  for pair in "${needed[@]}"; do
    dist=${pair%%:*}
    pins+=("$dist==$("$py" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$dist")")
  done
  binary=() source=()
  for pin in "${pins[@]}"; do
    case $pin in
      antlr4-python3-runtime==*) source+=("$pin") ;;  # published as source only: made a wheel here
      *) binary+=("$pin") ;;
    esac
  done
  echo "[pack] wheels for CPython $target_python: ${pins[*]}" >&2
  "$py" -m pip download -q --no-deps --only-binary=:all: --implementation cp \
    --python-version "$target_python" --platform manylinux2014_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_28_x86_64 -d "$house/wheels" "${binary[@]}"
  "$py" -m pip wheel -q --no-deps -w "$house/wheels" "${source[@]}"
  fairseq=$("$py" -c "import importlib.metadata as m; print(m.version('fairseq-fixed'))")
  if "$py" -m pip download -q --no-deps --only-binary=:all: --implementation cp \
    --python-version "$target_python" --platform manylinux_2_28_x86_64 -d "$house/fairseq" \
    "fairseq-fixed==$fairseq"; then
    # its Cython parts are all the plugin needs; its torch C++ extensions (NAT, BASE layers,
    # alignment) and the examples' test data are left out: a third of the size
    echo "[pack] fairseq-fixed==$fairseq wheel for CPython $target_python, slimmed" >&2
    "$py" - "$house/fairseq"/fairseq_fixed-*.whl "$house/wheels" <<'PY'
import re, sys, zipfile
from pathlib import Path
src, out = Path(sys.argv[1]), Path(sys.argv[2])
drop = re.compile(r"(^alignment_train_cpu_binding|^fairseq/lib(nat|base)\.).*\.so$|\.npy$|^fairseq/examples/.*/(tests|data)/")
with zipfile.ZipFile(src) as zi, zipfile.ZipFile(out / src.name, "w", zipfile.ZIP_DEFLATED) as zo:
    for info in zi.infolist():
        if drop.search(info.filename):
            continue
        data = zi.read(info)
        if info.filename.endswith(".dist-info/RECORD"):
            kept = [r for r in data.decode().splitlines() if not drop.search(r.split(",")[0])]
            data = ("\n".join(kept) + "\n").encode()
        zo.writestr(info, data)
PY
    rm -rf "$house/fairseq"
  else
    echo "[pack] fairseq-fixed==$fairseq source (no wheel for CPython $target_python)" >&2
    "$py" -m pip download -q --no-deps --no-build-isolation --no-binary=:all: \
      -d "$house" "fairseq-fixed==$fairseq"
  fi
  root=$("$py" -c "
from mu2slam_manifests.debian import fetch_packages
print(fetch_packages(['fillets-ng-data', 'fillets-ng-data-cs', 'fillets-ng-data-nl']) / 'usr/share/games/fillets-ng')")
  (cd "$root" && for pattern in "${fillets_files[@]}"; do
    # shellcheck disable=SC2086  # the pattern is meant to expand
    for f in $pattern; do install -D -m 644 "$f" "$house/fillets-ng/$f"; done
  done)
  du -sh "$house" >&2
  exit 0
fi

if ! command -v "python$target_python" >/dev/null && [ -z "${GPU_PYTHON:-}" ]; then
  echo "no python$target_python here (set GPU_PYTHON to another interpreter with torch)" >&2
  exit 1
fi
python=${GPU_PYTHON:-python$target_python}
if [ ! -d "$house/wheels" ]; then
  echo "$house/wheels is missing: run \`bash tests/run_gpu.sh --pack\` on a machine with network" >&2
  exit 1
fi
"$python" -c "import torch; print('[gpu] torch', torch.__version__, 'CUDA', torch.version.cuda, \
  'devices:', [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] or 'none')"

venv=$repo/.gpu-venv
[ -x "$venv/bin/python" ] || "$python" -m venv --system-site-packages "$venv"
vpy=$venv/bin/python
# where the interpreter is itself a venv's (torch installed there, not in the system's
# site-packages), --system-site-packages does not reach its packages: a .pth does
site=$("$vpy" -c "import sysconfig; print(sysconfig.get_path('purelib'))")
"$python" -c "import sysconfig; print(sysconfig.get_path('purelib'))" > "$site/gpu-python-packages.pth"
missing=()
for pair in "${needed[@]}"; do
  "$vpy" -c "import ${pair#*:}" 2>/dev/null || missing+=("${pair%%:*}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[gpu] installing ${missing[*]}" >&2
  "$vpy" -m pip install -q --no-index --no-deps --find-links "$house/wheels" "${missing[@]}"
fi
if ! "$vpy" -c "import fairseq" 2>/dev/null; then
  if ls "$house"/wheels/fairseq_fixed-*.whl >/dev/null 2>&1; then
    "$vpy" -m pip install -q --no-index --no-deps "$house"/wheels/fairseq_fixed-*.whl
  else
    echo "[gpu] building fairseq-fixed (its C++ and Cython parts; no CUDA kernels)" >&2
    # without CUDA_HOME, fairseq's setup.py builds no CUDA extension (nvcc is not needed)
    env -u CUDA_HOME MAX_JOBS="$(nproc)" "$vpy" -m pip install -q --no-index --no-deps \
      --no-build-isolation "$house"/fairseq_fixed-*.tar.gz
  fi
fi
# the plugin from this checkout, as setup.py lays it out (mu2slam_manifests is manifests/)
mkdir -p "$venv/shim"
ln -sfn "$repo/manifests" "$venv/shim/mu2slam_manifests"
printf '%s\n%s\n' "$repo" "$venv/shim" > "$site/mu2slam-checkout.pth"

cd "$repo"
export OMP_WAIT_POLICY=PASSIVE MU2SLAM_FILLETS_ROOT="$house/fillets-ng"
export MU2SLAM_TEST_THREADS=${MU2SLAM_TEST_THREADS:-8}
log=$(mktemp)
status=0
"$vpy" -m pytest tests/test_gpu.py -m gpu -s -p no:cacheprovider "$@" 2>&1 | tee "$log" || status=$?
echo "---- figures"
grep -o '\[gpu\].*' "$log" || echo "(none: no GPU test ran)"
rm -f "$log"
exit "$status"
