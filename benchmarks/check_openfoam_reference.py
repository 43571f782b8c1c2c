"""Self-check of openfoam_reference: T = x on a unit box with OpenFOAM's laplacianFoam.

Makes a gmsh tet mesh of the unit box (physical surfaces xmin..zmax, one physical
volume, format 2.2 ASCII), solves with T = 0 on xmin, T = 1 on xmax, zeroGradient
elsewhere, checks the cell order against the .msh and the error against T = x.

The discretisation (Gauss linear corrected + least-squares gradient) reproduces a linear
field exactly only at convergence of the explicit non-orthogonal correction loop, which
contracts by ~0.6-0.7 per pass on a gmsh tet mesh; so the 1e-6 check uses enough
correctors (--check-correctors, default 60), and the error with the benchmark's default
of 2 correctors is printed for information.

usage: python benchmarks/check_openfoam_reference.py [--h 0.063] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openfoam_reference as ofr  # noqa: E402


def make_box_msh(path, h):
    """Unit-box tet mesh with uniform size h (h = 0.063 -> ~20k tets, 0.0235 -> ~400k)."""
    import gmsh

    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("box")
        gmsh.model.occ.addBox(0, 0, 0, 1, 1, 1)
        gmsh.model.occ.synchronize()
        for dim, tag in gmsh.model.getEntities(2):
            b = gmsh.model.getBoundingBox(dim, tag)
            for ax, a in enumerate("xyz"):
                if abs(b[ax + 3] - b[ax]) < 1e-3:
                    name = a + ("min" if b[ax] < 0.5 else "max")
                    gmsh.model.setPhysicalName(2, gmsh.model.addPhysicalGroup(2, [tag]), name)
        gmsh.model.setPhysicalName(3, gmsh.model.addPhysicalGroup(3, [1]), "domain")
        gmsh.option.setNumber("Mesh.MeshSizeMin", h)
        gmsh.option.setNumber("Mesh.MeshSizeMax", h)
        gmsh.model.mesh.generate(3)
        gmsh.option.setNumber("Mesh.MshFileVersion", 2.2)
        gmsh.option.setNumber("Mesh.Binary", 0)
        gmsh.write(str(path))
    finally:
        gmsh.finalize()


def _report(tag, r):
    err = np.abs(r["values"] - r["cell_centres"][:, 0]).max()
    print(f"[{tag}] cells={r['n_cells']} order={r['cell_order']} "
          f"(max |C_of - centroid_msh| = {r['centroid_max_dev']:.2e})")
    print(f"[{tag}] gmshToFoam {r['gmshToFoam_time_s']:.3f} s | laplacianFoam wall "
          f"{r['total_time_s']:.3f} s, ExecutionTime {r['execution_time_s']:.3f} s | "
          f"linear solves {r['solve_time_s']:.4f} s ({r['solve_time_source']}; solver proper "
          f"{r['linear_solver_time_s']:.4f} s)")
    its = r["iterations"]
    print(f"[{tag}] PCG iterations per solve: {its[:6]}{' ...' if len(its) > 6 else ''} "
          f"({len(its)} solves, {sum(its)} total); max |T - x| = {err:.3e}")
    return err


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--h", type=float, default=0.063, help="mesh size (0.063 -> ~20k tets)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--check-correctors", type=int, default=60)
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)

    if not ofr.openfoam_available():
        print("OpenFOAM not available (laplacianFoam/gmshToFoam); skipping")
        return 0
    env = ofr.openfoam_env()
    print(f"OpenFOAM env: WM_PROJECT_DIR={env.get('WM_PROJECT_DIR')}")

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="of_ref_")
        workdir = Path(tmp.name)
    else:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    try:
        msh = workdir / "box.msh"
        t0 = time.perf_counter()
        make_box_msh(msh, args.h)
        print(f"gmsh box mesh h={args.h}: {time.perf_counter() - t0:.2f} s -> {msh}")

        fixed = {"xmin": 0.0, "xmax": 1.0}
        r2 = ofr.solve_laplace_openfoam(msh, workdir, fixed=fixed, rel_tol=1e-10,
                                        case_name="case_default")
        _report("nNonOrthCorr=2", r2)
        assert r2["cell_order"] in ("identity", "permuted")
        # cell centres must be the .msh tet centroids (exact for tets) in the same order
        dev = np.abs(r2["cell_centres"] - r2["msh_centroids"]).max()
        assert dev < 1e-8, f"cell centres differ from the .msh tet centroids by {dev}"

        rc = ofr.solve_laplace_openfoam(msh, workdir, fixed=fixed, rel_tol=1e-10,
                                        n_non_orth_correctors=args.check_correctors,
                                        case_name="case_converged")
        err = _report(f"nNonOrthCorr={args.check_correctors}", rc)
        ok = err < args.tol
        print(f"{'PASS' if ok else 'FAIL'}: max |T - x| = {err:.3e} "
              f"({'<' if ok else '>='} {args.tol:g})")
        return 0 if ok else 1
    finally:
        if tmp is not None:
            if args.keep:
                print(f"kept {workdir}")
                tmp._finalizer.detach()  # noqa: SLF001
            else:
                tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
