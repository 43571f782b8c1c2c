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
from helpers import tiny_packing


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


def test_celik_relative_errors():
    """Celik et al. (2008), Table 1, same column: e_a21 = 1.5 %, e_ext21 = 1.71 %."""
    h = np.array([18000.0, 8000.0, 4500.0]) ** -0.5
    a = analyse(h, {"phi": [6.063, 5.972, 5.863]})["phi"]
    assert a["convergence"] == "monotone"
    assert a["e_a"] == pytest.approx(0.015, abs=5e-4)
    assert a["e_ext"] == pytest.approx(0.0171, abs=5e-4)
    assert a["gci"] == pytest.approx(0.0217, abs=5e-4)


@pytest.mark.parametrize("p", [1.0, 2.0])
def test_strongly_unequal_ratios(p):
    """r21 = 2, r32 = 1.1: e32/e21 < 1 although the series converges with order p (an explicit
    ln(e32/e21)/ln r21 would call it divergent)."""
    hs = (1.0, 2.0, 2.2)
    q = [5.0 - 0.3 * h**p for h in hs]
    o = observed_order(hs, q)
    assert o["convergence"] == "monotone" and o["p"] == pytest.approx(p, abs=1e-8)
    assert richardson(hs, q, o["p"]) == pytest.approx(5.0, rel=1e-9)


def test_more_levels_use_the_finest_three_in_any_order():
    hs = [0.8, 0.1, 0.4, 0.2]
    q = [1.0 + 2.0 * h**2 for h in hs]
    q[0] = 99.0  # the coarsest level is not used
    o = observed_order(hs, q)
    assert o["p"] == pytest.approx(2.0, abs=1e-8) and o["r21"] == pytest.approx(2.0)


def test_oscillatory_divergent_and_converged_are_flagged():
    assert observed_order([1, 2, 4], [1.0, 1.1, 1.05])["convergence"] == "oscillatory"
    assert observed_order([1, 2, 4], [1.0, 1.0, 1.0])["convergence"] == "converged"
    assert observed_order([1, 2, 4], [1.0, 1.0, 1.3])["convergence"] == "converged"  # finest two agree
    assert observed_order([1, 2, 4], [1.0, 1.1, 1.15])["convergence"] == "divergent"  # differences grow
    assert observed_order([1, 2, 4], [1.0, 1.1, 1.1])["convergence"] == "divergent"
    for q in ([1.0, 1.1, 1.05], [1.0, 1.1, 1.15]):
        a = analyse([1, 2, 4], {"x": q})
        assert a["x"]["p"] is None and a["x"]["gci"] is None and a["x"]["richardson"] is None
    assert analyse([1, 2], {"x": [1.0, 2.0]})["x"]["convergence"] == "too few levels"
    with pytest.raises(ValueError):
        observed_order([1, 2], [1, 2])
    with pytest.raises(ValueError):
        observed_order([1, 1, 2], [1, 2, 3])


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


PACKING = tiny_packing(seed=3)
PACKING_CASE = """[geometry]
packing = "packing.toml"
voxel_size_um = 2.0
[parameters]
set = "nvp_peo_nasicon"
[protocol]
mode = "discharge"
c_rate = 1.0
t_end_s = 60.0
[numerics]
dt0_s = 5.0
dt_max_s = 10.0
[output]
fields = false
"""


def _packing_case(tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    (d / "packing.toml").write_text(PACKING)
    (d / "case.toml").write_text(PACKING_CASE)
    return d


def test_convergence_of_a_packing_case_two_levels(tmp_path, capsys):
    """2 um and 1 um voxels (96 and 768 cells): values per level, no order from two levels;
    a second call runs nothing again."""
    from ssbfv.case.convergence import run_convergence

    d = _packing_case(tmp_path)
    res = run_convergence(d, levels=2, jobs=2)
    assert res["h_um"] == [2.0, 1.0] and res["cells"] == [96, 768]
    assert res["end_reasons"] == ["t_end", "t_end"]
    assert list(res["quantities"]) == ["utilised_capacity_mAh_per_cm3", "voltage_V_at_15s", "voltage_V_at_30s",
                                       "voltage_V_at_45s"]
    sw = tmp_path / "p_convergence"
    for q in res["quantities"].values():
        assert q["convergence"] == "too few levels" and len(q["values"]) == 2
    for i, m in enumerate(("voxel_size_um=2", "voxel_size_um=1")):
        s = json.loads((sw / m / "results" / "summary.json").read_text())
        assert res["quantities"]["utilised_capacity_mAh_per_cm3"]["values"][i] == s["utilised_capacity_mAh_per_cm3"]
    assert json.loads((sw / "convergence.json").read_text()) == json.loads(json.dumps(res))
    out = capsys.readouterr().out
    assert "too few levels" in out and "96, 768 cells" in out
    mtimes = [p.stat().st_mtime_ns for p in sorted(sw.glob("*/results/summary.json"))]
    run_convergence(d, levels=2, log=lambda *a: None)
    assert [p.stat().st_mtime_ns for p in sorted(sw.glob("*/results/summary.json"))] == mtimes
    with pytest.raises(CaseError, match="at least 2 levels"):
        run_convergence(d, levels=1)
    with pytest.raises(CaseError, match="ratio"):
        run_convergence(d, ratio=1.0)


@pytest.mark.slow
def test_convergence_of_a_packing_case(tmp_path):
    d = _packing_case(tmp_path)
    assert main(["convergence", str(d), "--levels", "3", "--jobs", "2"]) == 0
    res = json.loads((tmp_path / "p_convergence" / "convergence.json").read_text())
    assert res["h_um"] == [2.0, 1.0, 0.5] and res["cells"] == [96, 768, 6144]
    assert len(res["quantities"]) == 4
    for name, q in res["quantities"].items():
        assert q["convergence"] in ("monotone", "oscillatory", "divergent", "converged"), name
        if name.startswith("voltage"):  # the voltage converges monotonically here, order ~1.3
            assert q["convergence"] == "monotone" and 0.5 < q["p"] < 3.0 and q["gci"] < 0.01
