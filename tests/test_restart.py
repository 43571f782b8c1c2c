"""Checkpoints and `ssbfv run --resume`: a run killed with SIGKILL and resumed ends like an
uninterrupted one, and no results file is left corrupt."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from ssbfv.case import run_case
from ssbfv.case.checkpoint import CheckpointError, load_checkpoint
from ssbfv.cli import main

QUICKSTART = Path(__file__).resolve().parents[1] / "cases" / "quickstart"


def _copy_quickstart(dst: Path, extra_output: str = "") -> Path:
    shutil.copytree(QUICKSTART, dst, ignore=shutil.ignore_patterns("results", "build"))
    text = (dst / "case.toml").read_text()
    text = text.replace("progress_interval_s = 5.0", "progress_interval_s = 5.0\ncheckpoint_interval_s = 0.0\n"
                        + extra_output)
    (dst / "case.toml").write_text(text)
    return dst


def _rows(case):
    with open(case / "results" / "timeseries.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The quickstart run without interruption (checkpoints every step)."""
    case = _copy_quickstart(tmp_path_factory.mktemp("ref") / "qs")
    summary = run_case(case, quiet=True)
    return case, summary


def test_sigkill_and_resume_gives_the_uninterrupted_results(reference, tmp_path):
    ref_case, ref = reference
    case = _copy_quickstart(tmp_path / "qs")
    shutil.copytree(ref_case / "build", case / "build")  # same packing and mesh, no re-meshing
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "ssbfv.cli", "run", str(case), "--quiet"], env=env)
    n_ref = len(_rows(ref_case))
    target = n_ref // 2
    ts = case / "results" / "timeseries.csv"
    t0 = time.time()
    while time.time() - t0 < 600:
        if proc.poll() is not None:
            pytest.fail("the run ended before it could be killed")
        if ts.is_file() and len(ts.read_text().splitlines()) > target:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (case / "results" / "summary.json").exists()
    # whatever the kill interrupted, the files on disk are readable
    ck = load_checkpoint(case / "results" / "checkpoint.h5")
    assert 0 < len(ck["records"]) <= len(_rows(case))
    # resume
    assert main(["run", str(case), "--resume", "--quiet"]) == 0
    s = json.loads((case / "results" / "summary.json").read_text())
    assert s["resumed"] is True
    assert s["end_reason"] == ref["end_reason"]
    assert s["steps"] == ref["steps"]
    assert s["utilised_capacity_mAh_per_cm3"] == pytest.approx(ref["utilised_capacity_mAh_per_cm3"], rel=1e-9)
    rows, ref_rows = _rows(case), _rows(ref_case)
    assert len(rows) == len(ref_rows)
    for key in ("time_s", "voltage_V", "mean_chi"):
        a = np.array([float(r[key]) for r in rows])
        b = np.array([float(r[key]) for r in ref_rows])
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7 if key == "voltage_V" else 1e-9 * max(1.0, b.max()))
    # the field snapshots and profiles are those of the uninterrupted run
    import meshio

    from ssbfv.case.profiles import read_profiles

    times = []
    for c in (case, ref_case):
        with meshio.xdmf.TimeSeriesReader(c / "results" / "fields.xdmf") as r:
            r.read_points_cells()
            times.append([r.read_data(k)[0] for k in range(r.num_steps)])
    assert len(times[0]) >= 3
    np.testing.assert_allclose(times[0], times[1], rtol=1e-12)
    p, q = read_profiles(case / "results" / "profiles.h5"), read_profiles(ref_case / "results" / "profiles.h5")
    np.testing.assert_allclose(p["time_s"], q["time_s"], rtol=1e-12)
    np.testing.assert_allclose(p["c_e_mol_per_m3"], q["c_e_mol_per_m3"], rtol=1e-7)


def test_resume_of_a_finished_run_changes_nothing(reference, tmp_path):
    ref_case, ref = reference
    case = tmp_path / "done"
    shutil.copytree(ref_case, case)
    before = (case / "results" / "timeseries.csv").read_text()
    s = run_case(case, quiet=True, resume=True)
    assert s["steps"] == ref["steps"] and s["end_reason"] == ref["end_reason"]
    assert s["utilised_capacity_mAh_per_cm3"] == pytest.approx(ref["utilised_capacity_mAh_per_cm3"], rel=1e-12)
    assert (case / "results" / "timeseries.csv").read_text() == before


def test_resume_refuses_missing_or_foreign_checkpoints(reference, tmp_path):
    ref_case, _ = reference
    case = tmp_path / "other"
    shutil.copytree(ref_case, case)
    (case / "results" / "checkpoint.h5").unlink()
    with pytest.raises(CheckpointError, match="no checkpoint"):
        run_case(case, quiet=True, resume=True)
    shutil.copy(ref_case / "results" / "checkpoint.h5", case / "results" / "checkpoint.h5")
    (case / "case.toml").write_text((case / "case.toml").read_text().replace("c_rate = 0.5", "c_rate = 0.6"))
    assert main(["run", str(case), "--resume", "--quiet"]) == 2  # another case.toml: clean error
    # a torn write leaves the previous checkpoint: the temporary file is never read
    (case / "results" / "checkpoint.h5.tmp").write_bytes(b"garbage")
    with h5py.File(case / "results" / "checkpoint.h5", "r") as f:
        assert "state" in f


def test_progress_bar_on_a_terminal_and_plain_lines_otherwise(tmp_path):
    """On a terminal (a pty here) the run shows a tqdm bar with SOC and voltage; in a batch
    job (pipes) plain progress lines; run.log gets the plain lines in both cases."""
    import pty

    from test_case import CASE, tiny_mesh

    case = tmp_path / "tiny"
    case.mkdir()
    tiny_mesh(case / "mesh.msh")
    (case / "case.toml").write_text(CASE + "\n[output]\nfields = false\nprogress_interval_s = 0.0\n")
    cmd = [sys.executable, "-m", "ssbfv.cli", "run", str(case)]
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait()
    os.close(master)
    tty_out = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0
    assert "% SOC" in tty_out and "V=" in tty_out  # the bar
    assert "  t = " not in tty_out  # no plain progress lines under the bar
    piped = subprocess.run(cmd, capture_output=True, text=True)
    assert piped.returncode == 0
    assert "% SOC" not in piped.stdout + piped.stderr
    assert "  t = " in piped.stdout
    assert "  t = " in (case / "results" / "run.log").read_text()
