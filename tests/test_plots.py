"""`ssbfv plot`: images from real run results, line data equal to the files."""

import csv
import json

import numpy as np
import pytest
from matplotlib.image import imread

from ssbfv.case.plots import _voltage_capacity_lines, plot_overlay, plot_profiles, results_dir
from ssbfv.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from test_case import CASE, tiny_mesh

    out = []
    for rate in ("1.0", "2.0"):
        d = tmp_path_factory.mktemp("plot") / f"c{rate}"
        d.mkdir()
        tiny_mesh(d / "mesh.msh")
        (d / "case.toml").write_text(CASE.replace("c_rate = 1.0", f"c_rate = {rate}")
                                     + "\n[output]\nfield_interval_s = 10.0\n")
        assert main(["run", str(d), "--quiet"]) == 0
        out.append(d)
    return out


def _png(path):
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
    return img


def test_plot_one_case_writes_voltage_and_profile_images(runs, capsys):
    assert main(["plot", str(runs[0])]) == 0
    res = runs[0] / "results"
    _png(res / "voltage_capacity.png")
    _png(res / "profiles.png")
    lines = _voltage_capacity_lines(res)
    rows = list(csv.DictReader(open(res / "timeseries.csv")))
    np.testing.assert_allclose(lines[0][1], [float(r["capacity_mAh_per_cm3"]) for r in rows])
    np.testing.assert_allclose(lines[0][2], [float(r["voltage_V"]) for r in rows])


def test_overlay_of_several_cases(runs, tmp_path):
    out = tmp_path / "ov.png"
    assert main(["plot", *map(str, runs), "--overlay", str(out)]) == 0
    _png(out)
    caps = [json.loads((r / "results" / "summary.json").read_text())["utilised_capacity_mAh_per_cm3"] for r in runs]
    assert caps[0] != caps[1]
    plot_overlay([r / "results" for r in runs], tmp_path / "ov2.png", label_key="c_rate")
    _png(tmp_path / "ov2.png")


def test_missing_results_are_clear_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match="neither a case directory"):
        results_dir(tmp_path)
    with pytest.raises(ValueError, match="no such profiles file"):
        plot_profiles(tmp_path)
    assert main(["plot", str(tmp_path)]) == 2
    assert "ssbfv plot: error" in capsys.readouterr().err
