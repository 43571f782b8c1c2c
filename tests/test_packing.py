"""Packing generator, spec parsing and voxel volume measurement (ssbfv.microstructure)."""

import math
import time

import numpy as np
import pytest

from ssbfv.microstructure import (InfeasiblePackingError, Packing, PackingSpec, load_spec, measure_fractions,
                                  pack)
from ssbfv.microstructure.generator import pack_command
from ssbfv.microstructure.spec import SizeDistribution

from helpers import nvp_filler_spec

UM = 1e-6

REFERENCE_TOML = nvp_filler_spec(lateral=40.0, cathode=100.0, separator=20.0, seed=1)


def spec_dict(active=0.54, filler=0.59, seed=1, lateral=20.0, cathode=30.0, separator=10.0, d_active=8.0,
              d_filler=4.0, **packing):
    """A small half-cell spec as a TOML-style dict (20 x 20 um, 30 um cathode by default)."""
    d = {"seed": seed,
         "box": {"lateral_um": [lateral, lateral], "cathode_thickness_um": cathode,
                 "separator_thickness_um": separator},
         "species": [{"name": "active", "diameter_um": d_active, "volume_fraction": active},
                     {"name": "filler", "diameter_um": d_filler, "electrolyte_fraction": filler}]}
    if packing:
        d["packing"] = packing
    return d


def small_spec(**kw) -> PackingSpec:
    return PackingSpec.from_dict(spec_dict(**kw))


_CACHE = {}


def packed(**kw) -> Packing:
    """pack(small_spec(**kw)), cached for the session."""
    key = tuple(sorted(kw.items()))
    if key not in _CACHE:
        _CACHE[key] = pack(small_spec(**kw))
    return _CACHE[key]


def rule_check(p: Packing, max_overlap=0.2, clearance=0.1 * UM) -> dict:
    """Brute force over all pairs and their periodic images in y and z."""
    c, r = p.centres, p.radii
    n = r.size
    ly, lz = p.box[1], p.box[2]
    depth_ratio, band = 0.0, 0
    for sy in (-1, 0, 1):
        for sz in (-1, 0, 1):
            d = c[None, :, :] + np.array([0.0, sy * ly, sz * lz]) - c[:, None, :]
            gap = np.sqrt((d**2).sum(-1)) - (r[:, None] + r[None, :])
            dmin = 2 * np.minimum(r[:, None], r[None, :])
            mask = np.triu(np.ones((n, n), bool), 1) if (sy, sz) == (0, 0) else np.ones((n, n), bool)
            depth_ratio = max(depth_ratio, float(np.max(-gap[mask] / dmin[mask], initial=0.0)))
            band += int(np.sum(np.abs(gap[mask]) < clearance))
    x0, x1 = p.cathode_bounds
    plane_band = sum(int(np.sum(np.abs(t - r) < clearance)) for t in (c[:, 0] - x0, x1 - c[:, 0]))
    inside = bool(np.all((c[:, 0] >= x0) & (c[:, 0] <= x1) & (c[:, 1] >= 0) & (c[:, 1] < ly)
                         & (c[:, 2] >= 0) & (c[:, 2] < lz)))
    return {"depth_ratio": depth_ratio, "band": band, "plane_band": plane_band, "inside": inside}


# ---------------------------------------------------------------------------- generator
TARGETS = [(0.54, 0.59), (0.39, 0.5), (0.54, 0.3), (0.54, 0.0), (0.8, 0.5)]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("active,filler", TARGETS)
def test_fractions_within_tolerance(seed, active, filler):
    p = packed(seed=seed, active=active, filler=filler)
    m = p.spec["measured"]["fractions"]
    assert abs(m["active"] - active) <= 0.005
    assert abs(m["filler"] - filler) <= 0.01
    assert measure_fractions(p)["fractions"] == m  # the record is the measurement
    # an independent, finer measurement agrees to within the voxel error
    fine = measure_fractions(p, voxel=0.2 * UM)["fractions"]
    assert abs(fine["active"] - m["active"]) < 0.003 and abs(fine["filler"] - m["filler"]) < 0.005
    counts = p.spec["generator"]["counts"]
    assert counts == {"active": p.of_species("active").size, "filler": p.of_species("filler").size}
    assert (counts["filler"] == 0) == (filler == 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("active,filler", TARGETS)
def test_overlap_and_clearance_rules(seed, active, filler):
    p = packed(seed=seed, active=active, filler=filler)
    res = rule_check(p)
    assert res["depth_ratio"] <= 0.2
    assert res["band"] == 0 and res["plane_band"] == 0
    assert res["inside"]


def test_rules_with_other_limits():
    p = packed(seed=4, active=0.5, filler=0.4, max_overlap=0.1, clearance_um=0.2)
    res = rule_check(p, max_overlap=0.1, clearance=0.2 * UM)
    assert res["depth_ratio"] <= 0.1 and res["band"] == 0 and res["plane_band"] == 0 and res["inside"]
    p = packed(seed=4, active=0.4, filler=0.3, max_overlap=0.0)  # no overlap at all: gaps >= clearance
    res = rule_check(p, max_overlap=0.0)
    assert res["depth_ratio"] == 0.0 and res["band"] == 0


def test_dense_overlap_is_used():
    """Beyond random close packing the spheres must overlap (compression)."""
    p = packed(seed=1, active=0.8, filler=0.5)
    assert rule_check(p)["depth_ratio"] > 0.1
    assert p.spec["measured"]["absolute"]["polymer"] < 0.11


def test_fine_tuning_by_trimming_at_the_planes():
    """A tolerance finer than one sphere: spheres are held across a slab plane to close the gap."""
    p = packed(seed=2, active=0.54, filler=0.59, tolerance_active=0.001, tolerance_filler=0.003)
    m = p.spec["measured"]["fractions"]
    assert abs(m["active"] - 0.54) <= 0.001 and abs(m["filler"] - 0.59) <= 0.003
    assert sum(p.spec["generator"]["trimmed_at_planes"].values()) > 0
    res = rule_check(p)
    assert res["depth_ratio"] <= 0.2 and res["band"] == 0 and res["plane_band"] == 0 and res["inside"]


def test_size_distributions_and_three_species():
    d = spec_dict(seed=5, lateral=24.0, cathode=30.0, active=0.5, filler=0.4)
    d["species"][0] = {"name": "active", "distribution": {"kind": "lognormal", "d50_um": 6.0, "sigma": 0.2},
                       "volume_fraction": 0.5}
    d["species"][1] = {"name": "filler", "distribution": {"kind": "uniform", "min_um": 2.0, "max_um": 4.0},
                       "electrolyte_fraction": 0.4}
    d["species"].append({"name": "carbon", "diameter_um": 1.5, "electrolyte_fraction": 0.1})
    p = pack(PackingSpec.from_dict(d))
    m = p.spec["measured"]["fractions"]
    assert abs(m["active"] - 0.5) <= 0.005 and abs(m["filler"] - 0.4) <= 0.01 and abs(m["carbon"] - 0.1) <= 0.01
    da = 2 * p.radii[p.of_species("active")] / UM
    df = 2 * p.radii[p.of_species("filler")] / UM
    assert da.min() >= 6.0 * math.exp(-0.6) - 1e-9 and da.max() <= 6.0 * math.exp(0.6) + 1e-9 and np.ptp(da) > 1
    assert df.min() >= 2.0 and df.max() <= 4.0
    assert np.all(2 * p.radii[p.of_species("carbon")] == pytest.approx(1.5 * UM))
    assert rule_check(p)["band"] == 0


def test_size_distribution_sampling():
    rng = np.random.default_rng(0)
    for dist in (SizeDistribution("lognormal", 8e-6, 0.3, 8e-6 * math.exp(-0.9), 8e-6 * math.exp(0.9)),
                 SizeDistribution("uniform", 4e-6, 0.0, 3e-6, 5e-6), SizeDistribution.fixed(2e-6)):
        d = dist.sample(rng, 40000)
        assert d.min() >= dist.min_diameter and d.max() <= dist.max_diameter
        assert np.mean(np.pi * d**3 / 6) == pytest.approx(dist.mean_volume(), rel=0.02, abs=0)


def test_reproducible():
    spec = small_spec(seed=11)
    a, b = pack(spec), pack(spec)
    assert np.array_equal(a.centres, b.centres) and np.array_equal(a.radii, b.radii)
    assert np.array_equal(a.species, b.species) and a.spec == b.spec and a.seed == b.seed == 11
    c = pack(spec, seed=12)  # the argument overrides the spec's seed
    assert c.seed == 12 and not (c.n == a.n and np.array_equal(c.centres, a.centres))
    spec_none = PackingSpec.from_dict({k: v for k, v in spec_dict().items() if k != "seed"})
    d = pack(spec_none)  # a fresh seed is drawn and recorded
    assert d.seed is not None and np.array_equal(pack(spec_none, seed=d.seed).centres, d.centres)


def test_record_in_spec():
    p = packed(seed=1, active=0.54, filler=0.59)
    rec = p.spec
    assert rec["generator"]["algorithm"].startswith("collective-rearrangement")
    assert rec["generator"]["rounds"] >= 1 and rec["generator"]["sweeps"] >= 1
    assert rec["generator"]["voxel_um"] == 0.25 and rec["packing"]["voxel_um"] == 0.25
    assert rec["target"] == {"active": 0.54, "filler": 0.59} and rec["seed"] == 1
    assert PackingSpec.from_dict({k: rec[k] for k in ("seed", "box", "species", "packing")}) == small_spec()
    assert p.species_names == ("active", "filler")
    assert np.allclose(p.box, [40 * UM, 20 * UM, 20 * UM]) and p.separator_thickness == pytest.approx(10 * UM)


def test_hdf5_round_trip(tmp_path):
    p = packed(seed=1, active=0.54, filler=0.59)
    p.save(tmp_path / "p.h5")
    q = Packing.load(tmp_path / "p.h5")
    assert np.array_equal(p.centres, q.centres) and np.array_equal(p.radii, q.radii)
    assert np.array_equal(p.species, q.species) and p.species_names == q.species_names
    assert np.array_equal(p.box, q.box) and p.separator_thickness == q.separator_thickness
    assert p.seed == q.seed and p.spec == q.spec
    assert measure_fractions(q) == measure_fractions(p)


@pytest.mark.parametrize("kw,limit", [
    (dict(filler=0.95), "filler fraction of the electrolyte 0.95"),
    (dict(active=0.9, filler=0.0, max_overlap=0.05), "active volume fraction 0.9"),
])
def test_infeasible_target(kw, limit):
    with pytest.raises(InfeasiblePackingError) as err:
        pack(small_spec(seed=1, **kw))
    msg = str(err.value)
    assert limit in msg or (kw.get("filler") == 0.95 and "together with the filler target" in msg)
    assert "not reachable with packing.max_overlap" in msg and "reached" in msg


def test_infeasible_filler_named_in_a_larger_box():
    spec = small_spec(seed=1, lateral=40.0, cathode=40.0, filler=0.95)
    t0 = time.perf_counter()
    with pytest.raises(InfeasiblePackingError, match=r"filler fraction of the electrolyte 0\.95 not reachable "
                                                     r"with packing\.max_overlap = 0\.2 .*: reached 0\.[5-9]"):
        pack(spec)
    assert time.perf_counter() - t0 < 30


def test_granularity_error_is_clear():
    with pytest.raises(InfeasiblePackingError, match="enlarge the box, the tolerance"):
        pack(small_spec(lateral=8.0, cathode=8.0, active=0.3, filler=0.3, max_rounds=10))


# ---------------------------------------------------------------------------- spec
def test_load_spec(tmp_path):
    path = tmp_path / "ref.toml"
    path.write_text(REFERENCE_TOML)
    spec = load_spec(path)
    assert spec.seed == 1 and spec.lateral == pytest.approx((40 * UM, 40 * UM))
    assert spec.cathode_thickness == pytest.approx(100 * UM) and spec.separator_thickness == pytest.approx(20 * UM)
    assert spec.names == ("active", "filler")
    assert spec.species[0].volume_fraction == 0.54 and spec.species[1].electrolyte_fraction == 0.59
    assert spec.species[0].size.d50 == pytest.approx(8 * UM)
    n = spec.numerics
    assert (n.voxel, n.tolerance_active, n.tolerance_filler, n.max_overlap, n.clearance) == pytest.approx(
        (0.25 * UM, 0.005, 0.01, 0.2, 0.1 * UM))
    assert np.allclose(spec.box, [120 * UM, 40 * UM, 40 * UM])
    assert PackingSpec.from_dict(spec.to_dict()) == spec
    path.write_text("seed = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_spec(path)


def _set(d, path, value):
    """Copy of spec dict d with d[path...] = value (value None deletes)."""
    import copy

    d = copy.deepcopy(d)
    node = d
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return d


BAD_SPECS = [
    (("colour",), "red", r"unknown key colour"),
    (("box", "lateral"), [20, 20], r"unknown key box\.lateral .*lateral_um"),
    (("box", "cathode_thickness_um"), None, r"missing key box\.cathode_thickness_um"),
    (("box", "cathode_thickness_um"), 0.0, r"box\.cathode_thickness_um must be > 0"),
    (("box", "separator_thickness_um"), -1.0, r"box\.separator_thickness_um must be >= 0"),
    (("box", "lateral_um"), [20.0], r"box\.lateral_um must be a list of two"),
    (("box", "lateral_um"), [20.0, -5.0], r"box\.lateral_um\[1\] must be > 0"),
    (("species", 0, "diameter_um"), 0.0, r"species\[0\]\.diameter_um must be > 0"),
    (("species", 1, "diameter_um"), -4.0, r"species\[1\]\.diameter_um must be > 0"),
    (("species", 0, "diameter_um"), None, r"species\[0\]: give exactly one of diameter_um and distribution"),
    (("species", 0, "diameter_um"), "8", r"species\[0\]\.diameter_um must be a number"),
    (("species", 0, "diameter"), 8.0, r"unknown key species\[0\]\.diameter .*diameter_um"),
    (("species", 0, "volume_fraction"), 1.0, r"species\[0\]\.volume_fraction must be in \[0, 1\)"),
    (("species", 0, "volume_fraction"), -0.1, r"species\[0\]\.volume_fraction must be in \[0, 1\)"),
    (("species", 1, "electrolyte_fraction"), 1.2, r"species\[1\]\.electrolyte_fraction must be in \[0, 1\)"),
    (("species", 0, "diameter_um"), 25.0, r"species\[0\]\.diameter_um: particles of 25 um are larger than "
                                          r"box\.lateral_um\[0\]"),
    (("box", "cathode_thickness_um"), 6.0, r"species\[0\]\.diameter_um: particles of 8 um are larger than "
                                           r"box\.cathode_thickness_um = 6 um"),
    (("species", 0, "name"), "polymer", r"species\[0\]\.name 'polymer'"),
    (("species", 1, "name"), "active", r"species\[1\]\.name 'active' is used twice"),
    (("species", 0, "distribution"), {"kind": "lognormal", "d50_um": 8.0, "sigma": 0.2},
     r"give exactly one of diameter_um and distribution"),
    (("packing", "max_overlap"), 0.7, r"packing\.max_overlap must be in \[0, 0\.5\]"),
    (("packing", "voxel_um"), 0.0, r"packing\.voxel_um must be > 0"),
    (("packing", "voxel_um"), 3.0, r"packing\.voxel_um = 3 is too coarse"),
    (("packing", "voxel"), 0.25, r"unknown key packing\.voxel .*voxel_um"),
    (("packing", "clearance_um"), -0.1, r"packing\.clearance_um must be in"),
    (("packing", "tolerance_active"), 0.0, r"packing\.tolerance_active must be in \(0, 1\)"),
    (("seed",), -3, r"seed must be >= 0"),
    (("seed",), 1.5, r"seed must be an integer"),
]


@pytest.mark.parametrize("path,value,message", BAD_SPECS)
def test_spec_validation(path, value, message):
    d = _set(spec_dict(voxel_um=0.25), path, value)
    with pytest.raises(ValueError, match=message):
        PackingSpec.from_dict(d)


def test_spec_validation_species_roles():
    d = spec_dict()
    d["species"][1]["volume_fraction"] = 0.2
    del d["species"][1]["electrolyte_fraction"]
    with pytest.raises(ValueError, match=r"species\[1\] \(filler\)\.volume_fraction: only the first species"):
        PackingSpec.from_dict(d)
    d = spec_dict()
    d["species"][0]["electrolyte_fraction"] = 0.2
    del d["species"][0]["volume_fraction"]
    with pytest.raises(ValueError, match=r"species\[0\] \(active\): the first species must be given by volume_frac"):
        PackingSpec.from_dict(d)
    d = spec_dict()
    d["species"][0]["electrolyte_fraction"] = 0.2
    with pytest.raises(ValueError, match=r"give exactly one of volume_fraction and electrolyte_fraction"):
        PackingSpec.from_dict(d)
    d = spec_dict()
    d["species"][0] = {"name": "active", "volume_fraction": 0.5,
                       "distribution": {"kind": "lognormal", "d50_um": 8.0, "sigma": 0.5}}
    with pytest.raises(ValueError, match=r"species\[0\]\.distribution\.max_um: particles of .* larger than"):
        PackingSpec.from_dict(d)
    d["species"][0]["distribution"] = {"kind": "gamma", "d50_um": 8.0}
    with pytest.raises(ValueError, match=r"species\[0\]\.distribution\.kind must be one of"):
        PackingSpec.from_dict(d)
    d["species"][0]["distribution"] = {"kind": "uniform", "min_um": 5.0, "max_um": 3.0}
    with pytest.raises(ValueError, match=r"species\[0\]\.distribution\.max_um must be >= "):
        PackingSpec.from_dict(d)
    d["species"][0]["distribution"] = {"kind": "uniform", "min": 2.0, "max_um": 3.0}
    with pytest.raises(ValueError, match=r"unknown key species\[0\]\.distribution\.min .*min_um"):
        PackingSpec.from_dict(d)
    with pytest.raises(ValueError, match=r"missing \[\[species\]\]"):
        PackingSpec.from_dict({"box": spec_dict()["box"]})
    with pytest.raises(ValueError, match=r"missing table \[box\]"):
        PackingSpec.from_dict({"species": spec_dict()["species"]})


# ---------------------------------------------------------------------------- command
def test_pack_command(tmp_path, capsys):
    spec = tmp_path / "small.toml"
    spec.write_text(REFERENCE_TOML.replace("[40.0, 40.0]", "[20.0, 20.0]").replace("= 100.0", "= 30.0"))
    out = tmp_path / "p.h5"
    assert pack_command(str(spec), str(out), seed=3) == 0
    text = capsys.readouterr().out
    assert "active" in text and "filler" in text and "target 0.54" in text and "rounds" in text
    p = Packing.load(out)
    assert p.seed == 3 and p.spec["measured"]["fractions"]["active"] == pytest.approx(0.54, abs=0.005)
    assert pack_command(str(spec), str(tmp_path / "q.h5"), quiet=True) == 0
    assert capsys.readouterr().out == ""
    spec.write_text(REFERENCE_TOML.replace("diameter_um = 8.0", "diameter_um = 0.0"))
    assert pack_command(str(spec), str(tmp_path / "r.h5")) == 2
    err = capsys.readouterr().err
    assert "species[0].diameter_um must be > 0" in err
    spec.write_text(REFERENCE_TOML.replace("0.59", "0.97").replace("[40.0, 40.0]", "[20.0, 20.0]")
                    .replace("= 100.0", "= 30.0"))
    assert pack_command(str(spec), str(tmp_path / "s.h5")) == 2
    assert "not reachable" in capsys.readouterr().err
    assert pack_command(str(tmp_path / "missing.toml"), str(out)) == 2


# ---------------------------------------------------------------------------- volume measurement
def single(centres, radii, species, names=("a", "b"), box=(10.0, 10.0, 10.0), sep=0.0) -> Packing:
    return Packing(np.asarray(centres) * UM, np.asarray(radii) * UM, species, names,
                   np.asarray(box) * UM, sep * UM)


def lens_volume(r1, r2, d):
    """Volume of the intersection of two spheres at centre distance d."""
    return (math.pi * (r1 + r2 - d) ** 2 * (d * d + 2 * d * r2 - 3 * r2 * r2 + 2 * d * r1 + 6 * r1 * r2
                                             - 3 * r1 * r1) / (12 * d))


def cap_volume(r, h):
    return math.pi * h * h * (3 * r - h) / 3


SLAB = 10.0 * 10.0 * 10.0  # um^3, the cathode of the boxes below
VOXEL = 0.1 * UM


def test_measure_single_sphere_and_periodic_wrap():
    v = 4 / 3 * math.pi * 3.0**3 / SLAB
    for centre in ([5.0, 5.0, 5.0], [5.0, 1.0, 9.5], [5.0, 0.0, 0.0]):  # the last two wrap in y and z
        m = measure_fractions(single([centre], [3.0], [0]), VOXEL)
        assert m["fractions"]["a"] == pytest.approx(v, rel=0.005)
        assert m["absolute"]["polymer"] == pytest.approx(1 - v, rel=0.005)
        assert m["fractions"]["b"] == 0.0


def test_measure_overlapping_spheres_lens():
    r1, r2, d = 3.0, 2.0, 4.0
    lens = lens_volume(r1, r2, d)
    v1, v2 = 4 / 3 * math.pi * r1**3, 4 / 3 * math.pi * r2**3
    same = measure_fractions(single([[5, 3, 5], [5, 7, 5]], [r1, r2], [0, 0]), VOXEL)
    assert same["absolute"]["a"] == pytest.approx((v1 + v2 - lens) / SLAB, rel=0.005)
    # two species: the lens belongs to the earlier one (DESIGN.md §1), in either order of the spheres
    for order in ([0, 1], [1, 0]):
        c = np.array([[5, 3, 5], [5, 7, 5]])[order]
        r = np.array([r1, r2])[order]
        s = np.array([0, 1])[order]
        m = measure_fractions(single(c, r, s), VOXEL)
        assert m["absolute"]["a"] == pytest.approx(v1 / SLAB, rel=0.005)
        assert m["absolute"]["b"] == pytest.approx((v2 - lens) / SLAB, rel=0.01)
        assert m["fractions"]["b"] == pytest.approx((v2 - lens) / (SLAB - v1), rel=0.01)


def test_measure_sphere_cut_by_the_slab_planes():
    r = 3.0
    v = 4 / 3 * math.pi * r**3
    # separator 5 um: the cathode spans x in [5, 15]; spheres centred 1 um inside each plane
    for x, sep in ((6.0, 5.0), (14.0, 5.0), (5.0, 5.0)):
        m = measure_fractions(single([[x, 5, 5]], [r], [0], box=(15.0, 10.0, 10.0), sep=sep), VOXEL)
        t = min(x - sep, 15.0 - x)
        assert m["fractions"]["a"] == pytest.approx((v - cap_volume(r, r - t)) / SLAB, rel=0.005)


def test_measure_defaults_and_shape():
    p = single([[5, 5, 5]], [3.0], [0])
    m = measure_fractions(p)  # 0.25 um by default
    assert m["shape"] == [40, 40, 40] and m["voxel_m"] == pytest.approx([0.25 * UM] * 3)
    with pytest.raises(ValueError):
        measure_fractions(p, voxel=0.0)


# ---------------------------------------------------------------------------- reference case
def test_reference_case(tmp_path):
    """The 3D paper's reference case (40 x 40 um, 100 um cathode): ~2000 spheres in a few seconds."""
    path = tmp_path / "ref.toml"
    path.write_text(REFERENCE_TOML)
    spec = load_spec(path)
    t0 = time.perf_counter()
    p = pack(spec)
    assert time.perf_counter() - t0 < 30
    m = p.spec["measured"]["fractions"]
    assert abs(m["active"] - 0.54) <= 0.005 and abs(m["filler"] - 0.59) <= 0.01
    res = rule_check(p)
    assert res["depth_ratio"] <= 0.2 and res["band"] == 0 and res["plane_band"] == 0 and res["inside"]


def test_study_specs_are_valid():
    """Every packing spec shipped in cases/ parses and validates."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "cases"
    specs = sorted(root.glob("**/packing.toml")) + sorted((root / "studies").glob("*.toml"))
    assert len(specs) >= 9
    for path in specs:
        load_spec(path)
