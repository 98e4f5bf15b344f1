"""The Metal emulator's extensions (simdgroup_matrix, atomics, bfloat) checked on their own: builds
tests/metal_emu/*.{metal,cpp} as C++20 against csrc/backend/metal/emu/ and runs the checks, each
under several fiber schedules and threadgroup-memory poisons."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CXX = os.environ.get("CXX") or shutil.which("g++") or shutil.which("clang++")


@pytest.mark.skipif(CXX is None, reason="no C++ compiler")
def test_emulator_extensions(tmp_path):
    exe = tmp_path / "emu_ext"
    src = ROOT / "tests" / "metal_emu"
    cmd = [
        CXX,
        "-std=c++20",
        "-O1",
        "-Wall",
        "-Wextra",
        "-Werror",
        f"-I{ROOT / 'csrc'}",
        f"-I{ROOT / 'metal'}",
    ]
    cmd += [
        "-x",
        "c++",
        str(src / "emu_ext_checks.metal"),
        "-x",
        "c++",
        str(src / "test_emu_ext.cpp"),
    ]
    cmd += ["-o", str(exe), "-pthread"]
    if "libasan" in os.environ.get("LD_PRELOAD", ""):  # scripts/sanitize.sh: the fibers under ASan
        cmd += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-Wno-clobbered"]
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-4000:]
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "9 passed, 0 failed" in run.stdout, run.stdout
    # un-annotated fiber switches make ASan lose track of the stack ("False positive error
    # reports may follow"): runtime.h announces each one
    assert "ASan is ignoring" not in run.stderr, run.stderr[-4000:]
