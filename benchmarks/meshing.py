"""Benchmark: reference half-cell from spec to mesh, over several seeds.

For each seed, in a fresh subprocess (so that peak memory is per seed): pack the spec,
mesh it with ``ssbfv.meshing.mesh_packing`` (OCC with its fallbacks), and record the
packing time, the route that produced the mesh, meshing time, cell count, peak memory
(VmHWM), measured fractions against the targets, active connectivity and tet quality.

usage (from the repository root):
    python benchmarks/meshing.py [--spec cases/reference/packing.toml] [--seeds 1-10]
                                 [--h-rel 0.3] [--routes occ,occ-shifted,occ-fine,voxel]
                                 [--occ-time-limit 600] [--json benchmarks/_work/meshing.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work" / "meshing"


def _peak_mb() -> float:
    """Peak resident memory [MB] of this process and of the OCC attempts it ran (each in
    its own child process, ssbfv.mesh.occ_worker): the larger of the two."""
    from ssbfv.memory import children_peak_rss_mb, peak_rss_mb

    return max(peak_rss_mb(), children_peak_rss_mb())


def run_one(spec_path: str, seed: int, h_rel: float, routes: list[str], occ_time_limit_s=None) -> dict:
    """Pack and mesh one seed (runs inside the measurement subprocess)."""
    from ssbfv.meshing import mesh_packing
    from ssbfv.microstructure import load_spec, pack

    WORK.mkdir(parents=True, exist_ok=True)
    spec = load_spec(spec_path)
    t0 = time.perf_counter()
    packing = pack(spec, seed=seed)
    t_pack = time.perf_counter() - t0
    packing.save(WORK / f"packing_{seed}.h5")
    t1 = time.perf_counter()
    out = {"seed": seed, "spheres": int(packing.n), "pack_s": t_pack, "packing_spec": packing.spec}
    try:
        res = mesh_packing(packing, WORK / f"cell_{seed}.msh", h_rel=h_rel, routes=routes,
                           occ_time_limit_s=occ_time_limit_s, log=lambda *a: None)
        rep = res.report
        out.update(route=res.route, attempts=rep["attempts"], cells=rep["cells"], fractions=rep["fractions"],
                   active_connected=rep.get("active_clusters", {}).get("connected_to_collector_fraction"),
                   quality=rep.get("quality"))
    except RuntimeError as exc:
        out.update(route=None, error=str(exc))
    out["mesh_s"] = time.perf_counter() - t1
    out["peak_mb"] = _peak_mb()
    return out


def parse_seeds(text: str) -> list[int]:
    seeds = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            seeds.extend(range(int(a), int(b) + 1))
        else:
            seeds.append(int(part))
    return seeds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", default=str(HERE.parent / "cases" / "reference" / "packing.toml"))
    p.add_argument("--seeds", default="1-3")
    p.add_argument("--h-rel", type=float, default=0.3)
    p.add_argument("--routes", default="occ,occ-shifted,occ-fine,voxel")
    p.add_argument("--occ-time-limit", type=float, help="wall-clock limit [s] per OCC route (default: none)")
    p.add_argument("--json", default=str(HERE / "_work" / "meshing.json"))
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one seed, print JSON
    args = p.parse_args(argv)
    routes = args.routes.split(",")
    if args.one is not None:
        print(json.dumps(run_one(args.spec, args.one, args.h_rel, routes, args.occ_time_limit)))
        return 0
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    rows = []
    print(f"spec {args.spec}, h_rel {args.h_rel}, routes {routes}, OCC time limit {args.occ_time_limit} s")
    hdr = f"{'seed':>4s} {'spheres':>7s} {'pack s':>7s} {'route':>12s} {'mesh s':>7s} {'cells':>9s} {'peak MB':>8s} " \
          f"{'active':>7s} {'fill/el':>7s} {'act->coll':>9s} {'q min':>6s} {'slivers':>7s}"
    print(hdr)
    print("-" * len(hdr))
    for seed in parse_seeds(args.seeds):
        cmd = [sys.executable, __file__, "--spec", args.spec, "--h-rel", str(args.h_rel), "--routes", args.routes,
               "--one", str(seed)] + ([] if args.occ_time_limit is None else ["--occ-time-limit", str(args.occ_time_limit)])
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            print(f"{seed:4d} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode}")
            rows.append({"seed": seed, "error": proc.stderr[-2000:]})
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(r)
        fr = r.get("fractions", {})
        q = r.get("quality") or {}
        act = r.get("active_connected")
        print(f"{seed:4d} {r['spheres']:7d} {r['pack_s']:7.1f} {str(r.get('route')):>12s} {r['mesh_s']:7.1f} "
              f"{r.get('cells', 0):9d} {r['peak_mb']:8.0f} {fr.get('active', float('nan')):7.4f} "
              f"{fr.get('filler_of_electrolyte', float('nan')):7.4f} "
              f"{(100 * act if act is not None else float('nan')):8.2f}% {q.get('min', float('nan')):6.3f} "
              f"{q.get('slivers', -1):7d}", flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=1))
    ok_occ = sum(1 for r in rows if str(r.get("route", "")).startswith("occ"))
    usable = sum(1 for r in rows if r.get("route"))
    print(f"OCC routes succeeded on {ok_occ} of {len(rows)} seeds; a usable mesh on {usable} of {len(rows)}")
    print(f"results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
