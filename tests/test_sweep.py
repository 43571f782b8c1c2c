"""`ssbfv sweep` / `ssbfv collect`: children, local pool, skipping, SLURM array with a fake sbatch."""

import csv
import json
import os
import stat

import pytest

from ssbfv.case import CaseError, load_case
from ssbfv.case.sweep import make_sweep, parse_set, write_slurm
from ssbfv.cli import main

from test_case import CASE, tiny_mesh


@pytest.fixture
def base(tmp_path):
    d = tmp_path / "base"
    d.mkdir()
    tiny_mesh(d / "mesh.msh")
    (d / "case.toml").write_text(CASE + "\n[output]\nfields = false\n")
    return d


def test_parse_set():
    assert parse_set("protocol.c_rate=0.2,0.5") == (["protocol", "c_rate"], [0.2, 0.5])
    assert parse_set("parameters.overrides.solid.D_s=1e-14,2e-14") == (
        ["parameters", "overrides", "solid.D_s"], [1e-14, 2e-14])
    assert parse_set("protocol.mode=discharge,\"charge\"")[1] == ["discharge", "charge"]
    for bad in ("protocol.c_rate", "c_rate=1", "protocol.c_rate=", "protocol.c_rate=1..2"):
        with pytest.raises(CaseError):
            parse_set(bad)


def test_sweep_two_parameters_two_jobs_skip_and_collect(base, capsys):
    sets = ["--set", "protocol.c_rate=1.0,2.0", "--set", "parameters.overrides.solid.D_s=1e-14,3e-14"]
    assert main(["sweep", str(base), *sets, "--jobs", "2"]) == 0
    sweep = base.parent / "base_sweep"
    meta = json.loads((sweep / "sweep.json").read_text())
    assert len(meta["members"]) == 4
    rows = list(csv.DictReader(open(sweep / "collect.csv")))
    assert len(rows) == 4 and all(r["status"] == "done" for r in rows)
    for r in rows:
        m = next(m for m in meta["members"] if m["name"] == r["member"])
        cfg = load_case(m["directory"])
        assert cfg.protocol["c_rate"] == float(r["protocol.c_rate"])
        assert cfg.overrides["solid.D_s"] == float(r["parameters.overrides.solid.D_s"])
        s = json.loads((cfg.output_dir / "summary.json").read_text())
        assert float(r["utilised_capacity_mAh_per_cm3"]) == pytest.approx(s["utilised_capacity_mAh_per_cm3"])
        assert s["c_rate"] == cfg.protocol["c_rate"]
    assert (sweep / "overlay.png").stat().st_size > 1000
    # capacity doubles with the C-rate at a fixed end time (t_end 40 s)
    caps = {(r["protocol.c_rate"], r["parameters.overrides.solid.D_s"]): float(r["utilised_capacity_mAh_per_cm3"])
            for r in rows}
    assert caps[("2.0", "1e-14")] == pytest.approx(2 * caps[("1.0", "1e-14")], rel=1e-6)
    mtimes = {p: p.stat().st_mtime_ns for p in sweep.glob("*/results/summary.json")}
    capsys.readouterr()
    assert main(["sweep", str(base), *sets]) == 0
    assert capsys.readouterr().out.count("finished earlier") == 4
    assert {p: p.stat().st_mtime_ns for p in sweep.glob("*/results/summary.json")} == mtimes


def test_bad_sweeps_are_clear_errors(base, capsys):
    assert main(["sweep", str(base), "--set", "protocol.c_rate=1.0,-2"]) == 2
    assert "c_rate = -2 is out of range" in capsys.readouterr().err
    assert main(["sweep", str(base), "--set", "protocol.nope=1"]) == 2
    assert "unknown key [protocol] 'nope'" in capsys.readouterr().err
    with pytest.raises(CaseError, match="at least one"):
        make_sweep(base, [])


def test_slurm_array_with_a_fake_sbatch(base, tmp_path, monkeypatch):
    sweep = make_sweep(base, ["protocol.c_rate=1.0,2.0,4.0"], tmp_path / "sw")
    script = write_slurm(sweep, time="01:00:00", cpus=2, partition="short", account="proj")
    text = script.read_text()
    assert "#SBATCH --array=0-2" in text and "#SBATCH --cpus-per-task=2" in text
    assert "#SBATCH --partition=short" in text and "#SBATCH --account=proj" in text
    assert "#SBATCH --time=01:00:00" in text and "mpirun" not in text
    from ssbfv.case.sweep import collect

    rows = list(csv.DictReader(open(collect(sweep, plot=False))))
    assert [r["status"] for r in rows] == ["missing"] * 3
    # a fake sbatch that runs the array tasks one after the other
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "sbatch"
    fake.write_text("#!/bin/bash\nn=$(grep -c . \"$(dirname \"$1\")/members.txt\")\n"
                    "for ((i=0; i<n; i++)); do SLURM_ARRAY_TASK_ID=$i SLURM_CPUS_PER_TASK=1 bash \"$1\" || exit 1; done\n"
                    "echo Submitted batch job 42\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    assert main(["sweep", str(base), "--set", "protocol.c_rate=1.0,2.0,4.0", "--out", str(tmp_path / "sw"),
                 "--slurm", "--submit"]) == 0
    assert main(["collect", str(tmp_path / "sw")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "sw" / "collect.csv")))
    assert [r["status"] for r in rows] == ["done"] * 3
    with pytest.raises(CaseError, match="HH:MM:SS"):
        write_slurm(sweep, time="1h")
