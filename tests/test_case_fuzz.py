"""Fuzzed broken case files: every one gives a CaseError naming the file (and the key), none a
traceback of another kind; `ssbfv check` prints the message and exits 2."""


import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssbfv.case import CaseError
from ssbfv.case.check import check_case
from ssbfv.case.config import SCHEMA
from ssbfv.cli import main

VALID = {
    "case": {"name": "fuzz"},
    "geometry": {"packing": "packing.toml", "voxel_size_um": 1.0},
    "parameters": {"set": "nvp_peo_nasicon"},
    "protocol": {"mode": "discharge", "c_rate": 0.5},
    "numerics": {"dt0_s": 2.0, "dt_max_s": 200.0},
    "output": {"progress_interval_s": 5.0},
}
PACKING = """seed = 1
[box]
lateral_um = [8.0, 8.0]
cathode_thickness_um = 8.0
separator_thickness_um = 4.0
[[species]]
name = "active"
diameter_um = 4.0
volume_fraction = 0.5
"""

scalars = st.one_of(
    st.integers(min_value=-10**30, max_value=10**30), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.text(max_size=20), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
sections = st.sampled_from(sorted(SCHEMA))


@st.composite
def broken(draw):
    data = {k: dict(v) for k, v in VALID.items()}
    kind = draw(st.sampled_from(["unknown_section", "unknown_key", "wrong_value", "missing", "overrides",
                                 "materials", "not_a_table", "raw_text", "missing_file"]))
    sec = draw(sections)
    if kind == "unknown_section":
        data[draw(st.text(min_size=1, max_size=10).filter(lambda s: s not in SCHEMA))] = {"a": 1}
    elif kind == "unknown_key":
        data.setdefault(sec, {})[draw(st.text(min_size=1, max_size=10).filter(lambda s: s not in SCHEMA[sec]))] = 1
    elif kind == "wrong_value":
        key = draw(st.sampled_from(sorted(SCHEMA[sec])))
        data.setdefault(sec, {})[key] = draw(scalars)
    elif kind == "missing":
        victim = draw(st.sampled_from([("geometry", None), ("parameters", "set"), ("protocol", "mode"),
                                       ("protocol", "c_rate"), ("parameters", None), ("protocol", None)]))
        if victim[1] is None:
            del data[victim[0]]
        else:
            del data[victim[0]][victim[1]]
    elif kind == "overrides":
        data["parameters"]["overrides"] = {draw(st.sampled_from(["solid.D_s", "solid.nope", "kinetics.k",
                                                                 "thermal.T", "x"])): draw(scalars)}
    elif kind == "materials":
        data["parameters"]["materials"] = {draw(st.sampled_from(["polymer", "filler"])): draw(scalars)}
    elif kind == "not_a_table":
        data[sec] = draw(scalars)
    elif kind == "raw_text":
        return draw(st.text(max_size=60))
    elif kind == "missing_file":
        data["geometry"]["packing"] = draw(st.text(min_size=1, max_size=8).filter(lambda s: "/" not in s and "\0" not in s))
    return data


def _dump(data):
    if isinstance(data, str):
        return data
    try:
        return tomli_w.dumps(data)
    except (TypeError, ValueError):  # NaN/inf are fine for tomli_w; other unwritable values: write a repr
        return "[protocol]\nc_rate = " + repr(data) + "\n"


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=broken())
def test_broken_case_files_give_a_clean_error(tmp_path, case):
    d = tmp_path / "c"
    d.mkdir(exist_ok=True)
    (d / "packing.toml").write_text(PACKING)
    text = _dump(case)
    (d / "case.toml").write_text(text)
    try:
        check_case(d)
    except CaseError as exc:
        msg = str(exc)
        assert str(d / "case.toml") in msg, msg
        return
    # a few draws are valid after all (e.g. an override that is a number in range): they must be
    # genuinely valid, i.e. check again without raising anything
    check_case(d)


def test_check_command(tmp_path, capsys):
    d = tmp_path / "c"
    d.mkdir()
    (d / "packing.toml").write_text(PACKING)
    (d / "case.toml").write_text(tomli_w.dumps(VALID))
    assert main(["check", str(d)]) == 0
    assert ": ok (" in capsys.readouterr().out
    bad = {k: dict(v) for k, v in VALID.items()}
    bad["protocol"]["c_rate"] = -1
    (d / "case.toml").write_text(tomli_w.dumps(bad))
    assert main(["check", str(d)]) == 2
    out = capsys.readouterr().out
    assert "[protocol] c_rate = -1 is out of range" in out
    bad["protocol"] = {"mode": "charge", "c_rate": 1.0, "chi0": 0.2, "chi_end": 0.5}
    (d / "case.toml").write_text(tomli_w.dumps(bad))
    assert main(["check", str(d)]) == 2
    assert "cannot reach chi_end" in capsys.readouterr().out
