"""Case directories: case.toml checks, `ssbfv run`, results files, `ssbfv describe` wiring."""

import csv
import json

import numpy as np
import pytest

from ssbfv.case import CaseError, load_case
from ssbfv.case.output import COLUMNS
from ssbfv.cli import main
from ssbfv.mesh import from_labels, write_msh

from helpers import nvp_filler_spec

CASE = """
[case]
name = "tiny"

[geometry]
mesh = "mesh.msh"

[parameters]
set = "nvp_peo_nasicon"
[parameters.overrides]
"solid.D_s" = 2e-14

[protocol]
mode = "discharge"
c_rate = 1.0
t_end_s = 40.0

[numerics]
dt0_s = 5.0
dt_max_s = 10.0
"""


def tiny_mesh(path):
    lab = np.zeros((8, 3, 3), dtype=np.int32)
    lab[2:] = 1
    lab[4:, :2, :] = 2
    lab[6:] = 2
    m = from_labels(lab, 1.0, {0: "separator", 1: "polymer", 2: "active"},  # file in µm
                    patches={"xmin": "anode", "xmax": "collector"})
    write_msh(m, path)


@pytest.fixture
def case_dir(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    tiny_mesh(d / "mesh.msh")
    (d / "case.toml").write_text(CASE)
    return d


def test_run_writes_timeseries_and_summary(case_dir, capsys):
    assert main(["run", str(case_dir), "--quiet"]) == 0
    assert capsys.readouterr().out == ""  # --quiet
    res = case_dir / "results"
    rows = list(csv.DictReader(open(res / "timeseries.csv")))
    assert tuple(rows[0]) == COLUMNS
    t = np.array([float(r["time_s"]) for r in rows])
    assert t[0] == 0.0 and t[-1] == pytest.approx(40.0) and np.all(np.diff(t) > 0)
    cap = np.array([float(r["capacity_mAh_per_cm2"]) for r in rows])
    I = float(rows[1]["current_density_A_per_m2"])
    assert cap[-1] == pytest.approx(I * 40.0 / 36000.0, rel=1e-9)  # |I| t in mAh/cm^2
    summary = json.loads((res / "summary.json").read_text())
    assert summary["end_reason"] == "t_end"
    assert summary["mesh"]["cells"] == 72
    assert summary["overrides"] == {"solid.D_s": 2e-14}
    # 1C from the measured active volume: the utilisation after 40 s at 1C is 40/3600
    assert summary["utilisation"] == pytest.approx(40.0 / 3600.0, rel=1e-9)
    assert summary["max_conservation_error"] < 1e-8
    assert set(summary["guards"]) == {"solid_clipped", "electrolyte_clipped", "exponent_clipped", "c_e_floored"}
    assert (res / "run.log").read_text().count("end: t_end") == 1


@pytest.mark.parametrize("edit, message", [
    (("c_rate = 1.0", "c_rate = -1.0"), "[protocol] c_rate = -1.0 is out of range"),
    (("c_rate = 1.0", 'c_rate = "fast"'), "[protocol] c_rate must be"),
    (("t_end_s = 40.0", "t_end = 40.0"), "unknown key [protocol] 't_end'"),
    (("[numerics]", "[numerix]"), "unknown section(s) ['numerix']"),
    (('mesh = "mesh.msh"', 'mesh = "nope.msh"'), "no such file"),
    (('mesh = "mesh.msh"', ''), "exactly one of 'packing'"),
    (('mode = "discharge"', 'mode = "rest"'), "'discharge' or 'charge'"),
    (("[case]", "[case"), "not valid TOML"),
    (("dt0_s = 5.0", 'dt0_s = 5.0\ncollector = "floating"'), "'uniform' or 'equipotential'"),
])
def test_bad_case_files_give_one_clear_message(case_dir, edit, message):
    text = CASE.replace(*edit)
    (case_dir / "case.toml").write_text(text)
    with pytest.raises(CaseError) as exc:
        load_case(case_dir)
    assert message in str(exc.value)
    assert "case.toml" in str(exc.value)


def test_cli_reports_case_errors(case_dir, capsys):
    (case_dir / "case.toml").write_text(CASE.replace("c_rate = 1.0", "c_rate = 0"))
    assert main(["run", str(case_dir)]) == 2
    err = capsys.readouterr().err
    assert "c_rate" in err and "Traceback" not in err
    assert main(["run", str(case_dir / "missing")]) == 2


def test_unknown_override_is_reported(case_dir, capsys):
    (case_dir / "case.toml").write_text(CASE.replace('"solid.D_s" = 2e-14', '"solid.D_x" = 2e-14'))
    assert main(["run", str(case_dir), "--quiet"]) == 2
    assert "solid.D_x" in capsys.readouterr().err


def test_describe_command_is_wired(tmp_path, capsys):
    img = np.zeros((12, 6, 6), dtype=np.uint8)
    img[:, :3, :] = 1  # a straight slab of phase "a": tortuosity 1 along x
    np.save(tmp_path / "img.npy", img)
    out = tmp_path / "d.json"
    assert main(["describe", str(tmp_path / "img.npy"), "--voxel-size", "1e-6", "--phase", "a=1",
                 "--phase", "b=0", "--axes", "x", "--json", str(out), "--quiet"]) == 0
    d = json.loads(out.read_text())
    assert d["volume_fraction"]["a"] == pytest.approx(0.5)
    assert d["tortuosity"]["a"]["x"] == pytest.approx(1.0, abs=1e-6)


def test_region_material_map(case_dir):
    """[parameters.materials] maps a region to another electrolyte material (a cathode
    electrolyte of NaSICON only): faster transport, so a higher voltage than with PEO."""
    assert main(["run", str(case_dir), "--quiet"]) == 0
    v_peo = json.loads((case_dir / "results" / "summary.json").read_text())["final_voltage_V"]
    text = CASE.replace('[protocol]', '[parameters.materials]\npolymer = "filler"\n\n[protocol]')
    (case_dir / "case.toml").write_text(text)
    assert main(["run", str(case_dir), "--quiet"]) == 0
    s = json.loads((case_dir / "results" / "summary.json").read_text())
    assert s["materials"] == {"polymer": "filler"}
    assert s["final_voltage_V"] > v_peo
    (case_dir / "case.toml").write_text(text.replace('polymer = "filler"', 'polymer = "glass"'))
    assert main(["run", str(case_dir), "--quiet"]) == 2


def test_run_several_cases_in_parallel_and_skip_finished(tmp_path, capsys):
    cases = []
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        tiny_mesh(d / "mesh.msh")
        (d / "case.toml").write_text(CASE.replace("c_rate = 1.0", "c_rate = 1.0" if name == "a" else "c_rate = 2.0"))
        cases.append(str(d))
    assert main(["run", *cases, "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    s = {c: json.loads((tmp_path / c / "results" / "summary.json").read_text()) for c in ("a", "b")}
    assert s["a"]["c_rate"] == 1.0 and s["b"]["c_rate"] == 2.0
    assert all(f"{c}: t_end" in out for c in cases)
    mtime = (tmp_path / "a" / "results" / "summary.json").stat().st_mtime_ns
    assert main(["run", *cases, "--skip-finished"]) == 0
    assert "finished earlier" in capsys.readouterr().out
    assert (tmp_path / "a" / "results" / "summary.json").stat().st_mtime_ns == mtime


def test_paper_study_cases_are_valid():
    """Every member of cases/paper3d loads and its packing spec validates (nothing is run)."""
    from pathlib import Path

    from ssbfv.microstructure import load_spec

    root = Path(__file__).resolve().parents[1] / "cases" / "paper3d"
    members = sorted(p.parent for p in root.glob("*/*/case.toml"))
    assert len(members) == 22
    for m in members:
        cfg = load_case(m)
        spec = load_spec(cfg.geometry["packing"])
        assert cfg.protocol["c_rate"] == 0.2
        assert spec is not None


def test_inert_pores_and_enclosed_particles(tmp_path):
    """Regions mapped to "inert" (pores) belong to neither phase; a filler particle enclosed
    by pores touches neither the interface nor the anode and is left out as inert too."""
    lab = np.zeros((10, 6, 4), dtype=np.int32)  # 0 separator
    lab[3:] = 1  # pores ("polymer" region)
    lab[3:, :2, :] = 3  # filler columns from the separator to the collector ...
    lab[5:, :1, :] = 2  # ... with active material inside them
    lab[9:] = 2  # active at the collector
    lab[6, 3, 2] = 3  # one filler voxel enclosed by pores (y and z are periodic)
    m = from_labels(lab, 1.0, {0: "separator", 1: "polymer", 2: "active", 3: "filler"},
                    patches={"xmin": "anode", "xmax": "collector"})
    d = tmp_path / "pores"
    d.mkdir()
    write_msh(m, d / "mesh.msh")
    (d / "case.toml").write_text(CASE.replace('"solid.D_s" = 2e-14', '"solid.D_s" = 2e-14\n[parameters.materials]\n'
                                              'polymer = "inert"') + "\n[output]\nfields = false\n")
    assert main(["run", str(d), "--quiet"]) == 0
    s = json.loads((d / "results" / "summary.json").read_text())
    assert s["mesh"]["isolated_cells"] == 1
    assert s["mesh"]["isolated_volume_m3"] == pytest.approx(1e-18, rel=1e-9, abs=0)
    # the pores are in neither phase: solid + electrolyte cells = all but pores and the enclosed voxel
    n_pores = int(np.count_nonzero(lab == 1))
    assert s["mesh"]["solid_cells"] + s["mesh"]["electrolyte_cells"] == lab.size - n_pores - 1
    assert s["max_conservation_error"] < 1e-8


def _pocket_labels():
    """Separator (x < 2), polymer (x 2..4), active (x >= 5) with one polymer voxel enclosed
    by active material (a pocket) and one polymer voxel at y = 0 that reaches the polymer
    only through the periodic side (a column at y = 4 joins the bulk): not a pocket."""
    lab = np.zeros((10, 5, 5), dtype=np.int32)
    lab[2:] = 1
    lab[5:] = 2
    lab[7, 2, 2] = 1  # the pocket
    lab[5:8, 4, 2] = 1  # a channel from the bulk polymer ...
    lab[7, 0, 2] = 1  # ... continued through the periodic side y = Ly | y = 0
    return lab


def test_enclosed_electrolyte_pockets_found_through_periodic_sides():
    from ssbfv.solver.halfcell import HalfCellLayout, enclosed_electrolyte

    lab = _pocket_labels()
    m = from_labels(lab, 1e-6, {0: "separator", 1: "polymer", 2: "active"},
                    patches={"xmin": "anode", "xmax": "collector"})
    layout = HalfCellLayout(m)
    cells = enclosed_electrolyte(layout)
    assert cells.size == 1
    x, y, z = (m.cell_centres[cells[0]] / 1e-6).tolist()
    assert (x, y, z) == pytest.approx((7.5, 2.5, 2.5))


@pytest.mark.parametrize("mode", ["inert", "keep"])
def test_run_leaves_enclosed_electrolyte_out_unless_kept(tmp_path, mode):
    lab = _pocket_labels()
    m = from_labels(lab, 1.0, {0: "separator", 1: "polymer", 2: "active"},
                    patches={"xmin": "anode", "xmax": "collector"})
    d = tmp_path / mode
    d.mkdir()
    write_msh(m, d / "mesh.msh")
    toml = CASE.replace('mesh = "mesh.msh"', f'mesh = "mesh.msh"\nenclosed_electrolyte = "{mode}"')
    (d / "case.toml").write_text(toml + "\n[output]\nfields = false\n")
    assert main(["run", str(d), "--quiet"]) == 0
    s = json.loads((d / "results" / "summary.json").read_text())["mesh"]
    n_e = int(np.count_nonzero(lab != 2))
    if mode == "inert":
        assert s["enclosed_electrolyte_cells"] == 1 and s["isolated_cells"] == 1
        assert s["enclosed_electrolyte_volume_m3"] == pytest.approx(1e-18, rel=1e-9, abs=0)
        assert s["electrolyte_cells"] == n_e - 1
        # the pocket's six faces are no longer interface faces
        assert s["interface_faces"] == _interface_faces(lab) - 6
        assert "pockets that do not reach the anode" in (d / "results" / "run.log").read_text()
    else:
        assert s["enclosed_electrolyte_cells"] == 0 and s["electrolyte_cells"] == n_e
        assert s["interface_faces"] == _interface_faces(lab)


def _interface_faces(lab):
    """Active/electrolyte voxel faces, periodic in y and z."""
    a = lab == 2
    n = np.count_nonzero(a[1:] != a[:-1])
    n += np.count_nonzero(a != np.roll(a, 1, axis=1)) + np.count_nonzero(a != np.roll(a, 1, axis=2))
    return int(n)


def test_enclosed_electrolyte_setting_is_checked(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    tiny_mesh(d / "mesh.msh")
    (d / "case.toml").write_text(CASE.replace('mesh = "mesh.msh"', 'mesh = "mesh.msh"\nenclosed_electrolyte = "drop"'))
    with pytest.raises(CaseError, match="enclosed_electrolyte"):
        load_case(d)


def test_occ_time_limit_of_a_case(tmp_path):
    """[geometry] occ_time_limit_s reaches the mesher: an OCC attempt stopped by it falls
    back to the voxel route; a limit <= 0 is refused when the case is read."""
    from ssbfv.case.geometry import build_mesh

    d = tmp_path / "occ"
    d.mkdir()
    (d / "packing.toml").write_text(nvp_filler_spec(lateral=10.0, cathode=16.0, separator=4.0, seed=2))
    geo = 'packing = "packing.toml"\nmesher = "occ"\nelement_size_um = 1.2\nocc_time_limit_s = 0.05'
    (d / "case.toml").write_text(CASE.replace('mesh = "mesh.msh"', geo))
    mesh, info = build_mesh(load_case(d), log=lambda *a: None)
    assert info["route"] == "voxel" and mesh.n_cells > 0
    rep = json.loads((d / "build" / "mesh.msh.report.json").read_text())
    assert "time limit" in rep["attempts"][0]["result"]
    (d / "case.toml").write_text(CASE.replace('mesh = "mesh.msh"', geo.replace("0.05", "0")))
    with pytest.raises(CaseError, match="occ_time_limit_s"):
        load_case(d)


@pytest.mark.parametrize("collector", ["uniform", "equipotential"])
def test_collector_clusters_in_log_and_summary(tmp_path, collector):
    """Two active clusters on the collector, the small one with 4.75x its volume share of the
    collector area: the uniform collector logs it, the equipotential one (chosen in the case)
    does not need to; both write the clusters to the summary."""
    d = tmp_path / collector
    d.mkdir()
    lab = np.ones((10, 6, 2), dtype=np.int32)
    lab[:3] = 0
    lab[4:, :3, :] = 2
    lab[9:, 4, :] = 2
    write_msh(from_labels(lab, 1.0, {0: "separator", 1: "polymer", 2: "active"},
                          patches={"xmin": "anode", "xmax": "collector"}), d / "mesh.msh")
    (d / "case.toml").write_text(CASE.replace("dt0_s = 5.0", f'dt0_s = 5.0\ncollector = "{collector}"'))
    assert main(["run", str(d), "--quiet"]) == 0
    summary = json.loads((d / "results" / "summary.json").read_text())
    assert summary["end_reason"] == "t_end"
    shares = [(c["area_share"], c["volume_share"]) for c in summary["mesh"]["collector_clusters"]]
    assert shares == [pytest.approx((0.75, 36 / 38), rel=1e-12), pytest.approx((0.25, 2 / 38), rel=1e-12)]
    warned = "takes 0.25 of the current (4.75x its share)" in (d / "results" / "run.log").read_text()
    assert warned == (collector == "uniform")


def test_a_case_on_an_occ_mesh_warns_that_the_step_does_not_converge_yet(case_dir, monkeypatch):
    """The half-cell step fails at t = 0 on OCC meshes of packings (docs/halfcell.md): a run
    whose mesh came from an OCC route says so in its log; one from the voxel route does not."""
    import ssbfv.case.run as run_mod
    from ssbfv.mesh import read

    def fake_build_mesh(route):
        def build(cfg, log=print):
            return read(case_dir / "mesh.msh", scale=1e-6), {"source": "packing", "route": route}
        return build

    warning = "does not converge yet on OCC meshes"
    for route, expected in (("occ-shifted", True), ("voxel", False)):
        monkeypatch.setattr(run_mod, "build_mesh", fake_build_mesh(route))
        assert main(["run", str(case_dir), "--quiet"]) == 0
        assert (warning in (case_dir / "results" / "run.log").read_text()) is expected
