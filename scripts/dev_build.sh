#!/usr/bin/env bash
# Incremental developer build into build/dev; the extension is copied next to the Python
# sources so `PYTHONPATH=python python -m pytest` uses it. Serialized with a lock so several
# people (or agents) can call it. `EMBER_METAL_EMULATOR=1 bash scripts/dev_build.sh` builds into
# build/dev-metal with the Metal backend running on the CPU emulator (device "metal" on Linux).
set -eo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/ember-build.lock
flock 9
B=build/dev EXTRA=()
if [ "${EMBER_METAL_EMULATOR:-0}" = 1 ]; then B=build/dev-metal EXTRA=(-DEMBER_METAL_EMULATOR=ON); fi
if [ ! -f $B/build.ninja ]; then
  cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$(command -v python)" "${EXTRA[@]}" >/dev/null
fi
cmake --build $B 2>&1 | grep -E "error|Error|FAILED|warning: unused" | head -60 || true
cmake --build $B >/dev/null 2>&1 || { echo "BUILD FAILED"; exit 1; }
# copy then rename: running Python processes keep their mapped copy (overwriting in place
# would crash them with SIGBUS)
for so in $B/_C*.so; do
  cp "$so" "python/ember/.$(basename "$so").tmp" && mv -f "python/ember/.$(basename "$so").tmp" "python/ember/$(basename "$so")"
done
[ -f $B/_C.pyi ] && cp $B/_C.pyi python/ember/ || true
echo "build ok"
