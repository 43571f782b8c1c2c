"""Convergence studies: observed order, Richardson extrapolation, GCI; a real study of the FV
conduction solver with its known order; `ssbfv convergence` on a tiny case."""

import json

import numpy as np
import pytest

from ssbfv.case import CaseError
from ssbfv.case.convergence import analyse, gci, observed_order, richardson
from ssbfv.cli import main
from ssbfv.mesh import from_labels
from ssbfv.solver import Dirichlet, solve_conduction


@pytest.mark.parametrize("p", [1.0, 2.0, 1.37])
@pytest.mark.parametrize("hs", [(0.1, 0.2, 0.4), (0.1, 0.13, 0.21)])
def test_known_order_recovered(p, hs):
    q0, C = 3.0, 0.7
    q = [q0 + C * h**p for h in hs]
    o = observed_order(hs, q)
    assert o["convergence"] == "monotone"
    assert o["p"] == pytest.approx(p, abs=1e-8)
    assert richardson(hs, q, o["p"]) == pytest.approx(q0, rel=1e-9)
    # GCI from its definition: Fs |e21/q1| / (r^p - 1)
    r = hs[1] / hs[0]
    assert gci(hs, q, o["p"]) == pytest.approx(1.25 * abs((q[0] - q[1]) / q[0]) / (r**p - 1), rel=1e-12)


def test_celik_worked_example():
    """Celik et al. (2008), Table 1, column phi = dimensionless reattachment length: N = 18000,
    8000, 4500 cells (2D, h = N^-1/2), phi = 6.063, 5.972, 5.863 -> p = 1.53, phi_ext = 6.1685,
    GCI_fine = 2.17 %."""
    N = np.array([18000.0, 8000.0, 4500.0])
    h = N ** -0.5
    q = [6.063, 5.972, 5.863]
    o = observed_order(h, q)
    assert o["p"] == pytest.approx(1.53, abs=0.01)
    assert richardson(h, q, o["p"]) == pytest.approx(6.1685, abs=5e-4)
    assert gci(h, q, o["p"]) == pytest.approx(0.0217, abs=5e-4)


def test_oscillatory_and_converged_are_flagged():
    assert observed_order([1, 2, 4], [1.0, 1.1, 1.05])["convergence"] == "oscillatory"
    assert observed_order([1, 2, 4], [1.0, 1.0, 1.0])["convergence"] == "converged"
    a = analyse([1, 2, 4], {"x": [1.0, 1.1, 1.05]})
    assert a["x"]["p"] is None and a["x"]["gci"] is None and a["x"]["richardson"] is None
    with pytest.raises(ValueError):
        observed_order([1, 2], [1, 2])


def test_conduction_study_reports_second_order():
    """Manufactured solution u = sin(pi x) sin(pi y) exp(z) on uniform voxel meshes of the unit
    cube: the two-point FV scheme is second order; the study must report p ~ 2 for the L2 error
    and for the mean of u, whose Richardson extrapolate beats the finest mesh."""
    def exact(x):
        return np.sin(np.pi * x[:, 0]) * np.sin(np.pi * x[:, 1]) * np.exp(x[:, 2])

    def source(x):
        return (2 * np.pi**2 - 1) * exact(x)

    hs, err, mean = [], [], []
    for n in (6, 12, 24):
        m = from_labels(np.zeros((n, n, n), dtype=np.int32), 1.0 / n, {0: "box"})
        x = m.cell_centres
        res = solve_conduction(m, {"box": 1.0}, {p: Dirichlet(exact) for p in m.patch_names},
                               source={"box": source(x)}, tol=1e-12)
        hs.append(1.0 / n)
        err.append(float(np.sqrt(np.sum(m.cell_volumes * (res.values - exact(x)) ** 2))))
        mean.append(float(m.cell_volumes @ res.values))
    a = analyse(hs, {"l2_error": err, "mean": mean})
    assert a["l2_error"]["p"] == pytest.approx(2.0, abs=0.15)
    assert a["mean"]["p"] == pytest.approx(2.0, abs=0.15)
    exact_mean = (2 / np.pi) ** 2 * (np.e - 1)
    assert abs(a["mean"]["richardson"] - exact_mean) < 0.1 * abs(mean[-1] - exact_mean)


def test_convergence_command_errors(tmp_path):
    from test_case import CASE, tiny_mesh

    d = tmp_path / "c"
    d.mkdir()
    tiny_mesh(d / "mesh.msh")
    (d / "case.toml").write_text(CASE)
    with pytest.raises(CaseError, match="cannot be refined"):
        from ssbfv.case.convergence import run_convergence

        run_convergence(d)
    assert main(["convergence", str(d), "--levels", "2"]) == 2


PACKING = """seed = 3
[box]
lateral_um = [8.0, 8.0]
cathode_thickness_um = 8.0
separator_thickness_um = 4.0
[[species]]
name = "active"
diameter_um = 4.0
volume_fraction = 0.5
"""


@pytest.mark.slow
def test_convergence_of_a_packing_case(tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    (d / "packing.toml").write_text(PACKING)
    (d / "case.toml").write_text('[geometry]\npacking = "packing.toml"\nvoxel_size_um = 1.0\n'
                                 '[parameters]\nset = "nvp_peo_nasicon"\n[protocol]\nmode = "discharge"\n'
                                 'c_rate = 1.0\nt_end_s = 600.0\n[output]\nfields = false\n')
    assert main(["convergence", str(d), "--levels", "3"]) == 0
    res = json.loads((tmp_path / "p_convergence" / "convergence.json").read_text())
    assert res["h_um"] == [1.0, 0.5, 0.25]
    assert len(res["quantities"]) == 4
