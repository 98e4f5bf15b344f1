#!/usr/bin/env bash
# Builds the google-benchmark programs (Release, build/bench) and runs each of them with the
# given flags, e.g.  bash bench/cpp/run.sh --benchmark_filter=conv --benchmark_repetitions=5
# Needs google-benchmark (Debian/Ubuntu: apt-get install libbenchmark-dev).
set -eo pipefail
cd "$(dirname "$0")/../.."
PY="$(command -v python3 || command -v python)"
cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMBER_BUILD_BENCH=ON \
  -DPython_EXECUTABLE="$PY" >/dev/null
progs=$(for f in bench/cpp/bench_*.cpp; do basename "$f" .cpp; done)
cmake --build build/bench --target $progs  # only the programs (not the Python module)
for prog in $progs; do
  echo "== $prog"
  "build/bench/bench/cpp/$prog" "$@"
done
