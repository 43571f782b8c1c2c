"""Write the case directories of the 3D paper's studies (DESIGN.md §9) under cases/paper3d/.

    python cases/paper3d/make_cases.py            # (re)writes filler/, thickness/, nvp/

Every member is a full case (case.toml + packing.toml): 40 x 40 um lateral, 20 um NaSICON
separator, 8 um NVP spheres, 4 um NaSICON filler spheres, 1 um voxels, C/5, parameter set
nvp_peo_nasicon unchanged. A filler fraction of 100 % has no filler spheres and maps the
polymer region to the filler material (a NaSICON-only cathode electrolyte); 0 % has no
filler species. The thickness study uses 55 % NVP and 56 % filler, the NVP study 50 % filler.
The members differ only in what the study varies (and the seed is the same for all).
The collector is equipotential ([numerics] collector, docs/halfcell.md): with one active
cluster on the collector, as in 20 of the 22 members, that is DESIGN.md §4's uniform spread.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent

PACKING = """# 3D paper, {study} study: {what} (DESIGN.md §9)
seed = 1

[box]
lateral_um = [40.0, 40.0]
cathode_thickness_um = {cathode:g}
separator_thickness_um = 20.0

[[species]]
name = "active"
diameter_um = 8.0
volume_fraction = {nvp:g}
{filler_block}"""

FILLER = """
[[species]]
name = "filler"
diameter_um = 4.0
electrolyte_fraction = {filler:g}
"""

CASE = """# 3D paper, {study} study: {what}, {mode} at C/5 (DESIGN.md §9)
[case]
name = "{name}"
description = "{what}, {mode} at C/5"

[geometry]
packing = "packing.toml"
mesher = "voxel"
voxel_size_um = 1.0

[parameters]
set = "nvp_peo_nasicon"
{materials}
[protocol]
mode = "{mode}"
c_rate = 0.2

[numerics]
dt0_s = 2.0
dt_max_s = 300.0
# the collector as one conductor (docs/halfcell.md): the same computation as DESIGN.md's
# uniform spread where one active cluster touches the collector (20 of the 22 members);
# on nvp39 and t200 the uniform spread drives 7.4x and 132x its volume share of the current
# into a small cluster on the collector (nvp39 ended at SOC 0.863 when that cluster was full)
collector = "equipotential"

[output]
progress_interval_s = 60.0
field_interval_s = 900.0
checkpoint_interval_s = 120.0
"""


def member(study: str, name: str, *, cathode=100.0, nvp=0.54, filler=0.59, mode="discharge") -> Path:
    d = HERE / study / name
    d.mkdir(parents=True, exist_ok=True)
    what = f"{nvp * 100:g} % NVP, filler {filler * 100:g} % of the electrolyte, {cathode:g} um cathode"
    block = FILLER.format(filler=filler) if 0 < filler < 1 else ""
    materials = '[parameters.materials]\npolymer = "filler"  # 100 % filler: the whole electrolyte is NaSICON\n' \
        if filler >= 1 else ""
    (d / "packing.toml").write_text(PACKING.format(study=study, what=what, cathode=cathode, nvp=nvp,
                                                   filler_block=block))
    (d / "case.toml").write_text(CASE.format(study=study, what=what, name=f"{study}/{name}", mode=mode,
                                             materials=materials))
    return d


def main():
    made = []
    for mode in ("discharge", "charge"):
        for f in (0, 20, 40, 59, 80, 100):
            made.append(member("filler", f"{mode}_{f:03d}", filler=f / 100.0, mode=mode))
    for t in (70, 100, 150, 200, 250):
        made.append(member("thickness", f"t{t:03d}", cathode=float(t), nvp=0.55, filler=0.56))
    for n in (39, 50, 60, 70, 80):
        made.append(member("nvp", f"nvp{n:02d}", nvp=n / 100.0, filler=0.50))
    for d in made:
        print(d.relative_to(HERE))


if __name__ == "__main__":
    main()
