"""Fuzzed broken case files: every one gives a CaseError naming the file and the broken section
or key, none a traceback of another kind; `ssbfv check` prints the message and exits 2.

Each draw starts from a valid case (a small packing, like the quickstart's) and breaks one
thing: an unknown section or key, a wrong type (string, list, table, boolean, huge integer,
NaN, inf) or an out-of-range value of a schema key, a missing required section or key, a
section that is not a table, a broken [parameters.overrides] entry (unknown name, wrong type,
out of range, a model table of the wrong kind or with bad fields), a bad material, invalid TOML
text or bytes (not UTF-8), or a referenced file that does not exist. A draw that happens to be
valid (e.g. an override that is a number in range) must pass check_case.
"""

import math

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssbfv.case import CaseError
from ssbfv.case.check import check_case
from ssbfv.case.config import SCHEMA
from ssbfv.cli import main
from helpers import tiny_packing

VALID = {
    "case": {"name": "fuzz"},
    "geometry": {"packing": "packing.toml", "voxel_size_um": 1.0},
    "parameters": {"set": "nvp_peo_nasicon"},
    "protocol": {"mode": "discharge", "c_rate": 0.5},
    "numerics": {"dt0_s": 2.0, "dt_max_s": 200.0},
    "output": {"progress_interval_s": 5.0},
}
PACKING = tiny_packing(seed=1)

scalars = st.one_of(
    st.integers(min_value=-10**30, max_value=10**30), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 0, -1, 0.0, 1e308, -1e-308, 2**64, True, False, "", "1.0"]),
    st.booleans(), st.text(max_size=20), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
sections = st.sampled_from(sorted(SCHEMA))
names = st.text(min_size=1, max_size=10)
OVERRIDE_KEYS = ["solid.D_s", "solid.c_s_min", "solid.nope", "kinetics.k", "kinetics.alpha_a", "thermal.T",
                 "electrolyte.polymer.t_plus", "ocp.model", "ocp.model.T", "ocp.model.A", "ocp.model.x",
                 "electrolyte.filler.kappa", "electrolyte.filler.kappa.kappa0", "x", ""]
model_tables = st.fixed_dictionaries(
    {"model": st.one_of(st.sampled_from(["constant", "polymer_peak", "margules2", "redlich_kister", "nope"]),
                        scalars)},
    optional={"kappa0": scalars, "c_floor": scalars, "U0": scalars, "A": scalars, "B": scalars, "T": scalars,
              "units": scalars, "zz": scalars})


def _any(*groups):
    """Expected message parts: any one group of substrings, all of whose members must appear."""
    return [list(g) for g in groups]


@st.composite
def broken(draw):
    """(case.toml content: dict, str or bytes; expected substrings besides the file name)."""
    data = {k: dict(v) for k, v in VALID.items()}
    kind = draw(st.sampled_from(["unknown_section", "unknown_key", "wrong_value", "non_finite", "missing",
                                 "overrides", "model_table", "materials", "not_a_table", "raw_text", "raw_bytes",
                                 "missing_file"]))
    sec = draw(sections)
    if kind == "unknown_section":
        name = draw(names.filter(lambda s: s not in SCHEMA))
        data[name] = {"a": 1}
        return data, _any([repr(name)])
    if kind == "unknown_key":
        key = draw(names.filter(lambda s: s not in SCHEMA[sec]))
        data.setdefault(sec, {})[key] = 1
        return data, _any([f"[{sec}]", repr(key)])
    if kind in ("wrong_value", "non_finite"):
        key = draw(st.sampled_from(sorted(SCHEMA[sec])))
        value = draw(scalars if kind == "wrong_value" else st.sampled_from([math.nan, math.inf, -math.inf]))
        data.setdefault(sec, {})[key] = value
        if sec == "geometry" and key in ("mesh", "descriptors"):  # two geometry sources
            return data, _any(["[geometry]", key], ["[geometry]", "packing"])
        return data, _any([f"[{sec}", key])
    if kind == "missing":
        victim = draw(st.sampled_from([("geometry", None), ("parameters", "set"), ("protocol", "mode"),
                                       ("protocol", "c_rate"), ("parameters", None), ("protocol", None),
                                       ("geometry", "packing")]))
        if victim[1] is None:
            del data[victim[0]]
            return data, _any([f"[{victim[0]}]"])
        del data[victim[0]][victim[1]]
        return data, _any([f"[{victim[0]}]", victim[1]])
    if kind in ("overrides", "model_table"):
        key = draw(st.sampled_from(OVERRIDE_KEYS))
        data["parameters"]["overrides"] = {key: draw(scalars if kind == "overrides" else model_tables)}
        # an override of a protocol default (thermal.T moves the OCP) may instead break [protocol]
        return data, _any(["[parameters.overrides]", repr(key)], ["[protocol]"])
    if kind == "materials":
        region = draw(st.sampled_from(["polymer", "filler", "separator"]))
        data["parameters"]["materials"] = {region: draw(scalars)}
        return data, _any(["[parameters.materials]", region])
    if kind == "not_a_table":
        data[sec] = draw(scalars)
        return data, _any([f"[{sec}"])
    if kind == "raw_text":
        return draw(st.text(max_size=60)), []
    if kind == "raw_bytes":
        return b"\xff" + draw(st.binary(max_size=40)), []
    key = draw(st.sampled_from(["packing", "mesh", "descriptors"]))
    name = draw(st.text(min_size=1, max_size=8).filter(
        lambda s: "/" not in s and "\0" not in s and s not in ("packing.toml", "case.toml")))
    data["geometry"] = {key: name, "active_phase": "am", "electrolyte_phase": "se"}
    return data, _any([f"[geometry] {key}"])


def _write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
        return
    if isinstance(content, dict):
        try:
            content = tomli_w.dumps(content)
        except (TypeError, ValueError):  # not representable in TOML: a hand-written broken line
            content = "[protocol]\nc_rate = " + repr(content) + "\n"
    path.write_text(content, encoding="utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=broken())
def test_broken_case_files_give_a_clean_error(tmp_path, case):
    content, expected = case
    d = tmp_path / "c"
    d.mkdir(exist_ok=True)
    (d / "packing.toml").write_text(PACKING)
    _write(d / "case.toml", content)
    try:
        check_case(d)
    except CaseError as exc:
        msg = str(exc)
        assert str(d / "case.toml") in msg, msg
        assert "\n" not in msg.split(": ", 1)[0]
        assert not expected or any(all(part in msg for part in group) for group in expected), (expected, msg)
        return
    # a few draws are valid after all (an override that is a number in range, a string name):
    # they must be genuinely valid, i.e. load again without raising anything
    check_case(d)


def test_specific_traps(tmp_path):
    """Inputs that once slipped through or raised something else."""
    d = tmp_path / "c"
    d.mkdir()
    (d / "packing.toml").write_text(PACKING)

    def err(**changes):
        data = {k: dict(v) for k, v in VALID.items()}
        for path, value in changes.items():
            sec, key = path.split("__")
            data[sec][key] = value
        (d / "case.toml").write_text(tomli_w.dumps(data))
        try:
            check_case(d)
        except CaseError as exc:
            return str(exc)
        raise AssertionError(f"no CaseError for {changes}")

    (d / "case.toml").write_bytes(b"\xff\xfe[case]\n")
    try:
        check_case(d)
        raise AssertionError("invalid UTF-8 accepted")
    except CaseError as exc:
        assert "UTF-8" in str(exc)
    assert "not a finite number" in err(geometry__voxel_size_um=math.inf)
    assert "[geometry] seed = -1 is out of range" in err(geometry__seed=-1)
    assert "too fine" in err(geometry__voxel_size_um=1e-3)
    assert "too coarse" in err(geometry__voxel_size_um=50.0)
    assert "would end at once" in err(protocol__v_cut_V=5.0)
    assert "is an OCP model" in err(parameters__overrides={"ocp.model": {"model": "constant", "kappa0": 1.0}})
    assert "'electrolyte.filler.kappa'" in err(
        parameters__overrides={"electrolyte.filler.kappa": {"model": "constant", "kappa0": "x"}})
    assert "field U0 = inf must be a finite number" in err(
        parameters__overrides={"ocp.model": {"model": "margules2", "U0": math.inf, "A": 1.0, "B": 0.0}})
    assert "units must be a table" in err(parameters__overrides={"ocp.model": {"model": "margules2", "units": [1]}})


def test_check_command(tmp_path, capsys):
    d = tmp_path / "c"
    d.mkdir()
    (d / "packing.toml").write_text(PACKING)
    (d / "case.toml").write_text(tomli_w.dumps(VALID))
    assert main(["check", str(d)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{d}: ok (") and out.count("\n") == 1
    bad = {k: dict(v) for k, v in VALID.items()}
    bad["protocol"]["c_rate"] = -1
    (d / "case.toml").write_text(tomli_w.dumps(bad))
    assert main(["check", str(d)]) == 2
    out = capsys.readouterr().out
    assert "[protocol] c_rate = -1 is out of range" in out and out.count("\n") == 1
    bad["protocol"] = {"mode": "charge", "c_rate": 1.0, "chi0": 0.2, "chi_end": 0.5}
    (d / "case.toml").write_text(tomli_w.dumps(bad))
    assert main(["check", str(d)]) == 2
    assert "cannot reach chi_end" in capsys.readouterr().out
