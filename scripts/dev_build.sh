#!/usr/bin/env bash
# Incremental developer build into build/dev; the extension is copied next to the Python
# sources so `PYTHONPATH=python python -m pytest` uses it. Serialized with a lock so several
# people (or agents) can call it.
set -eo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/ember-build.lock
flock 9
if [ ! -f build/dev/build.ninja ]; then
  cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$(command -v python)" >/dev/null
fi
cmake --build build/dev 2>&1 | grep -E "error|Error|FAILED|warning: unused" | head -60 || true
cmake --build build/dev >/dev/null 2>&1 || { echo "BUILD FAILED"; exit 1; }
# copy then rename: running Python processes keep their mapped copy (overwriting in place
# would crash them with SIGBUS)
for so in build/dev/_C*.so; do
  cp "$so" "python/ember/.$(basename "$so").tmp" && mv -f "python/ember/.$(basename "$so").tmp" "python/ember/$(basename "$so")"
done
[ -f build/dev/_C.pyi ] && cp build/dev/_C.pyi python/ember/ || true
echo "build ok"
