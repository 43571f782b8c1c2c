"""Component deflation in the CG + AMG solver: iterations and time with and without it on a
half-cell case, one process, one thread.

    python benchmarks/deflation.py cases/paper3d/nvp/nvp39 --dt 8,60
    python benchmarks/deflation.py cases/paper3d/nvp/nvp39 --from-checkpoint --dt 8

Builds the case (packing, mesh: the case's own build folder), then for each setting
(deflation off, on) takes the potentials-only solve at t = 0 and one implicit step per dt
from the same state: t = 0, or the case's results/checkpoint.h5 with --from-checkpoint
(a state late in a discharge, where the steps are hardest). Prints per field the number of
connected components of its matrix, linear solves, CG iterations per solve and solve time,
and per step the outer iterations and wall time. The two settings must give the same
outer iterations and the same interface current to the solver tolerance: the table prints
the largest difference of the interface current between them.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path


def run_setting(case: Path, configure, dts, from_checkpoint: bool):
    """Build the case's model, apply ``configure(model)``, and time the potentials-only
    solve and one step per dt (module doc). Returns (cells, rows, per-field stats)."""
    from ssbfv.case.check import check_case
    from ssbfv.case.checkpoint import load_checkpoint
    from ssbfv.case.geometry import build_mesh
    from ssbfv.case.run import build_model
    from ssbfv.solver.coupling import StepFailed

    cfg = check_case(case)
    mesh, _ = build_mesh(cfg, log=lambda *a, **k: None)
    layout, model, run = build_model(cfg, mesh)
    configure(model)
    if from_checkpoint:
        state = load_checkpoint(cfg.output_dir / "checkpoint.h5")["state"]
    else:
        state = model.initial_state(run.protocol.chi0, current=run.current)
    rows = []
    t0 = time.perf_counter()
    state0, info = model.step(state, None, run.current)
    rows.append(("static", info.outer_iterations, time.perf_counter() - t0, state0.i_if))
    start = state0 if not from_checkpoint else state
    for dt in dts:
        t0 = time.perf_counter()
        try:
            new, info = model.step(start, dt, run.current)
            rows.append((f"dt {dt:g} s", info.outer_iterations, time.perf_counter() - t0, new.i_if))
        except StepFailed as exc:
            rows.append((f"dt {dt:g} s", f"failed: {exc}", time.perf_counter() - t0, None))
    stats = {}
    for name, solver in model.lin.items():
        s = solver.stats
        comps = getattr(solver, "_components", None)
        stats[name] = (comps.shape[1] if comps is not None else "-", s.solves, s.iterations, s.solve_time_s + s.setup_time_s)
    return mesh.n_cells, rows, stats


def set_deflation(deflate: bool):
    def configure(model):
        for solver in model.lin.values():
            if hasattr(solver, "deflate_components"):
                solver.deflate_components = deflate
    return configure


def print_comparison(results: dict, extra_column: str = "deflated components"):
    """Tables of two settings {label: run_setting(...)}, the first one the reference."""
    (la, ra), (lb, rb) = results.items()
    print(f"| setting | field | {extra_column} | solves | CG iterations / solve | solve + setup s |")
    print("|---|---|---|---|---|---|")
    for label, res in results.items():
        for name, (comps, solves, its, t) in res[2].items():
            print(f"| {label} | {name} | {comps} | {solves} | {its / max(solves, 1):.1f} | {t:.2f} |")
    print(f"\n| solve | outer ({la} / {lb}) | wall s ({la} / {lb}) | ratio | max |i_{la} - i_{lb}| / max |i| |")
    print("|---|---|---|---|---|")
    for a, b in zip(ra[1], rb[1]):
        diff = "-"
        if a[3] is not None and b[3] is not None:
            diff = f"{abs(a[3] - b[3]).max() / max(abs(a[3]).max(), 1e-300):.1e}"
        print(f"| {a[0]} | {a[1]} / {b[1]} | {a[2]:.1f} / {b[2]:.1f} | {b[2] / a[2]:.2f} | {diff} |")
    print(f"\npeak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def parse_case_arguments(argv, doc: str):
    """(args, step sizes) of a case benchmark (case, --dt, --from-checkpoint); prints the
    header line (case, machine, Python, date)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", type=Path)
    ap.add_argument("--dt", default="8,60", help="step sizes [s], comma-separated")
    ap.add_argument("--from-checkpoint", action="store_true")
    args = ap.parse_args(argv)
    print(f"# {args.case}, {platform.node()}, {platform.processor() or platform.machine()}, "
          f"Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}")
    return args, [float(v) for v in args.dt.split(",") if v]


def main(argv=None):
    args, dts = parse_case_arguments(argv, __doc__)
    results = {label: run_setting(args.case, set_deflation(on), dts, args.from_checkpoint)
               for label, on in (("off", False), ("on", True))}
    print(f"\ncells {results['on'][0]}; start: {'checkpoint' if args.from_checkpoint else 't = 0'}\n")
    print_comparison(results)


if __name__ == "__main__":
    main()
