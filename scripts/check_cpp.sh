#!/usr/bin/env bash
# Syntax/type-check C++ sources without touching the shared build dir: scripts/check_cpp.sh FILE...
set -e
cd "$(dirname "$0")/.."
PYINC=$(python -c "import sysconfig;print(sysconfig.get_paths()['include'])")
NBINC=$(python -c "import nanobind;print(nanobind.include_dir())")
for f in "$@"; do
  g++ -std=c++20 -fsyntax-only -Wall -Wno-sign-compare -Wno-unused-function -Icsrc -I"$PYINC" -I"$NBINC" "$f"
done
