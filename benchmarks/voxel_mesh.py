"""Benchmark of the voxel route: packing -> label image -> hexahedral mesh.

For each voxel size, a fresh Python subprocess (one thread) loads the packing, warms numba
up on a tiny case (compilation and cache loading are not timed), then times

    voxelize     ssbfv.microstructure.voxelize.voxelize(packing, h)
    mesh         ssbfv.mesh.voxel.from_labels(labels, h, names, patches=anode/collector)

and reports the peak memory of the process: VmHWM from /proc/self/status (resource's
ru_maxrss on Linux survives fork + exec, so a child would inherit its parent's peak;
ru_maxrss is the fallback where /proc is missing).

Without ``--packing`` a synthetic half-cell is used: 320 spheres of 8 um and 1300 of
4 um diameter, centres uniform in the cathode slab (overlaps allowed), box
120 x 40 x 40 um (x = thickness) with a 20 um separator.

usage (from the repository root):
    python benchmarks/voxel_mesh.py [--packing FILE.h5] [--sizes 0.5,0.25] [--tets] [--seed 0]
"""

from __future__ import annotations

import os

for _k in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from ssbfv.memory import peak_rss_mb  # noqa: E402

UM = 1e-6


def synthetic_packing(seed: int = 0):
    """Random overlapping spheres in the reference half-cell box (see module docstring)."""
    from ssbfv.microstructure import Packing

    rng = np.random.default_rng(seed)
    box = np.array([120.0, 40.0, 40.0]) * UM
    sep = 20.0 * UM
    counts = {"active": (320, 4.0 * UM), "filler": (1300, 2.0 * UM)}
    centres, radii, species = [], [], []
    for s, (n, r) in enumerate(counts.values()):
        c = rng.random((n, 3)) * np.array([box[0] - sep, box[1], box[2]])
        c[:, 0] += sep
        centres.append(c)
        radii.append(np.full(n, r))
        species.append(np.full(n, s))
    return Packing(np.concatenate(centres), np.concatenate(radii), np.concatenate(species),
                   tuple(counts), box, sep, seed=seed, spec={"synthetic": True})


def child(packing_path: str, h: float, tets: bool) -> dict:
    """One measurement (runs in its own process); returns a JSON-able dict."""
    from ssbfv.mesh.voxel import from_labels
    from ssbfv.microstructure import Packing
    from ssbfv.microstructure.voxelize import voxelize

    packing = Packing.load(packing_path)
    # warm-up: numba compilation / cache loading
    small = Packing(packing.centres[:2], packing.radii[:2], packing.species[:2], packing.species_names,
                    packing.box, packing.separator_thickness)
    lab, names = voxelize(small, float(packing.box[1]) / 4)
    from_labels(lab, float(packing.box[1]) / 4, names, split_tets=tets)
    base = peak_rss_mb()
    t0 = time.perf_counter()
    labels, names = voxelize(packing, h)
    t1 = time.perf_counter()
    mesh = from_labels(labels, h, names, patches={"xmin": "anode", "xmax": "collector"}, split_tets=tets)
    t2 = time.perf_counter()
    counts = np.bincount(labels.ravel(), minlength=len(names))
    cathode = labels.shape[1] * labels.shape[2] * np.count_nonzero(
        (np.arange(labels.shape[0]) + 0.5) * h >= packing.separator_thickness)
    fractions = {names[k]: float(counts[k] / cathode) for k in names if names[k] != "separator"}
    return dict(h_um=h / UM, shape=list(labels.shape), voxels=int(labels.size), cells=mesh.n_cells,
                faces=mesh.n_faces, t_voxelize=t1 - t0, t_mesh=t2 - t1, peak_mb=peak_rss_mb(),
                baseline_mb=base, fractions_of_cathode=fractions)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packing", help="packing HDF5 file (default: synthetic half-cell)")
    ap.add_argument("--sizes", default="0.5,0.25", help="voxel sizes in um, comma separated")
    ap.add_argument("--tets", action="store_true", help="split the voxels into 6 tetrahedra")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic packing")
    ap.add_argument("--json", help="write the results to this JSON file")
    ap.add_argument("--child", nargs=2, metavar=("PACKING", "H"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], float(args.child[1]), args.tets)))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        path = args.packing
        if path is None:
            path = os.path.join(tmp, "synthetic.h5")
            synthetic_packing(args.seed).save(path)
        rows = []
        for s in args.sizes.split(","):
            h = float(s) * UM
            cmd = [sys.executable, os.path.abspath(__file__), "--child", path, repr(h)] + (["--tets"] if args.tets else [])
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode:
                print(out.stderr, file=sys.stderr)
                return out.returncode
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))

    src = args.packing or f"synthetic (seed {args.seed}): 320 x 8 um + 1300 x 4 um spheres, 120 x 40 x 40 um, 20 um separator"
    print(f"packing: {src}; cells: {'6 tets per voxel' if args.tets else 'hexahedra'}; load {os.getloadavg()[0]:.2f}")
    head = f"{'h [um]':>7} {'image':>14} {'voxels':>11} {'cells':>11} {'voxelize [s]':>13} {'mesh [s]':>9} {'peak [MB]':>10}"
    print(head)
    print("-" * len(head))
    for r in rows:
        shape = "x".join(str(n) for n in r["shape"])
        print(f"{r['h_um']:7.3g} {shape:>14} {r['voxels']:11,d} {r['cells']:11,d} {r['t_voxelize']:13.3f} "
              f"{r['t_mesh']:9.2f} {r['peak_mb']:10.0f}")
    for r in rows:
        fr = ", ".join(f"{k} {v:.3f}" for k, v in r["fractions_of_cathode"].items())
        print(f"  h = {r['h_um']:g} um: fractions of the cathode slab: {fr}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
