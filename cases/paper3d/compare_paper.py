"""Our results of the 3D paper's studies beside the paper's (DESIGN.md §9).

    python cases/paper3d/compare_paper.py [filler|thickness|nvp ...] [--root DIR] [--markdown]

Reads every member's results/summary.json (members not run yet show "not run") and prints one
table per study: utilised capacity [mAh/cm^3 and mAh/cm^2], utilisation (depth of discharge),
SOC at the end, end reason, wall time, the electrolyte potential drop across the cathode at the
end (from results/profiles.h5: the y-z average of phi_e at the separator side minus at the
collector side; the paper has > 250 mV at the end of discharge), and the paper's value or
statement for that member.
The paper's values are the trends of DESIGN.md §9; nothing here is tuned towards them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ssbfv.case.profiles import potential_drop, read_profiles

HERE = Path(__file__).resolve().parent

PAPER = {
    "filler": {
        "discharge_000": "21 mAh/cm3", "discharge_059": "138 mAh/cm3 (utilisation 0.67)",
        "discharge_080": "slightly below 100 % utilisation", "discharge_100": "202 mAh/cm3",
        "discharge_020": "between 21 and 138", "discharge_040": "between 21 and 138",
        "charge_080": "< 50 % utilised", "charge_059": "almost none utilised",
        "charge_040": "almost none utilised", "charge_020": "no convergence below 31 %",
        "charge_000": "no convergence below 31 %", "charge_100": "-",
    },
    "thickness": {
        "t070": "0.8 mAh/cm2, depth of discharge 0.60", "t250": "~2 mAh/cm2, depth of discharge 0.40",
        "t100": "between", "t150": "between", "t200": "between",
    },
    "nvp": {
        "nvp80": "stops at SOC 0.9", "nvp39": "goes below SOC 0.1",
        "nvp50": "between", "nvp60": "between", "nvp70": "between",
    },
}


PAPER_POTENTIAL_DROP = "> 250 mV across the cathode at the end of discharge"


def cathode_potential_drop(results: Path, summary: dict) -> float | None:
    """phi_e(separator side) - phi_e(collector side) [V] at the last profile of a finished run,
    the cathode being the last volume_cathode / area_yz of the x extent (DESIGN.md §1: the
    separator comes first); None without profiles.h5."""
    path = results / "profiles.h5"
    if not path.is_file():
        return None
    prof = read_profiles(path)
    thickness = summary["mesh"]["volume_cathode_m3"] / summary["mesh"]["area_yz_m2"]
    x_max = float(prof["x_max_m"])
    return potential_drop(prof, x_max - thickness, x_max)


def rows(study: str, root: Path):
    """(member, summary or None, potential drop [V] or None, paper's statement) per member."""
    out = []
    for d in sorted((root / study).iterdir()):
        if not (d / "case.toml").is_file():
            continue
        s_path = d / "results" / "summary.json"
        s = json.loads(s_path.read_text()) if s_path.is_file() else None
        drop = cathode_potential_drop(d / "results", s) if s is not None else None
        out.append((d.name, s, drop, PAPER.get(study, {}).get(d.name, "")))
    return out


def format_rows(study, table, markdown=False):
    head = ["member", "mAh/cm3", "mAh/cm2", "utilisation", "final SOC", "end", "wall s", "dphi_e V", "paper"]
    lines = []
    if markdown:
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + " --- |" * len(head))
    else:
        lines.append(f"{study}:")
        lines.append(f"  {'member':<15} {'mAh/cm3':>8} {'mAh/cm2':>8} {'util.':>6} {'SOC':>6} {'end':<17} {'wall s':>7} "
                     f"{'dphi_e V':>8}  paper")
    for name, s, drop, paper in table:
        if s is None:
            cells = [name, "not run", "", "", "", "", "", "", paper]
        else:
            cells = [name, f"{s['utilised_capacity_mAh_per_cm3']:.1f}", f"{s['utilised_capacity_mAh_per_cm2']:.3f}",
                     f"{s['utilisation']:.3f}", f"{s['final_soc']:.3f}", s["end_reason"], f"{s['wall_time_s']:.0f}",
                     "" if drop is None else f"{drop:.3f}", paper]
        if markdown:
            lines.append("| " + " | ".join(cells) + " |")
        else:
            lines.append(f"  {cells[0]:<15} {cells[1]:>8} {cells[2]:>8} {cells[3]:>6} {cells[4]:>6} {cells[5]:<17} "
                         f"{cells[6]:>7} {cells[7]:>8}  {cells[8]}")
    lines.append(("" if markdown else "  ") + f"dphi_e: phi_e(separator side) - phi_e(collector side) at the end; "
                 f"paper: {PAPER_POTENTIAL_DROP}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("studies", nargs="*", default=["filler", "thickness", "nvp"])
    p.add_argument("--root", type=Path, default=HERE, help="directory holding the study folders (default: here)")
    p.add_argument("--markdown", action="store_true", help="markdown tables (for benchmarks/RESULTS.md)")
    a = p.parse_args(argv)
    for study in a.studies:
        if study not in PAPER:
            p.error(f"unknown study {study!r}; choose from {sorted(PAPER)}")
        print(format_rows(study, rows(study, a.root), a.markdown))
        print()


if __name__ == "__main__":
    main()
