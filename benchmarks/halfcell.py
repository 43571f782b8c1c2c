"""Galvanostatic half-cell runs: wall time, steps, outer/linear iterations, time per phase,
peak memory and utilised capacity, for the reference cell and the filler sweep.

    python benchmarks/halfcell.py reference --voxel-um 0.5          # the reference cell, C/5 discharge
    python benchmarks/halfcell.py filler --fillers 0,20,40,59,80,100 --modes discharge,charge \\
        --lateral-um 16 --cathode-um 24 --voxel-um 1                 # filler sweep on a small cell

Each run is a case directory under ``benchmarks/_work/halfcell/<name>/`` (packing.toml +
case.toml, written by this script) run with ``ssbfv run`` in a fresh process (one thread
per library, peak memory = VmHWM of that process). The table gives, per run: cells, mode,
filler fraction of the electrolyte, end reason, utilised capacity [mAh/cm^3] and
utilisation, steps and failed steps, outer iterations (mean / max), linear iterations,
wall time and the time per phase, peak memory. The JSON of all runs goes to
``benchmarks/_work/halfcell/<study>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work" / "halfcell"

PACKING = """seed = {seed}
[box]
lateral_um = [{lateral}, {lateral}]
cathode_thickness_um = {cathode}
separator_thickness_um = {separator}
[[species]]
name = "active"
diameter_um = 8.0
volume_fraction = {nvp}
{filler_block}
"""
FILLER = """[[species]]
name = "filler"
diameter_um = 4.0
electrolyte_fraction = {filler}
"""
CASE = """[geometry]
packing = "packing.toml"
mesher = "voxel"
voxel_size_um = {voxel}
[parameters]
set = "nvp_peo_nasicon"
{materials}
[protocol]
mode = "{mode}"
c_rate = {c_rate}
[numerics]
dt0_s = {dt0}
dt_max_s = {dt_max}
[output]
progress_interval_s = 60.0
"""

RUNNER = r"""
import json, resource, sys, time
from ssbfv.case import run_case
s = run_case(sys.argv[1], quiet=True)
peak = 0
for line in open('/proc/self/status'):
    if line.startswith('VmHWM'):
        peak = int(line.split()[1]) / 1024
s['peak_MB'] = peak
print(json.dumps(s, default=str))
"""


def make_case(name, *, lateral, cathode, separator, nvp, filler, seed, voxel, mode, c_rate, dt0, dt_max):
    d = WORK / name
    d.mkdir(parents=True, exist_ok=True)
    # 100 % filler: no filler spheres; the rest of the cathode is NaSICON (polymer region -> filler material)
    fb = FILLER.format(filler=filler / 100.0) if 0 < filler < 100 else ""
    materials = '[parameters.materials]\npolymer = "filler"' if filler >= 100 else ""
    (d / "packing.toml").write_text(PACKING.format(seed=seed, lateral=lateral, cathode=cathode, separator=separator,
                                                   nvp=nvp, filler_block=fb))
    (d / "case.toml").write_text(CASE.format(voxel=voxel, materials=materials, mode=mode, c_rate=c_rate, dt0=dt0, dt_max=dt_max))
    return d


def run(d, threads):
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = str(threads)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", RUNNER, str(d)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}",
                "wall_time_s": time.perf_counter() - t0}
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(name, filler, mode, s):
    if "error" in s:
        return f"| {name} | {mode} | {filler} | error: {s['error'][:80]} | | | | | | | |"
    ph = s["phase_times_s"]
    lin = sum(v["iterations"] for v in s["linear_solvers"].values())
    phases = ", ".join(f"{k} {v:.0f}" for k, v in ph.items())
    return (f"| {name} | {s['mesh']['cells']} | {mode} | {filler} | {s['end_reason']} | "
            f"{s['utilised_capacity_mAh_per_cm3']:.1f} ({s['utilisation']:.3f}) | {s['steps']} / {s['failed_steps']} | "
            f"{s['outer_iterations']['mean']:.1f} / {s['outer_iterations']['max']} | {lin} | "
            f"{s['wall_time_s']:.0f} | {phases} | {s.get('peak_MB', 0):.0f} |")


HEADER = ("| run | cells | mode | filler % | end | capacity mAh/cm3 (utilisation) | steps / failed | "
          "outer mean / max | linear it. | wall s | phases s | peak MB |\n|" + " --- |" * 12)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", choices=("reference", "filler"))
    p.add_argument("--fillers", default="0,20,40,59,80,100")
    p.add_argument("--modes", default="discharge")
    p.add_argument("--lateral-um", type=float, default=40.0)
    p.add_argument("--cathode-um", type=float, default=100.0)
    p.add_argument("--separator-um", type=float, default=20.0)
    p.add_argument("--nvp", type=float, default=0.54)
    p.add_argument("--voxel-um", type=float, default=1.0)
    p.add_argument("--c-rate", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dt0", type=float, default=2.0)
    p.add_argument("--dt-max", type=float, default=300.0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    fillers = [59.0] if a.study == "reference" else [float(f) for f in a.fillers.split(",")]
    modes = a.modes.split(",")
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}, threads per run {a.threads}")
    print(f"cell {a.lateral_um} x {a.lateral_um} um, cathode {a.cathode_um} um, separator {a.separator_um} um, "
          f"NVP {a.nvp}, voxel {a.voxel_um} um, C/{1 / a.c_rate:g}, seed {a.seed}")
    print(HEADER, flush=True)
    results = []
    for mode in modes:
        for f in fillers:
            name = f"{a.study}_{mode}_f{f:g}_v{a.voxel_um:g}_l{a.lateral_um:g}_c{a.cathode_um:g}"
            d = make_case(name, lateral=a.lateral_um, cathode=a.cathode_um, separator=a.separator_um, nvp=a.nvp,
                          filler=f, seed=a.seed, voxel=a.voxel_um, mode=mode, c_rate=a.c_rate, dt0=a.dt0,
                          dt_max=a.dt_max)
            s = run(d, a.threads)
            results.append({"name": name, "filler_percent": f, "mode": mode, **s})
            print(row(name, f, mode, s), flush=True)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / f"{a.study}.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
