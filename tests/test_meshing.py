"""From a packing to a mesh file with its report: the OCC route and the voxel fallback."""

import json

import numpy as np
import pytest

from ssbfv.mesh import pair_periodic, read
from ssbfv.meshing import mesh_packing, voxel_size_for
from ssbfv.microstructure import Packing

from helpers import nvp_filler_spec

UM = 1e-6


@pytest.fixture
def packing():
    centres = np.array([[14.0, 5.0, 5.0], [20.5, 5.0, 5.0], [27.0, 5.0, 5.0], [12.0, 14.0, 14.0],
                        [20.0, 14.0, 6.0], [24.0, 12.0, 16.0]]) * UM
    radii = np.array([3.5, 3.5, 3.5, 3.0, 2.0, 2.0]) * UM
    return Packing(centres, radii, [0, 0, 0, 0, 1, 1], ("active", "filler"), (30 * UM, 20 * UM, 20 * UM), 5 * UM, seed=7)


@pytest.mark.parametrize("routes", [("occ",), ("voxel",)])
def test_mesh_packing_routes(tmp_path, packing, routes):
    path = tmp_path / "cell.msh"
    res = mesh_packing(packing, path, h=1.0 * UM, routes=routes, log=lambda *a: None)
    assert res.route == routes[0]
    rep = json.loads((tmp_path / "cell.msh.report.json").read_text())
    assert rep["route"] == routes[0] and rep["packing"]["seed"] == 7
    mesh = read(path, scale=UM)
    assert set(mesh.region_names) == {"active", "filler", "polymer", "separator"}
    assert set(mesh.patch_names) == {"anode", "collector", "ymin", "ymax", "zmin", "zmax"}
    pair_periodic(mesh, "ymin", "ymax", (0, 20 * UM, 0))
    pair_periodic(mesh, "zmin", "zmax", (0, 0, 20 * UM))
    # volume fractions measured on the mesh against the exact sphere volumes (the spheres
    # are inside the cathode; overlaps: the active chain has two lenses of depth 0.5 um)
    v_act = rep["regions"]["active"]["volume_m3"]
    R, d = 3.5, 6.5
    lens = np.pi * (4 * R + d) * (2 * R - d) ** 2 / 12  # two equal spheres at distance d
    exact_act = (3 * 4 / 3 * np.pi * R**3 + 4 / 3 * np.pi * 3.0**3 - 2 * lens) * UM**3
    if routes[0] == "occ":
        # no faceting compensation by default: the triangulated sphere surfaces lie inside
        # the spheres (inscribed polyhedra), a few per cent of volume at h = 1 um
        assert 0.96 < v_act / exact_act < 1.0
        res_c = mesh_packing(packing, tmp_path / "c.msh", h=1.0 * UM, routes=routes, faceting_compensation=True,
                             log=lambda *a: None)
        assert res_c.report["regions"]["active"]["volume_m3"] == pytest.approx(exact_act, rel=0.015, abs=0)
    else:
        assert v_act == pytest.approx(exact_act, rel=0.06, abs=0)  # voxels at h/2 = 0.5 um
    assert rep["fractions"]["active"] == pytest.approx(v_act / (25 * 20 * 20 * UM**3), rel=1e-9, abs=0)


def test_fallback_after_occ_failures_is_recorded(tmp_path, packing, monkeypatch):
    import ssbfv.mesh.occ as occ
    from ssbfv.mesh.occ import OccMeshError

    def failing(*args, **kwargs):
        raise OccMeshError("periodic mismatch (simulated)")

    # in-process (isolate=False), so that the patched mesher is the one called
    monkeypatch.setattr(occ, "mesh_spheres_occ", failing)
    res = mesh_packing(packing, tmp_path / "x.msh", h=1.0 * UM, isolate=False, log=lambda *a: None)
    assert res.route == "voxel"
    tried = [a["route"] for a in res.report["attempts"]]
    assert tried == ["occ", "occ-shifted", "occ-fine", "voxel"]
    assert "simulated" in res.report["attempts"][0]["result"]
    with pytest.raises(RuntimeError, match="no meshing route succeeded"):
        mesh_packing(packing, tmp_path / "y.msh", routes=("occ",), isolate=False, log=lambda *a: None)
    with pytest.raises(ValueError, match="unknown meshing routes"):
        mesh_packing(packing, tmp_path / "z.msh", routes=("magic",))


def test_isolated_occ_attempt_gives_the_in_process_mesh(tmp_path, packing):
    iso = mesh_packing(packing, tmp_path / "a.msh", h=1.0 * UM, routes=("occ",), log=lambda *a: None)
    inp = mesh_packing(packing, tmp_path / "b.msh", h=1.0 * UM, routes=("occ",), isolate=False, log=lambda *a: None)
    d_iso, d_inp = iso.report["route_details"], inp.report["route_details"]
    assert d_iso["occ"]["tets"] == d_inp["occ"]["tets"] > 10000
    assert d_iso["cleanup"] == d_inp["cleanup"]
    assert iso.report["fractions"] == pytest.approx(inp.report["fractions"], rel=1e-12)
    # the child's own peak memory is recorded (gmsh and OCC live there, not in the caller)
    assert d_iso["process"]["peak_rss_mb"] > 50 and "process" not in d_inp
    # and the stages it went through, in order, with non-decreasing start times
    names = [name.split(" ")[0] for name, _ in d_iso["stages"]]
    assert names[:7] == ["clean-up", "volume", "final", "add", "fragment", "import", "labels"]
    assert names[-3:] == ["periodic", "3D", "write"] and set(names[7:-3]) <= {"side"}
    # the final clean-up (restored radii, half the clearance) leaves no violation
    assert d_iso["final_cleanup"]["remaining_violations"] == 0
    starts = [t for _, t in d_iso["stages"]]
    assert starts == sorted(starts) and starts[0] >= 0.0


def test_occ_time_limit_stops_the_attempt_and_falls_back(tmp_path, packing):
    import time

    path = tmp_path / "t.msh"
    t0 = time.perf_counter()
    # 0.05 s is less than the child's interpreter start-up: the limit is always reached
    res = mesh_packing(packing, path, h=1.0 * UM, routes=("occ", "voxel"), occ_time_limit_s=0.05,
                       log=lambda *a: None)
    assert time.perf_counter() - t0 < 30
    first = res.report["attempts"][0]
    assert first["route"] == "occ" and "time limit" in first["result"] and first["seconds"] < 5
    assert res.route == "voxel" and read(path, scale=UM).n_cells == res.report["cells"]
    assert not list(tmp_path.glob("*.tmp*"))  # the stopped attempt left no partial file
    with pytest.raises(ValueError, match="occ_time_limit_s must be > 0"):
        mesh_packing(packing, path, occ_time_limit_s=0.0)
    with pytest.raises(ValueError, match="needs isolate=True"):
        mesh_packing(packing, path, routes=("occ",), occ_time_limit_s=10.0, isolate=False)


def test_a_crashed_occ_process_is_a_route_failure(tmp_path, packing, monkeypatch):
    """A child killed by a signal (as the out-of-memory killer does) or dying with a
    traceback fails its route with a message; the caller goes on to the voxel route."""
    import stat
    import sys

    killer = tmp_path / "killed_python"
    killer.write_text("#!/bin/sh\necho 'gmsh: meshing...'\nkill -9 $$\n")
    killer.chmod(killer.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, "executable", str(killer))
    res = mesh_packing(packing, tmp_path / "k.msh", h=1.0 * UM, routes=("occ", "voxel"), log=lambda *a: None)
    msg = res.report["attempts"][0]["result"]
    assert res.route == "voxel"
    assert "killed by signal 9 (SIGKILL)" in msg and "out-of-memory" in msg and "gmsh: meshing..." in msg
    monkeypatch.undo()
    # a real child that dies with a traceback (an option mesh_spheres_occ does not know)
    with pytest.raises(RuntimeError, match="(?s)exited with code 1 .*TypeError.*no_such_option"):
        mesh_packing(packing, tmp_path / "e.msh", h=1.0 * UM, routes=("occ",),
                     occ_options={"no_such_option": 1}, log=lambda *a: None)


def test_long_occ_attempts_report_progress_and_stop_at_the_limit(tmp_path, monkeypatch):
    """The parent reports the elapsed time and the child's stage every progress interval
    while the child runs, and kills it at the limit, saying in which stage (a stand-in child
    that records two stages the way the worker does, sleeps, then exits with code 3)."""
    import stat
    import sys
    import time

    from ssbfv.mesh.occ import OccMeshError
    from ssbfv.mesh.occ_worker import run_isolated

    def fake_child(seconds):
        exe = tmp_path / f"sleeper_{seconds}"
        # called as: EXE -m ssbfv.mesh.occ_worker JOB_DIR
        stages = '{"stages": [["clean-up", 0.0], ["fragment", 0.02]]}'
        exe.write_text(f"#!/bin/sh\necho '{stages}' > \"$3/stage.json\"\nsleep {seconds}\nexit 3\n")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setattr(sys, "executable", str(exe))

    job, arrays = {"path": str(tmp_path / "x.msh")}, {"radii": np.ones(1)}
    fake_child(0.5)
    seen = []
    with pytest.raises(OccMeshError, match=r"exited with code 3 without a result, in stage 'fragment' "
                                           r"\(begun at 0 s; before: clean-up 0.0 s\)"):
        run_isolated(job, arrays, progress=lambda s, where: seen.append((s, where)), progress_interval_s=0.1)
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1][0] < 0.6
    assert seen[-1][1].startswith("in stage 'fragment'")
    fake_child(30)
    seen.clear()
    t0 = time.perf_counter()
    with pytest.raises(OccMeshError, match="stopped after 0.35 s, in stage 'fragment'"):
        run_isolated(job, arrays, time_limit_s=0.35, progress=lambda s, where: seen.append(s), progress_interval_s=0.1)
    assert time.perf_counter() - t0 < 5 and len(seen) >= 2 and max(seen) < 0.35


def test_stage_log_describes_where_the_time_went(tmp_path):
    from ssbfv.mesh.occ_worker import StageLog, describe_stages, read_stages

    assert describe_stages(read_stages(str(tmp_path / "none.json"))) == ""
    log = StageLog(str(tmp_path / "stage.json"))
    log("clean-up")
    log.stages[-1][1] = 0.0  # fixed times for the text
    log("fragment")
    log.stages[-1][1] = 12.5
    log("periodic mesh, 1D to 3D")
    log.stages[-1][1] = 400.0
    log("write")  # rewrites the file with the times above
    stages = read_stages(str(tmp_path / "stage.json"))
    assert [s[0] for s in stages] == ["clean-up", "fragment", "periodic mesh, 1D to 3D", "write"]
    stages[-1][1] = 450.0
    assert describe_stages(stages) == ("in stage 'write' (begun at 450 s; before: clean-up 12.5 s, fragment 387.5 s, "
                                       "periodic mesh, 1D to 3D 50.0 s)")


def test_voxel_size_divides_box():
    v = voxel_size_for((120e-6, 40e-6, 40e-6), 0.6e-6)
    n = np.array([120, 40, 40]) * 1e-6 / v
    assert v <= 0.6e-6 and np.allclose(n, np.round(n))


def test_incomplete_or_wrong_meshes_are_rejected(packing):
    from ssbfv.mesh.occ import OccMeshError
    from ssbfv.meshing import check_mesh_against_packing

    area = 20 * UM * 20 * UM
    good = {"patches": {"anode": {"area_m2": area}, "collector": {"area_m2": area}},
            "fractions": {"active": 0.305, "filler_of_electrolyte": 0.045}}
    packing.spec = {"measured": {"fractions": {"active": 0.31, "filler": 0.06}}}
    check_mesh_against_packing(good, packing)
    # the tolerances: 0.01 on the active fraction, 0.02 on the filler fraction of
    # the electrolyte
    for fr, name in (({"active": 0.2995, "filler_of_electrolyte": 0.06}, "active fraction 0.2995"),
                     ({"active": 0.31, "filler_of_electrolyte": 0.0395}, "filler_of_electrolyte fraction 0.0395")):
        with pytest.raises(OccMeshError, match=name):
            check_mesh_against_packing({**good, "fractions": fr}, packing)
    holed = {**good, "patches": {"anode": {"area_m2": area}, "collector": {"area_m2": 0.36 * area}}}
    with pytest.raises(OccMeshError, match="collector covers 0.3600"):
        check_mesh_against_packing(holed, packing)
    empty = {**good, "fractions": {"active": 0.0, "filler_of_electrolyte": 0.0}}
    with pytest.raises(OccMeshError, match="the mesh is not the packing"):
        check_mesh_against_packing(empty, packing)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_voxel_meshes_of_packings_meet_the_fraction_targets(tmp_path, seed):
    """Issue tolerance: +-0.01 active, +-0.02 filler fraction of the electrolyte, measured
    on the mesh against the targets of the spec."""
    from ssbfv.microstructure import load_spec, pack

    (tmp_path / "s.toml").write_text(nvp_filler_spec())
    packing = pack(load_spec(tmp_path / "s.toml"), seed=seed)
    res = mesh_packing(packing, tmp_path / "v.msh", h=1.0 * UM, routes=("voxel",), log=lambda *a: None)
    fr = res.report["fractions"]
    assert abs(fr["active"] - 0.54) <= 0.01
    assert abs(fr["filler_of_electrolyte"] - 0.59) <= 0.02
    assert res.report["active_clusters"]["connected_to_collector_fraction"] > 0.9




@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_occ_meshes_of_packings_meet_the_fraction_targets(tmp_path, seed):
    """Issue tolerances on OCC meshes (about 150 spheres, h = 1.2 um, 1-2 min each): the
    clean-up's volume change is restored, what is left is the faceting (mesh below the
    packing by ~0.004 active, 0.013-0.016 filler fraction of the electrolyte)."""
    from ssbfv.microstructure import load_spec, pack

    (tmp_path / "s.toml").write_text(nvp_filler_spec())
    packing = pack(load_spec(tmp_path / "s.toml"), seed=seed)
    res = mesh_packing(packing, tmp_path / "o.msh", routes=("occ", "occ-shifted"), log=lambda *a: None)
    fr = res.report["fractions"]
    assert abs(fr["active"] - 0.54) <= 0.01
    assert abs(fr["filler_of_electrolyte"] - 0.59) <= 0.02
    rest = res.report["route_details"]["volume_restoration"]
    assert rest["after"] == pytest.approx(rest["target"], abs=3e-4)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_occ_meshes_in_slabs_meet_the_same_targets(tmp_path, seed):
    """A 16 x 16 x 48 um cathode (about 150 spheres) in three slabs of about 50 spheres:
    one conformal mesh from an OCC route (the route's checks: every boundary face on a
    patch, periodic pairing, full anode and collector patches, fractions), with the slab
    planes in the report. Like the reference cell (benchmarks/RESULTS.md), a packing can
    need the shifted route when HXT fails in a slab (seed 1 here)."""
    from ssbfv.microstructure import load_spec, pack

    (tmp_path / "s.toml").write_text(nvp_filler_spec(lateral=16.0, cathode=48.0, separator=8.0))
    packing = pack(load_spec(tmp_path / "s.toml"), seed=seed)
    res = mesh_packing(packing, tmp_path / "o.msh", routes=("occ", "occ-shifted"),
                       occ_options={"spheres_per_slab": 50}, log=lambda *a: None)
    assert len(res.report["route_details"]["occ"]["slab_planes_m"]) == 2
    assert res.report["route_details"]["final_cleanup"]["remaining_violations"] == 0
    fr = res.report["fractions"]
    assert abs(fr["active"] - 0.54) <= 0.01
    assert abs(fr["filler_of_electrolyte"] - 0.59) <= 0.02


def test_a_mesh_with_boundary_faces_inside_is_rejected(tmp_path, monkeypatch):
    """Without merging the slabs' nodes on a slab plane (the copies of the plane's surface
    mesh stay apart), the mesh has boundary faces inside the cell; the route check finds
    them on no patch and rejects the mesh. With the merge the same packing passes."""
    import numpy as np

    import ssbfv.mesh.occ as occ
    from ssbfv.microstructure import Packing

    centres = np.array([[9.0, 5.0, 5.0], [14.0, 11.0, 9.0], [21.0, 6.0, 12.0], [26.0, 12.0, 4.0]]) * UM
    packing = Packing(centres, np.array([2.5, 2.0, 2.5, 2.0]) * UM, [0, 1, 0, 1], ("active", "filler"),
                      (30 * UM, 16 * UM, 16 * UM), 4 * UM, seed=3)
    kw = dict(h=1.0 * UM, routes=("occ",), isolate=False, occ_options={"spheres_per_slab": 2}, log=lambda *a: None)
    res = mesh_packing(packing, tmp_path / "ok.msh", **kw)
    assert res.report["route_details"]["occ"]["periodic_refinement"]["merged_plane_nodes"] > 0
    monkeypatch.setattr(occ, "_plane_node_map", lambda gmsh, pairs, lookup, points, tol: np.arange(len(points)))
    with pytest.raises(RuntimeError, match="boundary faces are on no patch"):
        mesh_packing(packing, tmp_path / "bad.msh", **kw)


def test_occ_memory_limit_stops_the_attempt_and_falls_back(tmp_path, packing):
    """An OCC attempt whose process holds more resident memory than the limit is stopped
    (a Python interpreter with numpy holds more than 5 MB) and the voxel route meshes; the
    default limit is 80 % of the machine's memory; a limit that is not positive is refused."""
    from ssbfv.meshing import default_memory_limit_mb

    path = tmp_path / "m.msh"
    res = mesh_packing(packing, path, h=1.0 * UM, routes=("occ", "voxel"), occ_memory_limit_mb=5.0,
                       log=lambda *a: None)
    first = res.report["attempts"][0]
    assert first["route"] == "occ" and "memory limit" in first["result"] and "limit 5 MB" in first["result"]
    assert res.route == "voxel"
    with open("/proc/meminfo") as f:
        total_mb = int(next(line for line in f if line.startswith("MemTotal:")).split()[1]) / 1024.0
    assert default_memory_limit_mb() == pytest.approx(0.8 * total_mb)
    with pytest.raises(ValueError, match="occ_memory_limit_mb must be > 0"):
        mesh_packing(packing, path, routes=("occ",), occ_memory_limit_mb=-1.0, log=lambda *a: None)
