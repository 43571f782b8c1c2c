"""The console script."""

import subprocess
import sys

import ssbfv
from ssbfv.cli import main


def test_version_and_help(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert ssbfv.__version__ in capsys.readouterr().out
    assert main([]) == 0
    assert "demo" in capsys.readouterr().out


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "ssbfv.cli", "--help"], capture_output=True, text=True, check=True)
    assert "usage: ssbfv" in out.stdout


def test_demo_matches_series_formula(capsys):
    assert main(["demo", "--h", "3"]) == 0
    out = capsys.readouterr().out
    line = [l for l in out.splitlines() if "relative difference" in l][0]
    assert float(line.rsplit(" ", 1)[1]) < 1e-6


def test_inspect_reports_regions(tmp_path, capsys):
    from ssbfv.mesh.generate import box_tet_mesh

    path = box_tet_mesh(tmp_path / "b.msh", h=0.3, layers=(("sep", 0.5), ("cat", 0.5)))
    assert main(["inspect", str(path), "--scale", "1"]) == 0
    out = capsys.readouterr().out
    assert "region        sep" in out and "interface sep|cat" in out
    assert main(["inspect", str(tmp_path / "missing.msh")]) == 2


def test_mesh_command_occ_time_limit(tmp_path, capsys):
    """`ssbfv mesh --occ-time-limit`: the OCC route is stopped and the voxel route meshes;
    a limit that is not a positive number is refused before any work."""
    import json

    import numpy as np
    import pytest

    from ssbfv.microstructure import Packing

    um = 1e-6
    Packing(np.array([[12.0, 5.0, 5.0], [18.0, 12.0, 12.0]]) * um, np.array([3.0, 2.0]) * um, [0, 1],
            ("active", "filler"), (24 * um, 16 * um, 16 * um), 4 * um, seed=3).save(tmp_path / "p.h5")
    out = tmp_path / "m.msh"
    assert main(["mesh", str(tmp_path / "p.h5"), "-o", str(out), "--h-um", "1.0", "--routes", "occ,voxel",
                 "--occ-time-limit", "0.05"]) == 0
    rep = json.loads((tmp_path / "m.msh.report.json").read_text())
    assert rep["route"] == "voxel" and "time limit" in rep["attempts"][0]["result"]
    assert "route: voxel" in capsys.readouterr().out
    for bad in ("0", "-5", "soon"):
        with pytest.raises(SystemExit) as exc:
            main(["mesh", str(tmp_path / "p.h5"), "-o", str(out), "--occ-time-limit", bad])
        assert exc.value.code == 2
    assert "--occ-time-limit" in capsys.readouterr().err


def test_mesh_command_spheres_per_slab(tmp_path, capsys):
    """`ssbfv mesh --spheres-per-slab 2` on four spheres: two slabs, one plane between them,
    and a mesh that passes the route's checks; a negative count is refused."""
    import json

    import numpy as np
    import pytest

    from ssbfv.microstructure import Packing

    um = 1e-6
    centres = np.array([[9.0, 5.0, 5.0], [14.0, 11.0, 9.0], [21.0, 6.0, 12.0], [26.0, 12.0, 4.0]]) * um
    Packing(centres, np.array([2.5, 2.0, 2.5, 2.0]) * um, [0, 1, 0, 1], ("active", "filler"),
            (30 * um, 16 * um, 16 * um), 4 * um, seed=3).save(tmp_path / "p.h5")
    out = tmp_path / "m.msh"
    assert main(["mesh", str(tmp_path / "p.h5"), "-o", str(out), "--h-um", "1.0", "--routes", "occ",
                 "--spheres-per-slab", "2", "--quiet"]) == 0
    rep = json.loads((tmp_path / "m.msh.report.json").read_text())
    assert rep["route"] == "occ" and len(rep["route_details"]["occ"]["slab_planes_m"]) == 1
    with pytest.raises(SystemExit) as exc:
        main(["mesh", str(tmp_path / "p.h5"), "-o", str(out), "--spheres-per-slab", "-1"])
    assert exc.value.code == 2
