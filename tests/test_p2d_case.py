"""`ssbfv p2d CASE` and `ssbfv compare CASE`: descriptors of a case's packing, P2D runs, 3D vs P2D table."""

import csv
import json

import numpy as np
import pytest

from ssbfv.case import CaseError, load_case
from ssbfv.case.geometry import build_mesh
from ssbfv.case.p2d_case import case_descriptors
from ssbfv.cli import main
from ssbfv.solver.halfcell import HalfCellLayout

PACKING = """
seed = 3
[box]
lateral_um = [8.0, 8.0]
cathode_thickness_um = 12.0
separator_thickness_um = 4.0
[[species]]
name = "active"
diameter_um = 4.0
volume_fraction = 0.5
[[species]]
name = "filler"
diameter_um = 2.0
electrolyte_fraction = 0.5
"""

CASE = """
[geometry]
packing = "packing.toml"
voxel_size_um = 1.0
[parameters]
set = "nvp_peo_nasicon"
[protocol]
mode = "discharge"
c_rate = 1.0
[numerics]
dt0_s = 5.0
dt_max_s = 200.0
[output]
fields = false
"""


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("p2dcase")
    (d / "packing.toml").write_text(PACKING)
    (d / "case.toml").write_text(CASE)
    return d


def test_descriptors_are_those_of_the_3d_model(case_dir):
    cfg = load_case(case_dir)
    desc = case_descriptors(cfg, log=lambda *a: None)
    mesh, _ = build_mesh(cfg, log=lambda *a: None)
    layout = HalfCellLayout(mesh)
    assert desc["L_sep_m"] == pytest.approx(4e-6, rel=1e-12)
    assert desc["L_cat_m"] == pytest.approx(12e-6, rel=1e-12)
    # the cathode's active fraction and the contact area the 3D solver reacts on (periodic
    # interface faces included) give the same numbers as the solver's layout
    assert desc["eps_AM"] == pytest.approx(layout.volume_active / layout.volume_cathode, rel=1e-12)
    assert desc["eps_AM"] + desc["eps_e"] == pytest.approx(1.0, abs=1e-12)
    assert desc["d_sca_m"] == pytest.approx(6 * layout.volume_active / layout.interface_area.sum(), rel=1e-12)
    assert desc["d50_m"] == pytest.approx(4e-6, rel=0.05)
    assert 1.0 < desc["tau_AM"] < 20 and 1.0 < desc["tau_e"] < 20
    # mixed electrolyte: NaSICON filler conducts 25x better than PEO at c_e0, so the effective
    # conductivity is above the polymer-only one and the scale factor > 1
    assert desc["kappa_scale"] > 1.0 and desc["D_e_scale"] > 1.0
    # cached: a second call reads the file
    again = case_descriptors(cfg, log=lambda *a: None)
    assert again == json.loads(json.dumps(desc))


def test_p2d_command_writes_results(case_dir):
    for d in ("d50", "dsca"):
        assert main(["p2d", str(case_dir), "--diameter", d, "--quiet"]) == 0
        out = case_dir / "results" / f"p2d_{d}"
        s = json.loads((out / "summary.json").read_text())
        rows = list(csv.DictReader(open(out / "timeseries.csv")))
        assert s["end_reason"] in ("voltage_cutoff", "chi_end")
        assert float(rows[-1]["capacity_mAh_per_cm3"]) == pytest.approx(s["utilised_capacity_mAh_per_cm3"], rel=1e-9)
        # capacity = I t / cathode volume
        q = s["current_density_A_per_m2"] * s["time_s"] / 3.6 / 1e4 / (s["descriptors"]["L_cat_m"] * 100)
        assert s["utilised_capacity_mAh_per_cm3"] == pytest.approx(q, rel=1e-6)
        assert 0 < s["utilisation"] <= 1.0


def test_compare_table_and_rerun_skips_3d(case_dir):
    assert main(["compare", str(case_dir), "--c-rates", "1", "--quiet"]) == 0
    out = case_dir / "results" / "compare"
    rows = list(csv.DictReader(open(out / "compare.csv")))
    assert [r["model"] for r in rows] == ["3d", "p2d_d50", "p2d_dsca"]
    s3 = json.loads((out / "3d_c1" / "results" / "summary.json").read_text())
    assert float(rows[0]["utilised_capacity_mAh_per_cm3"]) == pytest.approx(s3["utilised_capacity_mAh_per_cm3"])
    for r in rows[1:]:
        diff = float(r["utilised_capacity_mAh_per_cm3"]) - s3["utilised_capacity_mAh_per_cm3"]
        assert float(r["difference_to_3d_mAh_per_cm3"]) == pytest.approx(diff, abs=1e-9)
    assert (out / "compare.png").stat().st_size > 1000
    mtime = (out / "3d_c1" / "results" / "summary.json").stat().st_mtime_ns
    assert main(["compare", str(case_dir), "--c-rates", "1", "--quiet"]) == 0
    assert (out / "3d_c1" / "results" / "summary.json").stat().st_mtime_ns == mtime


def test_mesh_file_case_has_no_descriptors(tmp_path, case_dir):
    cfg = load_case(case_dir)
    build_mesh(cfg, log=lambda *a: None)
    d = tmp_path / "m"
    d.mkdir()
    (d / "case.toml").write_text(CASE.replace('packing = "packing.toml"\nvoxel_size_um = 1.0',
                                              f'mesh = "{case_dir / "build" / "mesh.msh"}"'))
    with pytest.raises(CaseError, match="mesh file"):
        case_descriptors(load_case(d), log=lambda *a: None)
    assert main(["p2d", str(d)]) == 2


def test_ct_image_to_p2d_in_two_commands(tmp_path):
    """A segmented image (here: synthetic, 1 = NCA, 2 = LPS, 0 = pores) -> `ssbfv describe`
    -> `ssbfv p2d` on a case that names the JSON; the P2D inputs are the JSON's numbers."""
    rng = np.random.default_rng(4)
    lab = np.full((40, 16, 16), 2, dtype=np.uint8)
    lab[rng.random(lab.shape) < 0.15] = 0
    x, y, z = np.meshgrid(*(np.arange(n) + 0.5 for n in lab.shape), indexing="ij")
    for cx in (5, 15, 25, 35):
        lab[(x - cx) ** 2 + (y - 8) ** 2 + (z - 8) ** 2 < 5.5**2] = 1
    lab[:, 7:9, 7:9] = 1  # a column of NCA through the electrode: the active phase percolates
    img = tmp_path / "ct.npy"
    np.save(img, lab)
    js = tmp_path / "ct.json"
    assert main(["describe", str(img), "--voxel-size", "0.25e-6", "--phase", "am=1", "--phase", "se=2",
                 "--active", "am", "--axes", "x", "--ignore-unmapped", "--json", str(js)]) == 0
    d = tmp_path / "case"
    d.mkdir()
    (d / "case.toml").write_text(f'[geometry]\ndescriptors = "{js}"\nactive_phase = "am"\nelectrolyte_phase = "se"\n'
                                 'd50_um = 5.0\n[parameters]\nset = "nca_lps"\n[protocol]\nmode = "discharge"\n'
                                 'c_rate = 1.0\n')
    for diam in ("d50", "dsca"):
        assert main(["p2d", str(d), "--diameter", diam, "--quiet"]) == 0
    s = json.loads((d / "results" / "p2d_dsca" / "summary.json").read_text())
    j = json.loads(js.read_text())
    assert s["descriptors"]["eps_AM"] == j["volume_fraction"]["am"]
    assert s["descriptors"]["tau_e"] == j["tortuosity"]["se"]["x"]
    assert s["particle_diameter_m"] == j["d_sca"]
    assert s["descriptors"]["L_cat_m"] == pytest.approx(40 * 0.25e-6)
    assert s["end_reason"] == "voltage_cutoff"
    # a P2D-only case cannot be run in 3D: a clear error
    assert main(["run", str(d), "--quiet"]) == 2
