"""Benchmark of the packing generator on the 3D paper's reference case.

Case: 40 x 40 um lateral, 100 um cathode, 20 um separator; 54 % active spheres of 8 um,
filler spheres of 4 um at 59 % of the electrolyte; default numerics (voxel 0.25 um,
tolerances 0.005 / 0.01, max_overlap 0.2, clearance 0.1 um). Seeds 1..3 by default.

Each seed runs in a fresh Python subprocess (one thread), so that the peak memory
(ru_maxrss) belongs to that run alone; numba kernels are warmed up on a tiny case first, so
JIT compilation / cache loading is not timed.

usage (from the repository root):
    python benchmarks/packing.py [--seeds 1,2,3] [--spec SPEC.toml]
"""

from __future__ import annotations

import os

THREAD_ENV = {"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}
os.environ.update(THREAD_ENV)

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

REFERENCE = {
    "box": {"lateral_um": [40.0, 40.0], "cathode_thickness_um": 100.0, "separator_thickness_um": 20.0},
    "species": [{"name": "active", "diameter_um": 8.0, "volume_fraction": 0.54},
                {"name": "filler", "diameter_um": 4.0, "electrolyte_fraction": 0.59}],
}


def run_one(seed: int, spec_path: str | None) -> dict:
    """Pack one seed in this process; returns the row of the table."""
    import resource
    import time

    from ssbfv.microstructure import PackingSpec, load_spec, pack

    warm = PackingSpec.from_dict({
        "box": {"lateral_um": [10.0, 10.0], "cathode_thickness_um": 10.0, "separator_thickness_um": 2.0},
        "species": [{"name": "a", "diameter_um": 4.0, "volume_fraction": 0.3},
                    {"name": "b", "diameter_um": 2.0, "electrolyte_fraction": 0.3}],
        "packing": {"tolerance_active": 0.05, "tolerance_filler": 0.05}})
    pack(warm, seed=0)
    spec = load_spec(spec_path) if spec_path else PackingSpec.from_dict(REFERENCE)
    t0 = time.perf_counter()
    p = pack(spec, seed=seed)
    seconds = time.perf_counter() - t0
    gen = p.spec["generator"]
    names = p.species_names
    return {
        "seed": seed,
        "counts": gen["counts"],
        "particles": p.n,
        "time_s": seconds,
        "measured": p.spec["measured"]["fractions"],
        "target": p.spec["target"],
        "names": list(names),
        "rounds": gen["rounds"],
        "sweeps": gen["sweeps"],
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,  # Linux: kB
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default 1,2,3)")
    ap.add_argument("--spec", default=None, help="a packing spec TOML instead of the reference case")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # internal: one seed, JSON out
    args = ap.parse_args(argv)
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.spec)))
        return 0

    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    rows = []
    for seed in seeds:
        cmd = [sys.executable, os.path.abspath(__file__), "--one", str(seed)]
        if args.spec:
            cmd += ["--spec", args.spec]
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **THREAD_ENV})
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))

    names = rows[0]["names"]
    what = [f"{n} {'vol' if k == 0 else 'el.'} frac" for k, n in enumerate(names)]
    print(f"packing benchmark ({'reference case' if not args.spec else args.spec}), one thread; targets: "
          + ", ".join(f"{n} {rows[0]['target'][n]:g}" for n in names))
    head = f"{'seed':>4} {'particles':>9} {'(' + '/'.join(names) + ')':>16} {'time s':>7} " + " ".join(
        f"{w:>16}" for w in what) + f" {'rounds':>6} {'sweeps':>6} {'peak MB':>8}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['seed']:>4d} {r['particles']:>9d} {'/'.join(str(r['counts'][n]) for n in names):>16} "
              f"{r['time_s']:>7.2f} " + " ".join(f"{r['measured'][n]:>16.4f}" for n in names)
              + f" {r['rounds']:>6d} {r['sweeps']:>6d} {r['peak_mb']:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
