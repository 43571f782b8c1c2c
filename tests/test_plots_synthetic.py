"""Fast synthetic checks of ssbfv.case.plots: results directories built in the test (CSV, JSON, profiles.h5)."""
import argparse, csv, json, os
import h5py, numpy as np, pytest
from matplotlib.image import imread
from ssbfv.case import plots
from ssbfv.case.output import COLUMNS
from ssbfv.case.plots import (_voltage_capacity_lines, add_plot_arguments, plot_case, plot_overlay,
                              plot_profiles, plot_voltage_capacity, results_dir, run_plot)
from ssbfv.cli import main


def make_results(d, name="c1", rate=1.0, n=20, cap_end=100.0, profiles=True, n_t=7, n_bins=12):
    d.mkdir(parents=True, exist_ok=True)
    q = np.linspace(0, cap_end, n); v = 3.4 - 0.6 * (q / cap_end) ** 3
    with open(d / "timeseries.csv", "w", newline="") as f:
        w = csv.writer(f); w.writerow(COLUMNS)
        for i in range(n):
            w.writerow([i * 10.0, v[i], 5.0, q[i], q[i] * 0.01, 1 - q[i] / 200, q[i] / 200, 3, 1e-7, 10.0, 20, 1e-12, 0.1])
    (d / "summary.json").write_text(json.dumps({"case": name, "mode": "discharge", "c_rate": rate,
        "end_reason": "voltage_cutoff", "utilised_capacity_mAh_per_cm3": cap_end, "utilisation": cap_end / 200,
        "final_soc": 0.5}))
    if profiles:
        with h5py.File(d / "profiles.h5", "w") as h:
            h.attrs["n_bins"] = n_bins; h.attrs["x_min_m"] = 0.0; h.attrs["x_max_m"] = 60e-6
            h["x_m"] = (np.arange(n_bins) + 0.5) * 60e-6 / n_bins
            h["time_s"] = np.linspace(0, 190, n_t); h["voltage_V"] = np.linspace(3.4, 2.8, n_t)
            h["c_e_mol_per_m3"] = 1000 + np.outer(np.arange(n_t), np.linspace(50, -50, n_bins))
            h["phi_e_V"] = np.outer(np.arange(n_t), np.linspace(0, -0.01, n_bins))
            chi = np.tile(np.linspace(0.2, 0.9, n_t)[:, None], (1, n_bins)); chi[:, :3] = np.nan  # separator
            h["chi"] = chi
    return d


def png(p):
    assert p.is_file() and p.stat().st_size > 0
    img = imread(p); assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    return img


def test_voltage_capacity(tmp_path):
    r = make_results(tmp_path / "case" / "results")
    p = plot_voltage_capacity(r); assert p == r / "voltage_capacity.png"; png(p)
    lines = _voltage_capacity_lines(r); assert len(lines) == 1
    rows = list(csv.DictReader(open(r / "timeseries.csv")))
    np.testing.assert_allclose(lines[0][1], [float(x["capacity_mAh_per_cm3"]) for x in rows])
    np.testing.assert_allclose(lines[0][2], [float(x["voltage_V"]) for x in rows])
    assert not list(r.glob("*.tmp*"))


def test_p2d_overlay_subdir(tmp_path):
    r = make_results(tmp_path / "results")
    make_results(r / "p2d_d50", profiles=False, cap_end=120)
    lines = _voltage_capacity_lines(r); assert [l[0] for l in lines] == ["3D", "P2D d50"]
    png(plot_voltage_capacity(r))


def test_single_row_timeseries(tmp_path):
    r = make_results(tmp_path / "results", n=1, profiles=False)
    png(plot_voltage_capacity(r))


def test_profiles(tmp_path):
    r = make_results(tmp_path / "results")
    png(plot_profiles(r, n_times=3)); png(plot_profiles(r, n_times=50, out=tmp_path / "p.png"))


def test_profiles_missing(tmp_path):
    r = make_results(tmp_path / "results", profiles=False)
    with pytest.raises(ValueError, match="profiles.h5"):
        plot_profiles(r)
    assert [p.name for p in plot_case(r)] == ["voltage_capacity.png"]


def test_plot_case_both(tmp_path):
    r = make_results(tmp_path / "results")
    assert [p.name for p in plot_case(r)] == ["voltage_capacity.png", "profiles.png"]


def test_overlay_three(tmp_path):
    rs = [make_results(tmp_path / f"m{i}" / "results", name=f"m{i}", rate=i + 1.0, cap_end=100 - 10 * i) for i in range(3)]
    png(plot_overlay(rs, tmp_path / "ov.png")); png(plot_overlay(rs, tmp_path / "ov2.png", label_key="c_rate"))


def test_missing_results(tmp_path):
    with pytest.raises(ValueError, match="neither a case directory"):
        results_dir(tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "summary.json").write_text("{}")
    with pytest.raises(ValueError, match="timeseries.csv"):
        plot_voltage_capacity(tmp_path / "results")


def test_run_plot_argparse(tmp_path, monkeypatch):
    rs = [make_results(tmp_path / f"m{i}" / "results", name=f"m{i}") for i in range(3)]
    p = argparse.ArgumentParser(); add_plot_arguments(p)
    monkeypatch.chdir(tmp_path)
    # case dir without case.toml -> CASE/results; results dir directly
    assert run_plot(p.parse_args([str(rs[0].parent), str(rs[1]), str(rs[2]), "--times", "2"])) == 0
    png(tmp_path / "overlay.png")
    for r in rs: png(r / "voltage_capacity.png"); png(r / "profiles.png")
    assert main(["plot", str(rs[0]), "--overlay", str(tmp_path / "x.png")]) == 0


def test_cli_error(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nope")]) == 2
    assert "ssbfv plot: error" in capsys.readouterr().err
