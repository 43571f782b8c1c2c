"""`ssbfv sweep` / `ssbfv collect`: children, local pool, skipping, shared geometry, SLURM array
with a fake sbatch, clear errors."""

import csv
import json
import os
import stat

import pytest

from ssbfv.case import CaseError, load_case
from ssbfv.case.sweep import collect, finished, make_sweep, parse_set, run_sweep, write_slurm
from ssbfv.cli import main

from test_case import CASE, tiny_mesh
from helpers import tiny_packing

PACKING = tiny_packing(seed=1)
PACKING_CASE = """[geometry]
packing = "packing.toml"
voxel_size_um = 2.0
[parameters]
set = "nvp_peo_nasicon"
[protocol]
mode = "discharge"
c_rate = 1.0
t_end_s = 20.0
[numerics]
dt0_s = 5.0
dt_max_s = 10.0
[output]
fields = false
"""


@pytest.fixture
def base(tmp_path):
    """A 72-cell case on a mesh file, 40 s at 1C (about a second per run)."""
    d = tmp_path / "base"
    d.mkdir()
    tiny_mesh(d / "mesh.msh")
    (d / "case.toml").write_text(CASE + "\n[output]\nfields = false\n")
    return d


def test_parse_set():
    assert parse_set("protocol.c_rate=0.2,0.5") == (["protocol", "c_rate"], [0.2, 0.5])
    for form in ("parameters.overrides.solid.D_s=1e-14,2e-14", "parameters.overrides[solid.D_s]=1e-14,2e-14",
                 'parameters.overrides."solid.D_s"=1e-14,2e-14', "parameters.overrides.'solid.D_s'=1e-14,2e-14"):
        assert parse_set(form) == (["parameters", "overrides", "solid.D_s"], [1e-14, 2e-14]), form
    assert parse_set("protocol.mode=discharge,\"charge\"")[1] == ["discharge", "charge"]
    assert parse_set('case.description="a, b",c')[1] == ["a, b", "c"]
    assert parse_set("numerics.max_outer=10,20")[1] == [10, 20]
    assert parse_set("output.fields=true,false")[1] == [True, False]
    for bad, msg in [("protocol.c_rate", "KEY=V1"), ("c_rate=1", "SECTION.KEY"), ("protocol.c_rate=", "no values"),
                     ("protocol.c_rate=1..2", "not a TOML scalar"), ("protocol.c_rate=[1,2]", "not a TOML scalar"),
                     ("protocol.c_rate={a=1}", "not a"), ("protocol.c_rate=1,1.0,1", "given twice"),
                     ("protocol.c_rate.x=1", "SECTION.KEY"), ("parameters.overrides=1", "SECTION.KEY"),
                     ('parameters."a"b=1', "not a TOML key"), ('parameters."overrides=1', "KEY=V1"), (".c_rate=1", "SECTION.KEY")]:
        with pytest.raises(CaseError, match=msg) as exc:
            parse_set(bad)
        assert repr(bad) in str(exc.value)


def test_children_are_complete_cases(base, tmp_path):
    sweep = make_sweep(base, ["protocol.c_rate=0.1234567,0.1234568", "parameters.overrides[kinetics.k]=1e-12"],
                       tmp_path / "sw")
    meta = json.loads((sweep / "sweep.json").read_text())
    names = [m["name"] for m in meta["members"]]
    assert len(set(names)) == 2 and all("__k=1e-12" in n for n in names)  # %g would clash: repr
    assert meta["base"] == str(base) and len(meta["sets"]) == 2
    assert (sweep / "members.txt").read_text().split() == [m["directory"] for m in meta["members"]]
    for m in meta["members"]:
        cfg = load_case(m["directory"])
        assert cfg.geometry["mesh"] == base / "mesh.msh"  # the base case's file, absolute
        assert cfg.overrides == {"solid.D_s": 2e-14, "kinetics.k": 1e-12}  # base overrides kept
        assert cfg.protocol["c_rate"] == m["settings"]["protocol.c_rate"]
        assert cfg.output_dir == cfg.directory / "results"
    mtime = {n: (sweep / n / "case.toml").stat().st_mtime_ns for n in names}
    make_sweep(base, ["protocol.c_rate=0.1234567,0.1234568", "parameters.overrides[kinetics.k]=1e-12"], sweep)
    assert {n: (sweep / n / "case.toml").stat().st_mtime_ns for n in names} == mtime  # unchanged: not rewritten


def test_sweep_two_parameters_two_jobs_skip_and_collect(base, capsys):
    sets = ["--set", "protocol.c_rate=1.0,2.0", "--set", "parameters.overrides[solid.D_s]=1e-14,3e-14"]
    assert main(["sweep", str(base), *sets, "--jobs", "2"]) == 0
    sweep = base.parent / "base_sweep"
    meta = json.loads((sweep / "sweep.json").read_text())
    assert len(meta["members"]) == 4
    assert sorted(m["name"] for m in meta["members"]) == [
        "c_rate=1__D_s=1e-14", "c_rate=1__D_s=3e-14", "c_rate=2__D_s=1e-14", "c_rate=2__D_s=3e-14"]
    rows = list(csv.DictReader(open(sweep / "collect.csv")))
    assert len(rows) == 4 and all(r["status"] == "done" for r in rows)
    for col in ("end_reason", "utilised_capacity_mAh_per_cm3", "utilised_capacity_mAh_per_cm2", "utilisation",
                "final_soc", "time_s", "steps", "wall_time_s"):
        assert col in rows[0]
    for r in rows:
        m = next(m for m in meta["members"] if m["name"] == r["member"])
        cfg = load_case(m["directory"])
        assert cfg.protocol["c_rate"] == float(r["protocol.c_rate"])
        assert cfg.overrides["solid.D_s"] == float(r["parameters.overrides.solid.D_s"])
        s = json.loads((cfg.output_dir / "summary.json").read_text())
        for k in ("utilised_capacity_mAh_per_cm3", "utilised_capacity_mAh_per_cm2", "utilisation", "final_soc",
                  "time_s", "wall_time_s"):
            assert float(r[k]) == pytest.approx(s[k], rel=1e-12), k
        assert int(r["steps"]) == s["steps"] and r["end_reason"] == s["end_reason"] == "t_end"
        assert s["c_rate"] == cfg.protocol["c_rate"] and s["overrides"]["solid.D_s"] == cfg.overrides["solid.D_s"]
    assert (sweep / "overlay.png").stat().st_size > 1000
    # capacity doubles with the C-rate at a fixed end time (t_end 40 s)
    caps = {(r["protocol.c_rate"], r["parameters.overrides.solid.D_s"]): float(r["utilised_capacity_mAh_per_cm3"])
            for r in rows}
    assert caps[("2.0", "1e-14")] == pytest.approx(2 * caps[("1.0", "1e-14")], rel=1e-6)
    # re-run: nothing runs again
    mtimes = {p: p.stat().st_mtime_ns for p in sweep.glob("*/results/summary.json")}
    assert len(mtimes) == 4
    capsys.readouterr()
    assert main(["sweep", str(base), *sets]) == 0
    assert capsys.readouterr().out.count("finished earlier") == 4
    assert {p: p.stat().st_mtime_ns for p in sweep.glob("*/results/summary.json")} == mtimes
    # a torn summary.json is not finished; a changed case.toml makes the old summary stale
    first = sweep / "c_rate=1__D_s=1e-14"
    (first / "results" / "summary.json").write_text('{"case": ')
    assert not finished(first)
    second = sweep / "c_rate=2__D_s=3e-14"
    os.utime(second / "case.toml")  # newer than its summary
    rows = {r["member"]: r for r in csv.DictReader(open(collect(sweep, plot=False)))}
    assert rows[first.name]["status"] == "missing" and rows[second.name]["status"] == "stale"
    status = run_sweep(sweep, jobs=1, log=lambda *a: None)
    assert status[first.name] == status[second.name] == "t_end"
    assert sum(v == "finished earlier" for v in status.values()) == 2


def test_a_failing_member_does_not_stop_the_others(base, tmp_path, capsys):
    # a region missing from the mesh mapped to "inert" fails when the mesh is read (at run time)
    assert main(["sweep", str(base), "--set", "parameters.materials[gone]=polymer,inert",
                 "--out", str(tmp_path / "sw")]) == 1
    out = capsys.readouterr().out
    assert "gone=inert: error (CaseError" in out and "gone=polymer: t_end" in out
    rows = {r["member"]: r["status"] for r in csv.DictReader(open(tmp_path / "sw" / "collect.csv"))}
    assert rows == {"gone=polymer": "done", "gone=inert": "missing"}


def test_members_of_one_packing_share_its_geometry(tmp_path):
    """Members of one packing geometry run on one build (made once before the runs, or the
    base case's when it matches), copied into their build/ with its times (shutil.copy2)."""
    d = tmp_path / "pk"
    d.mkdir()
    (d / "packing.toml").write_text(PACKING)
    (d / "case.toml").write_text(PACKING_CASE)
    sweep = make_sweep(d, ["protocol.c_rate=1.0,2.0,4.0"])
    assert sweep == tmp_path / "pk_sweep"
    status = run_sweep(sweep, jobs=2, log=lambda *a: None)
    assert set(status.values()) == {"t_end"}
    members = [sweep / m for m in ("c_rate=1", "c_rate=2", "c_rate=4")]
    assert len({(m / "build" / "packing.h5").stat().st_mtime_ns for m in members}) == 1  # one build
    assert len({(m / "build" / "mesh.msh").read_bytes() for m in members}) == 1
    for m in members:
        assert "geometry: reusing" in (m / "results" / "run.log").read_text()
        assert json.loads((m / "results" / "summary.json").read_text())["geometry"]["reused"] is True
    # the base case's own build is the source when it matches
    assert main(["run", str(d), "--quiet"]) == 0
    sweep2 = make_sweep(d, ["protocol.c_rate=1.0,2.0"], tmp_path / "sw2")
    assert set(run_sweep(sweep2, log=lambda *a: None).values()) == {"t_end"}
    base_time = (d / "build" / "packing.h5").stat().st_mtime_ns
    for m in ("c_rate=1", "c_rate=2"):
        assert (sweep2 / m / "build" / "packing.h5").stat().st_mtime_ns == base_time
    # different voxel sizes are different geometries: each member its own mesh
    sweep3 = make_sweep(d, ["geometry.voxel_size_um=2.0,1.0"], tmp_path / "sw3")
    assert set(run_sweep(sweep3, log=lambda *a: None).values()) == {"t_end"}
    cells = [json.loads((sweep3 / m / "results" / "summary.json").read_text())["mesh"]["cells"]
             for m in ("voxel_size_um=2", "voxel_size_um=1")]
    assert cells[1] == 8 * cells[0]


def test_bad_sweeps_are_clear_errors(base, tmp_path, capsys):
    assert main(["sweep", str(base), "--set", "protocol.c_rate=1.0,-2"]) == 2
    err = capsys.readouterr().err
    assert "c_rate = -2 is out of range" in err and "--set protocol.c_rate=1.0,-2" in err
    assert main(["sweep", str(base), "--set", "protocol.nope=1"]) == 2
    assert "unknown key [protocol] 'nope'" in capsys.readouterr().err
    assert main(["sweep", str(base), "--set", "parameters.overrides[solid.nope]=1"]) == 2
    assert "'solid.nope'" in capsys.readouterr().err
    assert main(["sweep", str(base), "--set", "protocol.c_rate 1,2"]) == 2
    assert "expected KEY=V1,V2" in capsys.readouterr().err
    assert main(["sweep", str(base), "--set", "protocol.c_rate=1", "--set", "protocol.c_rate=2"]) == 2
    assert "given twice" in capsys.readouterr().err
    assert main(["sweep", str(base), "--set", "geometry.mesh=nothere.msh"]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(CaseError, match="at least one"):
        make_sweep(base, [])
    with pytest.raises(CaseError, match="not a sweep directory"):
        collect(tmp_path)
    assert not (base.parent / "base_sweep").exists()  # nothing left behind by the failed sweeps


def test_slurm_array_with_a_fake_sbatch(base, tmp_path, monkeypatch, capsys):
    sweep = make_sweep(base, ["protocol.c_rate=1.0,2.0,4.0"], tmp_path / "sw")
    script = write_slurm(sweep, time="01:00:00", cpus=2, partition="short", account="proj")
    text = script.read_text()
    assert text.startswith("#!/bin/bash\n") and os.access(script, os.X_OK)
    for line in ("#SBATCH --array=0-2", "#SBATCH --cpus-per-task=2", "#SBATCH --partition=short",
                 "#SBATCH --account=proj", "#SBATCH --time=01:00:00", "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}",
                 "export NUMBA_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}", "SLURM_ARRAY_TASK_ID", "--skip-finished",
                 str(sweep / "members.txt")):
        assert line in text, line
    assert "mpirun" not in text and "srun" not in text
    rows = list(csv.DictReader(open(collect(sweep, plot=False))))
    assert [r["status"] for r in rows] == ["missing"] * 3
    # no sbatch on PATH: a clear error
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["sweep", str(base), "--set", "protocol.c_rate=1.0,2.0,4.0", "--out", str(sweep),
                 "--slurm", "--submit"]) == 2
    assert "sbatch not found" in capsys.readouterr().err
    # a fake sbatch that runs the array tasks one after the other (and a task past the end)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "sbatch"
    fake.write_text("#!/bin/bash\nn=$(grep -c . \"$(dirname \"$1\")/members.txt\")\n"
                    "for ((i=0; i<n; i++)); do SLURM_ARRAY_TASK_ID=$i SLURM_CPUS_PER_TASK=1 bash \"$1\" || exit 1; done\n"
                    "SLURM_ARRAY_TASK_ID=$n bash \"$1\" 2>/dev/null && exit 1\n"
                    "echo Submitted batch job 42\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{path}")
    assert main(["sweep", str(base), "--set", "protocol.c_rate=1.0,2.0,4.0", "--out", str(sweep),
                 "--slurm", "--submit"]) == 0
    assert "Submitted batch job 42" in capsys.readouterr().out
    assert main(["collect", str(sweep)]) == 0
    rows = list(csv.DictReader(open(sweep / "collect.csv")))
    assert [r["status"] for r in rows] == ["done"] * 3
    caps = [float(r["utilised_capacity_mAh_per_cm3"]) for r in rows]
    assert caps[1] == pytest.approx(2 * caps[0], rel=1e-6) and caps[2] == pytest.approx(4 * caps[0], rel=1e-6)
    # submitted again: every task skips its finished member
    mtimes = {p: p.stat().st_mtime_ns for p in sweep.glob("*/results/summary.json")}
    assert main(["sweep", str(base), "--set", "protocol.c_rate=1.0,2.0,4.0", "--out", str(sweep),
                 "--slurm", "--submit"]) == 0
    assert {p: p.stat().st_mtime_ns for p in sweep.glob("*/results/summary.json")} == mtimes
    for bad in ({"time": "1h"}, {"cpus": 0}, {"partition": "a b"}):
        with pytest.raises(CaseError):
            write_slurm(sweep, **bad)
