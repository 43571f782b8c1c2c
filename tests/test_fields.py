"""Field output (fields.xdmf / interface.xdmf + HDF5) and the y-z slice profiles."""

import os

import meshio
import numpy as np
import pytest

from ssbfv.case.fields import FieldWriter
from ssbfv.case.profiles import ProfileWriter, read_profiles, slice_averages
from ssbfv.mesh import from_labels
from ssbfv.solver.coupling import HalfCellModel
from ssbfv.solver.halfcell import HalfCellLayout
from ssbfv.solver.parameters import get_parameter_set


def cell(split_tets=False):
    lab = np.ones((10, 3, 3), dtype=np.int32)
    lab[:3] = 0
    lab[5:, :2, :] = 2
    lab[8:] = 2
    m = from_labels(lab, 1e-6, {0: "separator", 1: "polymer", 2: "active"},
                    patches={"xmin": "anode", "xmax": "collector"}, split_tets=split_tets)
    layout = HalfCellLayout(m)
    return layout, HalfCellModel(layout, get_parameter_set("nvp_peo_nasicon"))


def states(model, n=3, dt=20.0):
    st = model.initial_state(0.2)
    i = model.one_c_current()
    st, _ = model.step(st, None, i)
    out = [st]
    for _ in range(n - 1):
        st, _ = model.step(st, dt, i)
        out.append(st)
    return out


@pytest.mark.parametrize("split_tets", [False, True])
def test_xdmf_read_back_with_meshio(tmp_path, split_tets):
    layout, model = cell(split_tets)
    sts = states(model)
    w = FieldWriter(tmp_path, layout, model)
    for i, st in enumerate(sts):
        w.write(st)
        # readable after every snapshot
        with meshio.xdmf.TimeSeriesReader(tmp_path / "fields.xdmf") as r:
            pts, cells = r.read_points_cells()
            assert r.num_steps == i + 1
    mesh = layout.mesh
    with meshio.xdmf.TimeSeriesReader(tmp_path / "fields.xdmf") as r:
        pts, cells = r.read_points_cells()
        assert sum(len(c.data) for c in cells) == mesh.n_cells
        np.testing.assert_array_equal(pts, mesh.points)
        for k, st in enumerate(sts):
            t, _, cd = r.read_data(k)
            assert t == st.t
            c_s, c_e, chi = cd["c_s"][0], cd["c_e"][0], cd["chi"][0]
            np.testing.assert_array_equal(c_s[layout.solid.cells], st.c_s)
            np.testing.assert_array_equal(c_e[layout.electrolyte.cells], st.c_e)
            np.testing.assert_allclose(chi[layout.solid.cells], st.c_s / model.c_s_max, rtol=1e-15)
            assert np.all(np.isnan(c_s[layout.electrolyte.cells])) and np.all(np.isnan(c_e[layout.solid.cells]))
            np.testing.assert_allclose(cd["phi_e"][0][layout.electrolyte.cells], model.phi_e(st), rtol=1e-15)
            np.testing.assert_allclose(cd["phi_s"][0][layout.solid.cells], st.phi_s_absolute(), rtol=1e-15)
            np.testing.assert_array_equal(cd["region"][0], mesh.cell_region)
    with meshio.xdmf.TimeSeriesReader(tmp_path / "interface.xdmf") as r:
        _, cells = r.read_points_cells()
        assert sum(len(c.data) for c in cells) == layout.solid_b.size
        t, _, cd = r.read_data(2)
        np.testing.assert_array_equal(cd["i_bv"][0], sts[2].i_if)


def test_append_truncates_later_snapshots_and_partial_files(tmp_path):
    layout, model = cell()
    sts = states(model, 4)
    w = FieldWriter(tmp_path, layout, model)
    for st in sts:
        w.write(st)
    (tmp_path / "fields" / "step_000004.h5.part").write_bytes(b"torn")  # a kill during a write
    w2 = FieldWriter(tmp_path, layout, model, append=True, truncate_after=sts[1].t)
    assert w2.times == [sts[0].t, sts[1].t]
    assert not (tmp_path / "fields" / "step_000004.h5.part").exists()
    w2.write(sts[2])
    with meshio.xdmf.TimeSeriesReader(tmp_path / "fields.xdmf") as r:
        r.read_points_cells()
        assert r.num_steps == 3
        assert r.read_data(2)[0] == sts[2].t
    FieldWriter(tmp_path, layout, model)  # a fresh run starts over
    assert sorted(os.listdir(tmp_path / "fields")) == []


def test_slice_averages_of_a_linear_field_and_conservation():
    layout, model = cell()
    st = states(model, 1)[0]
    xe = layout.mesh.cell_centres[layout.electrolyte.cells, 0]
    st.c_e = 1000.0 + 2e8 * xe  # linear in x: the bin average is the value at the bin's centroid
    n = 5  # two voxels per bin
    p = slice_averages(layout, model, st, n)
    np.testing.assert_allclose(p["x_m"], (np.arange(n) + 0.5) * 2e-6, rtol=1e-12)
    # bins of two voxel slices; slice 5 holds 3 of the 9 electrolyte voxels of slice 4, the last
    # bin only active: bin 2 = (9 * 1900 + 3 * 2100) / 12, bin 4 empty
    np.testing.assert_allclose(p["c_e"][[0, 1, 3]], 1000.0 + 2e8 * p["x_m"][[0, 1, 3]], rtol=1e-12)
    assert p["c_e"][2] == pytest.approx((9 * 1900 + 3 * 2100) / 12, rel=1e-12)
    assert np.isnan(p["c_e"][4])
    # the volume-weighted bin averages integrate to the total
    vol = layout.electrolyte.cell_volumes
    b = np.minimum((xe / 2e-6).astype(int), n - 1)
    w = np.bincount(b, weights=vol, minlength=n)
    assert np.nansum(p["c_e"] * w) == pytest.approx(float(vol @ st.c_e), rel=1e-13, abs=0)
    # solid only in the back: NaN in the separator bins
    assert np.isnan(p["chi"][0]) and np.all(np.isfinite(p["chi"][3:]))


def test_profile_writer_round_trip_and_truncation(tmp_path):
    layout, model = cell()
    sts = states(model, 3)
    w = ProfileWriter(tmp_path / "profiles.h5", layout, model, n_bins=10)
    for k, st in enumerate(sts):
        w.write(st, 3.0 + k)
    d = read_profiles(tmp_path / "profiles.h5")
    assert d["c_e_mol_per_m3"].shape == (3, 10) and d["n_bins"] == 10
    np.testing.assert_array_equal(d["time_s"], [s.t for s in sts])
    np.testing.assert_array_equal(d["voltage_V"], [3.0, 4.0, 5.0])
    np.testing.assert_allclose(d["c_e_mol_per_m3"][2], slice_averages(layout, model, sts[2], 10)["c_e"])
    ProfileWriter(tmp_path / "profiles.h5", layout, model, n_bins=10, append=True, truncate_after=sts[1].t)
    assert read_profiles(tmp_path / "profiles.h5")["time_s"].size == 2
    with pytest.raises(ValueError, match="no such profiles file"):
        read_profiles(tmp_path / "missing.h5")


def test_suggested_bins_leave_no_bin_empty():
    from ssbfv.case.profiles import suggested_bins

    layout, model = cell()
    n = suggested_bins(layout, 50)
    assert n == 10  # 10 voxel layers in x
    p = slice_averages(layout, model, states(model, 1)[0], n)
    assert np.all(np.isfinite(p["c_e"][:7]))  # every bin with electrolyte has a value
    assert suggested_bins(layout, 4) == 4


PV_SCRIPT = """
import sys
from paraview.simple import Xdmf3ReaderS
for f in sys.argv[1:]:
    r = Xdmf3ReaderS(FileName=[f])
    ts = list(r.TimestepValues)
    r.UpdatePipeline(ts[-1])
    d = r.GetDataInformation()
    print("RESULT", len(ts), d.GetNumberOfCells(), ",".join(sorted(r.CellData.keys())))
"""


@pytest.mark.skipif(__import__("shutil").which("pvbatch") is None, reason="ParaView (pvbatch) not installed")
def test_paraview_reads_the_files(tmp_path):
    import subprocess

    layout, model = cell()
    w = FieldWriter(tmp_path, layout, model)
    for st in states(model, 3):
        w.write(st)
    script = tmp_path / "pv.py"
    script.write_text(PV_SCRIPT)
    out = subprocess.run(["pvbatch", "--force-offscreen-rendering", str(script), str(tmp_path / "fields.xdmf"),
                          str(tmp_path / "interface.xdmf")], capture_output=True, text=True, timeout=300)
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("RESULT")]
    assert rows == [["RESULT", "3", str(layout.mesh.n_cells), "c_e,c_s,chi,phi_e,phi_s,region"],
                    ["RESULT", "3", str(layout.solid_b.size), "i_bv"]], out.stdout + out.stderr


def test_potential_drop_between_bins():
    from ssbfv.case.profiles import potential_drop

    x = (np.arange(10) + 0.5) * 2e-6  # bin centres 1, 3, ..., 19 um
    phi = np.vstack([np.zeros(10), -0.01 * x / 1e-6])  # second snapshot: -10 mV per um
    phi[1, 9] = np.nan  # last bin without electrolyte: skipped
    prof = {"x_m": x, "phi_e_V": phi}
    # first bin at or after 4 um is the one at 5 um (-0.05 V); last bin with electrolyte before
    # 20 um is at 17 um (-0.17 V)
    assert potential_drop(prof, 4e-6, 20e-6) == pytest.approx(0.12, rel=1e-12, abs=0)
    assert potential_drop(prof, 4e-6, 20e-6, index=0) == 0.0
    assert potential_drop(prof, 3e-6, 3e-6) == 0.0  # a bin centre on both ends
    with pytest.raises(ValueError, match="no profile bin"):
        potential_drop(prof, 19.5e-6, 20e-6)
