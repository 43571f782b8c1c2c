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
