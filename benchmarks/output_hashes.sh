#!/bin/bash
# Fingerprint of the seeded outputs, for refactors that must not change behaviour (issue 16).
# usage: benchmarks/output_hashes.sh REPO OUTDIR
# Runs, with REPO's code and a fresh policy cache: the seeded demo (trains the quickstart
# policy, then the learned and choice populations) and a seeded 1,000-agent quickstart run
# (in-memory memory); writes OUTDIR/hashes.txt, the sha256 of every Parquet and safetensors
# file. Compare two trees with: diff A/hashes.txt B/hashes.txt
set -euo pipefail
REPO=$(cd "$1" && pwd); OUT=$2
rm -rf "$OUT"; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
cd "$REPO"
export PYTHONPATH=$REPO ALIGNUSER_CACHE=$OUT/cache
alignuser demo --out "$OUT/demo" > "$OUT/demo.log" 2>&1
alignuser run scenarios/quickstart.yaml --set population.n_agents=1000 \
  --set memory.backend=inmemory --out "$OUT/a1000" > "$OUT/a1000.log" 2>&1
cd "$OUT" && find . \( -name "*.parquet" -o -name "*.safetensors" \) | sort | xargs sha256sum > hashes.txt
wc -l < hashes.txt
