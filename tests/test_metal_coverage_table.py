"""scripts/metal_coverage.py (the docs/metal_coverage.md generator) on a few ops: run in a
subprocess, since it clears the executed-kernel record the suite's coverage check reads."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import requires_metal

pytestmark = requires_metal

ROOT = Path(__file__).resolve().parent.parent


def _rows(tmp_path, ops):
    out = tmp_path / "cov.md"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, str(ROOT / "scripts/metal_coverage.py"), "--ops", ops, "--out", str(out)]
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=300)
    rows = {}
    for line in out.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 4 and cells[1] in ("float32", "float16", "bfloat16"):
            rows[(cells[0], cells[1])] = (cells[2], cells[3])
    return rows


def test_generator_small_subset(tmp_path):
    rows = _rows(tmp_path, "matmul,argmax(dim),Adam step")
    assert set(rows) == {
        (op, dt)
        for op in ("matmul", "argmax(dim)", "Adam step")
        for dt in ("float32", "float16", "bfloat16")
    }
    # forward and backward each list their own kernels (the record is cleared in between)
    for dt in ("float32", "float16", "bfloat16"):
        fwd, bwd = rows[("matmul", dt)]
        assert fwd == f"`gemm_tiled_{dt}`"
        assert f"`gemm_tiled_{dt}`" in bwd
        assert rows[("argmax(dim)", dt)] == (f"`reduce_strided_{dt}`", "-")
        assert f"`adam_step_{dt}`" in rows[("Adam step", dt)][0]


def test_generator_rejects_unknown_op(tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "scripts/metal_coverage.py"),
        "--ops",
        "nope",
        "--out",
        str(tmp_path / "x.md"),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "unknown ops ['nope']" in r.stderr
