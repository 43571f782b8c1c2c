"""Command line: ``ssbfv --help``.

Subcommands
-----------
demo      mesh a two-layer periodic box with gmsh and solve a conduction problem through it;
          prints the effective conductivity against the series-resistance formula
pack      generate a sphere packing of a half-cell from a TOML spec
mesh      mesh a packing (OpenCASCADE with fallbacks, or voxels) and write a report beside it
inspect   report on a mesh file: regions, fractions, interfaces, quality, connectivity
run       run a case directory (case.toml): galvanostatic discharge or charge
describe  microstructure descriptors of a label image or mesh: fractions, tortuosity, D_SCA
p2d       the P2D model of a case (descriptors from its packing; --diameter d50|dsca)
compare   3D vs P2D(D50) vs P2D(D_SCA) on a case's microstructure, per C-rate
plot      plots of runs (voltage vs capacity, profiles vs x) and overlays
check     validate case directories without running them
sweep     parameter sweeps (local process pool or SLURM job array); collect gathers them
convergence  mesh-convergence study of a case (observed order, Richardson, GCI)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from . import __version__


def _cmd_demo(args) -> int:
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
    from .mesh import format_report, mesh_report, read

    mesh = read(args.mesh, scale=args.scale)
    rep = mesh_report(mesh)
    print(f"{args.mesh}:")
    print(format_report(rep))
    if args.json:
        from .mesh.report import write_report

        write_report(rep, args.json)
        print(f"report written to {args.json}")
    return 0


def _cmd_pack(args) -> int:
    from .microstructure.generator import pack_command

    return pack_command(args.spec, args.output, seed=args.seed, quiet=args.quiet)


def _cmd_mesh(args) -> int:
    from .meshing import ROUTES, mesh_packing
    from .microstructure import Packing

    packing = Packing.load(args.packing)
    routes = ("voxel",) if args.voxel else tuple(args.routes.split(",")) if args.routes else ROUTES
    h = args.h_um * 1e-6 if args.h_um else None
    if h is not None and args.refine != 1.0:
        h /= args.refine
    occ_options = None if args.spheres_per_slab is None else {"spheres_per_slab": args.spheres_per_slab}
    res = mesh_packing(packing, args.output, h=h, h_rel=args.h_rel / args.refine, routes=routes,
                       occ_time_limit_s=args.occ_time_limit, occ_options=occ_options,
                       occ_memory_limit_mb="auto" if args.occ_memory_limit is None else args.occ_memory_limit,
                       log=(lambda *a: None) if args.quiet else print)
    from .mesh import format_report

    if not args.quiet:
        print(format_report(res.report))
        print(f"route: {res.route}; report: {args.output}.report.json")
    return 0


_OK_ENDS = ("voltage_cutoff", "soc_limit", "t_end", "voltage_collapse", "depletion")


def _run_one(case: str, quiet: bool, resume: bool) -> dict:
    from .case import run_case

    return run_case(case, quiet=quiet, resume=resume)


def _cmd_run(args) -> int:
    from .case.sweep import finished

    cases = list(args.case)
    if args.skip_finished:
        done = [c for c in cases if finished(c)]
        for c in done:
            print(f"{c}: finished earlier (results/summary.json is newer than case.toml), skipped")
        cases = [c for c in cases if c not in done]
    if len(cases) <= 1 and args.jobs <= 1:
        if not cases:
            return 0
        summary = _run_one(cases[0], args.quiet, args.resume)
        return 0 if summary["end_reason"] in _OK_ENDS else 1
    from concurrent.futures import ProcessPoolExecutor, as_completed

    failed = 0
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(_run_one, c, True, args.resume): c for c in cases}
        for fut in as_completed(futures):
            c = futures[fut]
            try:
                s = fut.result()
            except Exception as exc:  # one failing member must not stop the others
                failed += 1
                print(f"{c}: error: {exc}", file=sys.stderr)
                continue
            ok = s["end_reason"] in _OK_ENDS
            failed += not ok
            print(f"{c}: {s['end_reason']}, {s['utilised_capacity_mAh_per_cm3']:.2f} mAh/cm^3 "
                  f"(utilisation {s['utilisation']:.3f}), wall {s['wall_time_s']:.0f} s", flush=True)
    return 0 if failed == 0 else 1


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


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
    i = sub.add_parser("inspect", help="report on a mesh: regions, fractions, interfaces, quality, connectivity")
    i.add_argument("mesh", help="mesh file (.msh, .vtu, .xdmf)")
    i.add_argument("--scale", type=float, default=1e-6,
                   help="coordinate scale to metres (default 1e-6: meshes are written in um)")
    i.add_argument("--json", help="also write the report as JSON to this file")
    i.set_defaults(func=_cmd_inspect)
    pk = sub.add_parser("pack", help="generate a sphere packing from a TOML spec")
    pk.add_argument("spec", help="packing spec (TOML), see docs/packing.md")
    pk.add_argument("-o", "--output", required=True, help="packing file to write (.h5)")
    pk.add_argument("--seed", type=int, help="random seed (overrides the spec)")
    pk.add_argument("--quiet", action="store_true")
    pk.set_defaults(func=_cmd_pack)
    me = sub.add_parser("mesh", help="mesh a packing into a periodic, labelled tet mesh (gmsh .msh in um)")
    me.add_argument("packing", help="packing file (.h5) from 'ssbfv pack'")
    me.add_argument("-o", "--output", required=True, help="mesh file to write (.msh); a .report.json goes beside it")
    me.add_argument("--h-rel", type=float, default=0.3, help="element size / smallest sphere diameter (default 0.3)")
    me.add_argument("--h-um", type=float, help="element size in um (overrides --h-rel)")
    me.add_argument("--refine", type=float, default=1.0, help="divide the element size by this (convergence studies)")
    me.add_argument("--voxel", action="store_true", help="use the voxel route only (hexahedra)")
    me.add_argument("--routes", help="comma-separated routes to try: occ,occ-shifted,occ-fine,voxel")
    me.add_argument("--occ-time-limit", type=_positive_float, metavar="SECONDS",
                    help="stop an OCC route after this wall-clock time and try the next route (default: no limit)")
    me.add_argument("--occ-memory-limit", type=_positive_float, metavar="MB",
                    help="stop an OCC route whose process holds more than this resident memory and try the next "
                         "route (default: 80 %% of the machine's memory)")
    me.add_argument("--spheres-per-slab", type=_non_negative_int, metavar="N",
                    help="OCC routes: cut the cathode into slabs of about N spheres each, meshed one after the "
                         "other to bound memory (default 400; 0: one slab); see docs/meshing.md")
    me.add_argument("--quiet", action="store_true")
    me.set_defaults(func=_cmd_mesh)
    r = sub.add_parser("run", help="run a case directory (case.toml): galvanostatic discharge or charge")
    r.add_argument("case", nargs="+", help="case directory containing case.toml (several: run them all)")
    r.add_argument("--quiet", action="store_true", help="no progress lines on the console (run.log is still written)")
    r.add_argument("--resume", action="store_true",
                   help="continue from results/checkpoint.h5 (after a crash, a kill or a time limit)")
    r.add_argument("--jobs", type=int, default=1, help="cases run at a time, each in its own process (default 1)")
    r.add_argument("--skip-finished", action="store_true",
                   help="skip cases whose results/summary.json is newer than their case.toml")
    r.set_defaults(func=_cmd_run)
    from .microstructure.describe import add_describe_arguments, run_describe

    ds = sub.add_parser("describe", help="volume fractions, tortuosity factors, contact area and D_SCA of an image or mesh")
    add_describe_arguments(ds)
    ds.set_defaults(func=run_describe)
    from .case.p2d_case import add_p2d_arguments, run_p2d_command

    pp = sub.add_parser("p2d", help="P2D model of a case, with descriptors measured on its microstructure")
    add_p2d_arguments(pp)
    pp.set_defaults(func=run_p2d_command)
    from .case.compare import add_compare_arguments, run_compare_command

    cp = sub.add_parser("compare", help="3D vs P2D(D50) vs P2D(D_SCA) of a case, per C-rate: table and plot")
    add_compare_arguments(cp)
    cp.set_defaults(func=run_compare_command)
    from .case.plots import add_plot_arguments, run_plot

    pl = sub.add_parser("plot", help="voltage-capacity and x-profile plots of runs; an overlay of several")
    add_plot_arguments(pl)
    pl.set_defaults(func=run_plot)
    from .case.check import add_check_arguments, run_check

    ck = sub.add_parser("check", help="validate case.toml files (schema, parameters, packing spec); runs nothing")
    add_check_arguments(ck)
    ck.set_defaults(func=run_check)
    from .case.sweep import add_collect_arguments, add_sweep_arguments, run_collect, run_sweep_command

    sw = sub.add_parser("sweep", help="one child case per combination of --set values; run locally or as a SLURM array")
    add_sweep_arguments(sw)
    sw.set_defaults(func=run_sweep_command)
    co = sub.add_parser("collect", help="gather the summaries of a sweep into collect.csv and an overlay plot")
    add_collect_arguments(co)
    co.set_defaults(func=run_collect)
    from .case.convergence import add_convergence_arguments, run_convergence_command

    cv = sub.add_parser("convergence", help="run a case on refined meshes: observed order, Richardson, GCI")
    add_convergence_arguments(cv)
    cv.set_defaults(func=run_convergence_command)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as exc:
        print(f"ssbfv {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
