"""Parameter sets: registry, values of DESIGN.md §2-5, overrides, serialisation, kappa models."""

import json

import numpy as np
import pytest

from ssbfv.solver.ocp import Margules1P, Margules2P
from ssbfv.solver.parameters import (ConstantConductivity, ParameterSet, PolymerConductivity, Quantity,
                                     available_parameter_sets, get_parameter_set, unit_suffix)


@pytest.fixture
def nvp():
    return get_parameter_set("nvp_peo_nasicon")


def test_registry():
    assert available_parameter_sets() == ["nca_lps", "nvp_peo_nasicon"]
    a, b = get_parameter_set("nvp_peo_nasicon"), get_parameter_set("nvp_peo_nasicon")
    assert a == b and a is not b
    with pytest.raises(KeyError, match="available"):
        get_parameter_set("lfp")


def test_nvp_values_of_design(nvp):
    expect = {
        "electrolyte.separator.D_e": 4e-12, "electrolyte.filler.D_e": 4e-12, "electrolyte.polymer.D_e": 4.7e-14,
        "electrolyte.separator.t_plus": 0.39, "electrolyte.filler.t_plus": 0.39, "electrolyte.polymer.t_plus": 0.39,
        "electrolyte.separator.kappa.kappa0": 0.15, "electrolyte.filler.kappa.kappa0": 0.15,
        "electrolyte.polymer.kappa.kappa_ref": 6e-3, "electrolyte.polymer.kappa.c_peak": 1300.0,
        "solid.sigma": 714.0, "solid.c_s_max": 14200.0, "solid.c_s_min": 0.0, "solid.D_s": 1e-14,
        "kinetics.k": 3e-12, "kinetics.alpha_a": 0.5, "kinetics.alpha_c": 0.5, "thermal.T": 298.15,
        "initial.c_e0": 1300.0, "initial.chi0_discharge": 0.01, "initial.chi0_charge": 0.99,
        "cutoff.V_min_discharge": 2.5, "cutoff.V_max_charge": 4.0,
        "ocp.model.U0": 3.3782, "ocp.model.A": 1.5837, "ocp.model.B": 0.2306, "ocp.model.T": 298.15,
    }
    for k, v in expect.items():
        assert nvp.get(k) == v, k
    assert isinstance(nvp.get("ocp.model"), Margules2P)
    assert nvp.missing() == []
    assert "not given by the paper" in nvp.quantity("solid.D_s").source
    for path, q in nvp.items():
        assert q.source and q.unit, path
    assert nvp.quantity("kinetics.k").unit == "m^2.5 mol^-0.5 s^-1"


def test_polymer_kappa(nvp):
    kap = nvp.get("electrolyte.polymer.kappa")
    assert isinstance(kap, PolymerConductivity)
    assert kap.kappa(1300.0) == pytest.approx(6e-3, rel=1e-14)  # kappa(c_peak) = kappa_ref, the maximum
    c = np.linspace(1.0, 5000.0, 2001)
    assert kap.kappa(c).max() == pytest.approx(6e-3, rel=1e-6)
    small = kap.kappa(np.array([1e-6, 1e-3, 1e-1, 10.0]))
    assert np.all(np.diff(small) > 0) and small[0] < 1e-10  # -> 0 as c -> 0 (down to c_floor)
    h = 1e-3
    for ci in (10.0, 800.0, 1300.0, 3000.0):
        fd = (kap.kappa(ci + h) - kap.kappa(ci - h)) / (2 * h)
        assert kap.dkappa_dc(ci) == pytest.approx(fd, rel=1e-6, abs=1e-13)  # scale kappa_ref/c_peak = 4.6e-6
    assert kap.dkappa_dc(1300.0) == pytest.approx(0.0, abs=1e-18)


def test_kappa_floor():
    kap = PolymerConductivity(6e-3, 1300.0, c_floor=1e-6)
    c = np.array([-1.0, 0.0, 5e-7, 1e-6, 1.0])
    assert kap.n_floored(c) == 3
    k = kap.kappa(c)
    assert np.all(k > 0) and np.all(k[:3] == kap.kappa(1e-6))
    assert np.all(np.isfinite(kap.kappa_over_c(c)))
    assert kap.kappa_over_c(0.0) == pytest.approx(6e-3 / 1300.0 * np.e, rel=1e-6)  # finite limit
    assert np.all(kap.dkappa_dc(c[:3]) == 0.0)
    const = ConstantConductivity(0.15)
    assert np.all(const.kappa(c) == 0.15) and np.all(const.dkappa_dc(c) == 0.0)
    assert const.kappa_over_c(0.0) == pytest.approx(0.15 / const.c_floor)
    with pytest.raises(ValueError):
        PolymerConductivity(6e-3, 1300.0, c_floor=0.0)


def test_overrides_return_new_set(nvp):
    before = nvp.to_dict()
    new = nvp.with_overrides({"solid.D_s": 2e-14, "ocp.model.A": 1.0, "electrolyte.polymer.kappa.kappa_ref": 1e-2})
    assert new.get("solid.D_s") == 2e-14 and new.quantity("solid.D_s").source == "override"
    assert new.quantity("solid.D_s").unit == "m^2/s"
    assert new.get("ocp.model").A == 1.0 and new.get("electrolyte.polymer.kappa").kappa(1300.0) == pytest.approx(1e-2)
    assert nvp.to_dict() == before and nvp.get("solid.D_s") == 1e-14 and nvp.get("ocp.model.A") == 1.5837
    assert new != nvp


def test_override_kinds(nvp):
    m1 = Margules1P(3.4, 1.0)
    new = nvp.with_overrides({
        "ocp.model": m1.to_dict(),                   # a model's dict
        "electrolyte.filler.kappa": 0.3,             # a number for a kappa model: constant kappa
        "solid.c_s_max_mol_per_m3": 15000.0,         # unit-suffixed spelling (no conversion)
        "kinetics.k": Quantity(1e-11, "m^2.5 mol^-0.5 s^-1", "my fit"),
    })
    assert new.get("ocp.model") == m1
    assert new.get("electrolyte.filler.kappa") == ConstantConductivity(0.3)
    assert new.get("solid.c_s_max") == 15000.0 and new.quantity("kinetics.k").source == "my fit"
    assert unit_suffix("m^2/s") == "m2_per_s" and unit_suffix("1") == ""
    with pytest.raises(TypeError):
        nvp.with_overrides({"ocp.model": 3.4})
    with pytest.raises(TypeError):
        nvp.with_overrides({"solid.sigma": "high"})
    with pytest.raises(ValueError, match="B must be > 0"):
        nvp.with_overrides({"ocp.model": {"model": "van_laar", "U0": 3.4, "A": 1.0, "B": -1.0}})


def test_temperature_override_reaches_ocp(nvp):
    new = nvp.with_overrides({"thermal.T_K": 320.0})
    assert new.get("thermal.T") == 320.0 and new.get("ocp.model.T") == 320.0
    both = nvp.with_overrides({"thermal.T": 320.0, "ocp.model.T": 298.15})
    assert both.get("ocp.model.T") == 298.15


def test_unknown_keys(nvp):
    with pytest.raises(KeyError, match="valid keys") as e:
        nvp.with_overrides({"solid.Ds": 1e-14})
    assert "solid.D_s" in str(e.value)
    with pytest.raises(KeyError):
        nvp.get("solid")
    with pytest.raises(KeyError):
        nvp.with_overrides({"solid.D_s_m2_per_h": 1.0})  # wrong unit suffix
    with pytest.raises(KeyError):
        nvp.get("ocp.model.C")
    assert "solid.D_s" in nvp and "solid.D_s_m2_per_s" in nvp and "solid.Ds" not in nvp


@pytest.mark.parametrize("name", ["nvp_peo_nasicon", "nca_lps"])
def test_json_round_trip(name):
    ps = get_parameter_set(name)
    text = json.dumps(ps.to_dict())
    back = ParameterSet.from_dict(json.loads(text))
    assert back == ps and back.to_dict() == ps.to_dict()
    assert back.get("electrolyte." + ("polymer" if name == "nvp_peo_nasicon" else "se") + ".kappa") == \
        ps.get("electrolyte." + ("polymer" if name == "nvp_peo_nasicon" else "se") + ".kappa")


def test_immutable(nvp):
    with pytest.raises(TypeError):
        nvp.tree["solid"]["D_s"] = Quantity(1.0, "m^2/s", "x")
    with pytest.raises(Exception):
        nvp.name = "other"


def test_nca_lps_sourcing():
    ps = get_parameter_set("nca_lps")
    assert ps.get("cell.thickness") == 43e-6 and ps.get("cell.mass_fraction_am") == 0.85
    assert ps.get("electrolyte.se.kappa.kappa0") == pytest.approx(0.045)
    assert ps.get("solid.sigma") == pytest.approx(91.0)
    assert (ps.get("cutoff.V_min_discharge"), ps.get("cutoff.V_max_charge")) == (3.1, 4.2)
    # completed from the literature: nothing missing, every entry with a real source
    assert ps.missing() == []
    for path in ps.paths():
        src = ps.quantity(path).source
        assert src and not src.startswith("missing"), path
    assert "None" not in [repr(ps.get(p)) for p in ps.paths()]
    blank = ps.with_overrides({"solid.c_s_max": None})
    assert blank.missing() == ["solid.c_s_max"]
