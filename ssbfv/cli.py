"""Command line: ``ssbfv --help``.

Subcommands
-----------
demo      mesh a two-layer periodic box with gmsh and solve a conduction problem through it;
          prints the effective conductivity against the series-resistance formula
inspect   read a mesh file and print its regions, patches, interfaces and cell counts
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from . import __version__


def _cmd_demo(args) -> int:
    import numpy as np

    from .mesh import read
    from .mesh.generate import box_tet_mesh
    from .solver import Dirichlet, solve_conduction

    lx, ly, lz = 30e-6, 20e-6, 20e-6  # m
    t_sep = 10e-6
    sigma = {"separator": 0.15, "cathode": 0.006}  # S/m (NaSICON, PEO-NaTFSI; DESIGN.md §2)
    print(f"ssbfv {__version__} demo: conduction through a separator | cathode-electrolyte bilayer")
    print(f"  box {lx*1e6:.0f} x {ly*1e6:.0f} x {lz*1e6:.0f} um, periodic in y and z, mesh size {args.h:g} um")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = box_tet_mesh(f"{tmp}/demo.msh", size=(lx * 1e6, ly * 1e6, lz * 1e6), h=args.h,
                            layers=(("separator", t_sep * 1e6), ("cathode", (lx - t_sep) * 1e6)),
                            periodic_y=True, periodic_z=True)
        t_mesh = time.perf_counter() - t0
        mesh = read(path, scale=1e-6)
    t_read = time.perf_counter() - t0 - t_mesh
    print(f"  mesh: {mesh.n_cells} tetrahedra, {mesh.n_faces} faces (gmsh {t_mesh:.2f} s, read + FV geometry {t_read:.2f} s)")
    dv = 0.1  # V applied across the bilayer
    t1 = time.perf_counter()
    res = solve_conduction(
        mesh, sigma, {"xmin": Dirichlet(0.0), "xmax": Dirichlet(dv)},
        periodic=[("ymin", "ymax", (0, ly, 0)), ("zmin", "zmax", (0, 0, lz))],
    )
    t_solve = time.perf_counter() - t1
    current = abs(res.patch_flux["xmin"])  # A
    sigma_eff = current / (ly * lz) * lx / dv
    sigma_exact = lx / (t_sep / sigma["separator"] + (lx - t_sep) / sigma["cathode"])
    imbalance = abs(res.patch_flux["xmin"] + res.patch_flux["xmax"]) / abs(res.patch_flux["xmin"])
    print(f"  solve: {res.iterations} CG iterations over {res.correctors + 1} solves, {t_solve:.2f} s")
    print(f"  current through the bilayer: {current:.6e} A  (flux imbalance xmin/xmax {imbalance:.1e})")
    print(f"  effective conductivity: {sigma_eff:.6e} S/m, series formula {sigma_exact:.6e} S/m, "
          f"relative difference {abs(sigma_eff - sigma_exact) / sigma_exact:.1e}")
    return 0


def _cmd_inspect(args) -> int:
    from .mesh import read

    mesh = read(args.mesh, scale=args.scale)
    lo, hi = mesh.bounding_box()
    print(mesh)
    print(f"  bounding box: {lo.tolist()} .. {hi.tolist()}")
    for name in mesh.region_names:
        cells = mesh.region_cells(name)
        print(f"  region {name:>12s}: {cells.size:9d} cells, volume {mesh.cell_volumes[cells].sum():.6g}")
    for name in mesh.patch_names:
        f = mesh.patch_faces(name)
        print(f"  patch  {name:>12s}: {f.size:9d} faces, area {mesh.face_areas[f].sum():.6g}")
    for (a, b), f in mesh.interfaces.items():
        print(f"  interface {a}|{b}: {f.size} faces, area {mesh.face_areas[f].sum():.6g}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ssbfv",
        description="Particle-resolved 3D finite-volume simulation of solid-state battery cathode half-cells.",
    )
    p.add_argument("--version", action="version", version=f"ssbfv {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("demo", help="mesh a periodic bilayer box and solve conduction through it")
    d.add_argument("--h", type=float, default=1.5, help="mesh size in um (default 1.5)")
    d.set_defaults(func=_cmd_demo)
    i = sub.add_parser("inspect", help="print regions, patches and interfaces of a mesh file")
    i.add_argument("mesh", help="mesh file (.msh, .vtu, .xdmf)")
    i.add_argument("--scale", type=float, default=1.0, help="coordinate scale to metres (1e-6 for um)")
    i.set_defaults(func=_cmd_inspect)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"ssbfv {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
