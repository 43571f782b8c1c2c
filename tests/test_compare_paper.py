"""cases/paper3d/compare_paper.py: our table beside DESIGN.md §9, on synthetic results."""

import importlib.util
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "cases" / "paper3d" / "compare_paper.py"


def load_script():
    spec = importlib.util.spec_from_file_location("compare_paper", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_member(root, name, summary=None, phi_end=None):
    d = root / "nvp" / name
    (d / "results").mkdir(parents=True)
    (d / "case.toml").write_text("# synthetic\n")
    if summary is not None:
        (d / "results" / "summary.json").write_text(json.dumps(summary))
    if phi_end is not None:
        x = (np.arange(12) + 0.5) * 10e-6  # 12 bins of 10 um over 120 um
        with h5py.File(d / "results" / "profiles.h5", "w") as h:
            h.attrs["n_bins"], h.attrs["x_min_m"], h.attrs["x_max_m"] = 12, 0.0, 120e-6
            h["x_m"] = x
            h["time_s"] = [0.0, 100.0]
            h["voltage_V"] = [3.3, 2.5]
            h["phi_e_V"] = np.vstack([np.zeros(12), phi_end(x)])
            h["c_e_mol_per_m3"] = np.ones((2, 12))
            h["chi"] = np.ones((2, 12))


def summary(capacity):
    return {"utilised_capacity_mAh_per_cm3": capacity, "utilised_capacity_mAh_per_cm2": capacity / 100,
            "utilisation": capacity / 200, "final_soc": 1 - capacity / 200, "end_reason": "voltage_cutoff",
            "wall_time_s": 12.0,
            # 100 um cathode behind a 20 um separator
            "mesh": {"volume_cathode_m3": 100e-6 * 1.6e-9, "area_yz_m2": 1.6e-9}}


def test_table_has_the_potential_drop_across_the_cathode(tmp_path):
    mod = load_script()
    # phi_e falls linearly by 5 mV per um from x = 20 um: bins at 25 and 115 um differ by 0.45 V
    write_member(tmp_path, "nvp50", summary(93.2), lambda x: -5e3 * np.maximum(x - 20e-6, 0.0))
    write_member(tmp_path, "nvp60", summary(66.5))  # finished, no profiles
    write_member(tmp_path, "nvp80")  # not run
    rows = {r[0]: r for r in mod.rows("nvp", tmp_path)}
    assert rows["nvp50"][2] == pytest.approx(0.45, rel=1e-12, abs=0)
    assert rows["nvp60"][2] is None and rows["nvp80"][1] is None
    assert rows["nvp80"][3] == "stops at SOC 0.9"
    text = mod.format_rows("nvp", list(rows.values()), markdown=True)
    line50 = next(line for line in text.splitlines() if line.startswith("| nvp50 "))
    assert line50.split(" | ")[7] == "0.450"
    assert "| nvp80 | not run |" in text
    assert "> 250 mV" in text
