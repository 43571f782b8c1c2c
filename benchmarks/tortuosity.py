"""Benchmark: voxel tortuosity solve on an N^3 random image with a ~30 % percolating phase.

    python benchmarks/tortuosity.py --size 200             # 8 M voxels, x, y and z
    python benchmarks/tortuosity.py --size 500 --axes x    # 125 M voxels (a few minutes)
    python benchmarks/tortuosity.py --size 200 --amg pyamg # pyamg's own SA hierarchy

Image: Gaussian white noise (fixed seed) smoothed with a Gaussian filter of standard
deviation ``--sigma`` voxels (default 2), thresholded at its 70th percentile, so the
phase (value above the threshold) is 30 % of the image: a connected, sponge-like phase
well above the percolation threshold of Gaussian excursion sets (~16 %).

Prints one row per direction: image size, phase fraction, cells in the system (the
percolating part), seconds for labelling, assembly, AMG setup and CG solve, CG
iterations, the current imbalance inlet/outlet, peak resident memory of the process so
far (``ru_maxrss``) and tau. Warm-up on a tiny image first, so numba compilation is not
timed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from ssbfv.memory import peak_rss_mb


def random_phase(n: int, fraction: float = 0.3, sigma: float = 2.0, seed: int = 0) -> np.ndarray:
    """Boolean n^3 image: smoothed Gaussian noise above its (1 - fraction) quantile."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    field = rng.standard_normal((n, n, n), dtype=np.float32)
    ndimage.gaussian_filter(field, sigma, output=field, mode="wrap")
    sample = field.ravel()[:: max(1, field.size // 4_000_000)]
    thr = np.quantile(sample, 1.0 - fraction)
    mask = field > thr
    del field
    return mask


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=200, help="voxels per side (default 200)")
    p.add_argument("--axes", default="x,y,z", help="directions to solve (default x,y,z)")
    p.add_argument("--fraction", type=float, default=0.3)
    p.add_argument("--sigma", type=float, default=2.0, help="smoothing of the noise [voxels]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tol", type=float, default=1e-6, help="CG relative residual tolerance")
    p.add_argument("--imbalance-tol", type=float, default=1e-5, help="current imbalance tolerance")
    p.add_argument("--amg", default="lean", choices=["lean", "csr", "pyamg"])
    p.add_argument("--json", help="also write the rows as JSON")
    args = p.parse_args(argv)

    from ssbfv.microstructure.tortuosity import voxel_tortuosity

    voxel_tortuosity(random_phase(24, args.fraction, args.sigma, 1), 1e-6, 0, amg=args.amg)  # warm-up
    t0 = time.perf_counter()
    mask = random_phase(args.size, args.fraction, args.sigma, args.seed)
    t_image = time.perf_counter() - t0
    eps = float(np.count_nonzero(mask)) / mask.size
    print(f"image {args.size}^3 = {mask.size:,} voxels, phase fraction {eps:.4f}, made in {t_image:.1f} s; "
          f"threads: numba {os.environ.get('NUMBA_NUM_THREADS', 'default')}, amg {args.amg}, tol {args.tol:g}, imbalance tol {args.imbalance_tol:g}",
          flush=True)
    hdr = (f"{'axis':>4} {'size':>5} {'eps':>6} {'cells':>12} {'label s':>8} {'assem s':>8} {'setup s':>8} "
           f"{'solve s':>8} {'total s':>8} {'iters':>5} {'imbalance':>9} {'peak MB':>8} {'tau':>8}")
    print(hdr)
    rows = []
    for ax in args.axes.split(","):
        t0 = time.perf_counter()
        r = voxel_tortuosity(mask, 1e-6, ax.strip(), tol=args.tol, imbalance_tol=args.imbalance_tol, amg=args.amg)
        total = time.perf_counter() - t0
        t = r.times
        row = dict(axis=r.axis, size=args.size, eps=eps, cells=r.n_cells, label_s=t["label"],
                   assemble_s=t["assemble"], setup_s=t["setup"], solve_s=t["solve"], total_s=total,
                   iterations=r.iterations, imbalance=r.imbalance, peak_mb=peak_rss_mb(), tau=r.tau)
        rows.append(row)
        print(f"{r.axis:>4} {args.size:>5} {eps:6.3f} {r.n_cells:12,d} {t['label']:8.1f} {t['assemble']:8.1f} "
              f"{t['setup']:8.1f} {t['solve']:8.1f} {total:8.1f} {r.iterations:5d} {r.imbalance:9.1e} "
              f"{row['peak_mb']:8.0f} {r.tau:8.4f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
