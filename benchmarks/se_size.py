"""SE-size study (P2D paper, issue 6): 5 um active particles with SE particles of 1, 2 and 6 um.

    python benchmarks/se_size.py [--c-rates 0.1,0.5,1,2] [--jobs 1] [--skip-3d] [--sizes 1,2,6]

For each case in cases/se_size/se{1,2,6}: pack, voxel-mesh, measure the descriptors (eps and
tau of both phases in x, D50 of the active spheres, D_SCA from the model's contact area and
from the smoothed surface) and run `ssbfv compare` (3D, P2D(D50), P2D(D_SCA) at every C-rate;
finished 3D runs are reused). Prints the descriptor table and the capacity table
(mAh/cm^3 of cathode and mAh/g of active material) with wall times, for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    from ssbfv.case import load_case
    from ssbfv.case.compare import run_compare
    from ssbfv.case.p2d_case import case_descriptors

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--c-rates", default="0.1,0.5,1,2")
    p.add_argument("--sizes", default="1,2,6")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--skip-3d", action="store_true")
    a = p.parse_args(argv)
    rates = [float(x) for x in a.c_rates.split(",")]
    print(f"machine: {platform.node()}, {os.cpu_count()} cpus, python {platform.python_version()}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    desc_rows, cap_rows = [], []
    for s in a.sizes.split(","):
        case = ROOT / "cases" / "se_size" / f"se{s}"
        cfg = load_case(case)
        t0 = time.perf_counter()
        d = case_descriptors(cfg, log=lambda *x: None)
        t_desc = time.perf_counter() - t0
        desc_rows.append((s, d, t_desc))
        t0 = time.perf_counter()
        rows = run_compare(case, rates, ("d50", "dsca"), jobs=a.jobs, skip_3d=a.skip_3d, quiet=True)
        print(f"se{s}: compare {time.perf_counter() - t0:.0f} s", flush=True)
        rho = _density(cfg)
        for r in rows:
            cap_rows.append((s, r, rho))
    print("\n| SE um | voxel um | eps_AM | tau_AM | eps_SE | tau_SE | D50 um | D_SCA um (model area) | "
          "D_SCA um (smoothed) | descriptors s |\n|" + " --- |" * 10)
    for s, d, t in desc_rows:
        print(f"| {s} | {d['voxel_size_m'] * 1e6:g} | {d['eps_AM']:.4f} | {d['tau_AM']:.3f} | {d['eps_e']:.4f} | "
              f"{d['tau_e']:.3f} | {d['d50_m'] * 1e6:.3g} | {d['d_sca_m'] * 1e6:.3g} | {d['d_sca_smooth_m'] * 1e6:.3g} | "
              f"{t:.1f} |")
    print("\n| SE um | C-rate | model | D um | mAh/cm3 | mAh/g AM | utilisation | vs 3D mAh/cm3 | end | wall s |\n|"
          + " --- |" * 10)
    for s, r, rho in cap_rows:
        d = "" if r["diameter_um"] is None else f"{r['diameter_um']:.3g}"
        diff = "" if r["difference_to_3d_mAh_per_cm3"] is None else f"{r['difference_to_3d_mAh_per_cm3']:+.1f}"
        per_g = (r["utilised_capacity_mAh_per_cm3"] / (rho * desc_rows[[x[0] for x in desc_rows].index(s)][1]["eps_AM"])
                 if rho else float("nan"))
        print(f"| {s} | {r['c_rate']:g} | {r['model']} | {d} | {r['utilised_capacity_mAh_per_cm3']:.1f} | "
              f"{per_g:.1f} | {r['utilisation']:.3f} | {diff} | {r['end_reason']} | {r['wall_time_s']:.1f} |")


def _density(cfg):
    """Active material density [g/cm^3] from the parameter set (None if it has none)."""
    from ssbfv.solver.parameters import get_parameter_set

    ps = get_parameter_set(cfg.parameter_set)
    try:
        v = ps.get("cell.density_am")
    except KeyError:
        return None
    return None if v is None else float(v) / 1000.0


if __name__ == "__main__":
    main()
