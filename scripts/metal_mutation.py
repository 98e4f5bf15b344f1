#!/usr/bin/env python
"""Barrier mutation test of the Metal kernels: deletes each `threadgroup_barrier` line tagged
`// barrier` in metal/*.metal in turn, rebuilds the emulated extension (only the changed kernel
file recompiles; all builds in one hold of the build lock) and runs that family's tests (tests/test_metal_<family>.py, which run every
kernel under several fiber schedules and threadgroup-memory poisons). A mutant must make some test
fail. Usage: python scripts/metal_mutation.py [family ...]   (slow: one relink per barrier)."""

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the emulator build of scripts/dev_build.sh (EMBER_METAL_EMULATOR=1) when present: only the mutated
# kernel file recompiles; builds take the same machine-wide lock as dev_build.sh
BUILD = Path(os.environ.get("EMBER_MUTATION_BUILD", ROOT / "build" / "dev-metal"))
LOCK = "/tmp/ember-build.lock"


def _build() -> Path:
    if not (BUILD / "build.ninja").exists():
        subprocess.run(
            [
                "cmake",
                "-S",
                str(ROOT),
                "-B",
                str(BUILD),
                "-G",
                "Ninja",
                "-DCMAKE_BUILD_TYPE=Release",
                "-DEMBER_METAL_EMULATOR=ON",
                f"-DPython_EXECUTABLE={sys.executable}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    subprocess.run(["cmake", "--build", str(BUILD)], check=True, stdout=subprocess.DEVNULL)
    return next(BUILD.glob("_C*.so"))


def run_tests(so: Path, family: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as tmp:
        pkg = Path(tmp) / "ember"
        shutil.copytree(
            ROOT / "python" / "ember", pkg, ignore=shutil.ignore_patterns("_C*.so", "__pycache__")
        )
        shutil.copy(so, pkg / so.name)
        test = ROOT / "tests" / f"test_metal_{family}.py"
        return subprocess.run(
            [sys.executable, "-m", "pytest", str(test), "-x", "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": tmp},
            capture_output=True,
            text=True,
        )


def main() -> int:
    families = sys.argv[1:]
    sources = sorted((ROOT / "metal").glob("*.metal"))
    mutants = [
        (src, i)
        for src in sources
        if not families or src.stem in families
        for i, line in enumerate(src.read_text().splitlines())
        if "// barrier" in line
    ]
    with tempfile.TemporaryDirectory() as keep, open(LOCK, "w") as lock:
        # every build under one hold of the machine-wide lock (a busy machine makes each wait
        # long); each mutant's extension is kept aside and tested after the lock is released
        fcntl.flock(lock, fcntl.LOCK_EX)
        sos = []
        for k, mutant in enumerate([None, *mutants]):
            src, i = mutant or (None, 0)
            text = src.read_text() if src else ""
            try:
                if src:
                    lines = text.splitlines(keepends=True)
                    src.write_text("".join(lines[:i] + lines[i + 1 :]))
                so = _build()
            finally:
                if src:
                    src.write_text(text)
            kept = Path(keep) / str(k) / so.name
            kept.parent.mkdir()
            shutil.copy(so, kept)
            sos.append(kept)
        _build()  # leave the mutation build matching the sources
        fcntl.flock(lock, fcntl.LOCK_UN)
        base = {src.stem: run_tests(sos[0], src.stem).returncode for src, _ in mutants}
        bad = [f for f, rc in base.items() if rc != 0]
        if bad:
            print("the unmutated tests fail for:", ", ".join(bad))
            return 1
        caught = 0
        for (src, i), so in zip(mutants, sos[1:]):
            r = run_tests(so, src.stem)
            ok = r.returncode != 0
            caught += ok
            why = next((ln for ln in r.stdout.splitlines() if ln.startswith("FAILED")), "")
            print(f"{'caught  ' if ok else 'SURVIVED'} {src.name}:{i + 1}  {why[:150]}", flush=True)
    print(f"mutants: {caught} caught, {len(mutants) - caught} survived")
    return 0 if caught == len(mutants) else 1


if __name__ == "__main__":
    sys.exit(main())
