"""Smoothed-aggregation vs classical (Ruge–Stüben) AMG for the electrolyte fields of a
half-cell case: CG iterations and time per field, outer iterations and wall time per step,
one process, one thread.

    python benchmarks/amg_kind.py cases/paper3d/nvp/nvp60 --dt 10.8 --from-checkpoint

Same procedure as benchmarks/deflation.py (the case's own build folder; the potentials-only
solve and one implicit step per dt from t = 0 or from results/checkpoint.h5), once with
``CouplingOptions.amg_electrolyte = "csr"`` (smoothed aggregation, theta = 0, W-cycle) and
once with "rs" (classical AMG, V-cycle, the default); the solid fields keep smoothed
aggregation. The two must give the same outer iterations and interface current to the
solver tolerance: the table prints the largest difference of the interface current.
"""

from __future__ import annotations

from deflation import parse_case_arguments, print_comparison, run_setting


def electrolyte_amg(kind: str):
    def configure(model):
        from ssbfv.solver.linear import AmgCgSolver

        for name in ("psi_e", "c_e"):
            if isinstance(model.lin[name], AmgCgSolver):
                model.lin[name] = AmgCgSolver(tol=model.options.linear_tol, amg=kind)
    return configure


def main(argv=None):
    args, dts = parse_case_arguments(argv, __doc__)
    results = {kind: run_setting(args.case, electrolyte_amg(kind), dts, args.from_checkpoint) for kind in ("csr", "rs")}
    print(f"\ncells {results['rs'][0]}; start: {'checkpoint' if args.from_checkpoint else 't = 0'}\n")
    print_comparison(results, extra_column="deflated components")


if __name__ == "__main__":
    main()
