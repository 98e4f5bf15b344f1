#!/usr/bin/env bash
# Build ember with AddressSanitizer + UndefinedBehaviorSanitizer into build/asan and run the
# tests against it: bash scripts/sanitize.sh [pytest args, default: tests -x -q].
# Python itself is not instrumented, so the ASan runtime is preloaded; leak checking is off
# (CPython's arenas and interned objects look like leaks). EMBER_METAL_EMULATOR=1 builds
# build/asan-metal instead, with device "metal" on the (sanitized) CPU emulator;
# EMBER_SANITIZE_ISA=base instruments the portable kernels instead of AVX2 (build/asan-base).
set -eo pipefail
cd "$(dirname "$0")/.."
SAN="${EMBER_SANITIZE:-address,undefined}"
# kernels are instrumented in one ISA variant (the others build fast, uninstrumented): run that one
ISA="${EMBER_SANITIZE_ISA:-$([ "$(uname -m)" = x86_64 ] && grep -qw avx2 /proc/cpuinfo && echo avx2 || echo base)}"
export EMBER_CPU_ISA="$([ "$ISA" = base ] && echo scalar || echo "$ISA")"
B=build/asan EXTRA=()
[ -n "${EMBER_SANITIZE_ISA:-}" ] && B=$B-$ISA  # one build directory per instrumented ISA
if [ "${EMBER_METAL_EMULATOR:-0}" = 1 ]; then B=$B-metal EXTRA=(-DEMBER_METAL_EMULATOR=ON); fi
(
  flock 9  # builds are serialized machine-wide, as in dev_build.sh
  if [ ! -f $B/build.ninja ]; then
    cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
      -DEMBER_SANITIZE="$SAN" -DEMBER_SANITIZE_ISA="$ISA" -DPython_EXECUTABLE="$(command -v python)" "${EXTRA[@]}" >/dev/null
  fi
  cmake --build $B
) 9>/tmp/ember-build.lock
# a private copy of the package next to the sanitized extension (python/ember keeps the dev build)
rm -rf $B/py && mkdir -p $B/py
cp -r python/ember $B/py/ember
rm -f $B/py/ember/_C*.so && cp $B/_C*.so $B/py/ember/
CXX="${CXX:-c++}"
export LD_PRELOAD="$($CXX -print-file-name=libasan.so) $($CXX -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_odr_violation=0:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
export PYTHONPATH="$PWD/$B/py"
[ $# -eq 0 ] && set -- tests -x -q
# --capture=sys: pytest's default fd capture would swallow the report of a run that aborts
exec python -m pytest -p no:cacheprovider --capture=sys "$@"
