"""NVP / PEO-NaTFSI / NaSICON sodium half-cell of the 3D paper (Gerbig et al. 2024), exactly as
fixed by DESIGN.md §2–5.

Every number cites its source. "3D paper" = F. Gerbig, A. Chauhan, H. Nirschl et al. (2024),
the particle-resolved model of an NVP / PEO–NaSICON half-cell (shared/seeds/); "Table II" etc.
are its tables, "[n]" its reference list (abbreviated in ``REFERENCES``).

Notes on the paper's printed values (see docs/parameters.md):
- Table II's row "Peak polymer conductivity concentration" prints a conductivity
  (1.085e-3 S/cm) and the prefactor K_NaTFSI row lost its number ("M^-1"), so Eq. 9's constant
  is unknown; DESIGN.md §2 normalises it as kappa_ref (c/c_peak) exp(1 - c/c_peak) with
  kappa_ref = 6e-3 S/m (Table II's 6e-5 S/cm) and c_peak = 1300 mol/m^3 (the initial c_e).
- Table II prints the unit of k as m^2.5 mol^0.5 s^-1; dimensional analysis of
  i0 = F k sqrt(c_s,max - c_s) sqrt(c_s) sqrt(c_e) gives m^2.5 mol^-0.5 s^-1.
- OCP: 2P Margules of Table IV (U0 = 3.3782 V, A = 1.5837, B = 0.2306, A and B in units of
  RT). Table IV's 1P value "0.3781" is a typo for 3.3781 V; Table A.I's Redlich–Kister
  "302 201" is garbled (neither is used here; see :mod:`ssbfv.solver.ocp`).
"""

from __future__ import annotations

from ..ocp import nvp_default_ocp
from . import ParameterSet, Quantity as Q
from .conductivity import C_FLOOR_DEFAULT, ConstantConductivity, PolymerConductivity

NAME = "nvp_peo_nasicon"

REFERENCES = (
    "3D paper: F. Gerbig et al., particle-resolved 3D model of an all-solid-state sodium-ion "
    "cathode half-cell (NVP / PEO-NaTFSI / NaSICON), J. Electrochem. Soc. (2024) "
    "[shared/seeds/gerbig2024_sodium_solid_state_3d_model.txt]",
    "DESIGN.md: ssbfv design reference, sections 2-5 (decisions where the paper is silent)",
    "[36] H. Gao, L. Xue, S. Xin, K. Park, J. B. Goodenough, Angew. Chem. Int. Ed. 56, 5541 (2017)",
    "[37] X. Liu et al., ACS Appl. Mater. Interfaces 11, 12421 (2019)",
    "[38] M. Kaus et al., J. Phys. Chem. C 121, 1449 (2017)",
    "[39] J. Serra Moreno, M. Armand, M. B. Berman, S. G. Greenbaum, B. Scrosati, S. Panero, "
    "J. Power Sources 248, 695 (2014)",
    "[40] A. Ferry, M. M. Doeff, L. C. de Jonghe, J. Electrochem. Soc. 145, 1586 (1998)",
    "[41] F. Moradipour et al., J. Energy Power Technol. 05, 1 (2023)",
    "[42] P. Wrobel, P. Kubisiak, A. Eilmes, J. Phys. Chem. B 125, 10293 (2021)",
    "[43] Q. Zheng, H. Yi, W. Liu, X. Li, H. Zhang, Electrochim. Acta 238, 288 (2017)",
    "[35] L. Si, Z. Yuan, L. Hu, Y. Zhu, Y. Qian, J. Power Sources 272, 880 (2014) (NVP data of Table IV)",
)

_T2 = "3D paper Table II"


def _nasicon(region: str) -> dict:
    return {
        "D_e": Q(4e-12, "m^2/s", f"{_T2} [41]; DESIGN.md §2", f"Na+ diffusion coefficient, NaSICON ({region})"),
        "kappa": Q(ConstantConductivity(0.15, c_floor=C_FLOOR_DEFAULT), "S/m",
                   f"{_T2}: 1.5e-3 S/cm [38]; DESIGN.md §2", f"ionic conductivity, NaSICON ({region})"),
        "t_plus": Q(0.39, "1", f"{_T2} [39] (one t+ for all electrolytes); DESIGN.md §2",
                    f"Na+ transference number ({region})"),
    }


def parameter_set() -> ParameterSet:
    """The reference parameter set of the 3D paper (DESIGN.md §2–5)."""
    tree = {
        "electrolyte": {
            "separator": _nasicon("separator, dense NaSICON slab"),
            "filler": _nasicon("filler particles"),
            "polymer": {
                "D_e": Q(4.7e-14, "m^2/s", f"{_T2} [42]; DESIGN.md §2", "Na+ diffusion coefficient, PEO-NaTFSI"),
                "kappa": Q(PolymerConductivity(kappa_ref=6e-3, c_peak=1300.0, c_floor=C_FLOOR_DEFAULT), "S/m",
                           "Eq. 9 of the 3D paper with DESIGN.md §2 normalisation: kappa_ref = 6e-5 S/cm "
                           f"({_T2} [39]), c_peak = 1300 mol/m^3 (DESIGN.md §2); c_floor: ssbfv numerical guard",
                           "ionic conductivity of PEO-NaTFSI, kappa_ref (c/c_peak) exp(1 - c/c_peak)"),
                "t_plus": Q(0.39, "1", f"{_T2} [39]; DESIGN.md §2", "Na+ transference number, PEO-NaTFSI"),
            },
        },
        "solid": {
            "sigma": Q(714.0, "S/m", f"{_T2}: 7.14 S/cm, carbon-coated NVP [37]; DESIGN.md §2",
                       "electronic conductivity of NVP/C"),
            "c_s_max": Q(14200.0, "mol/m^3", f"{_T2}: 14.2 mol/L, from the gravimetric capacity of [43]; DESIGN.md §2",
                         "maximum sodium concentration in NVP"),
            "c_s_min": Q(0.0, "mol/m^3", f"{_T2}; DESIGN.md §2", "minimum sodium concentration in NVP"),
            "D_s": Q(1e-14, "m^2/s", "not given by the paper; ssbfv default (DESIGN.md §2)",
                     "sodium diffusion coefficient in NVP"),
        },
        "kinetics": {
            "k": Q(3e-12, "m^2.5 mol^-0.5 s^-1", f"{_T2} [36] (unit corrected, see module docstring); DESIGN.md §3",
                   "Butler-Volmer rate constant, i0 = F k sqrt(c_s,max - c_s) sqrt(c_s) sqrt(c_e)"),
            "alpha_a": Q(0.5, "1", f"{_T2} (symmetric); DESIGN.md §3", "anodic transfer coefficient"),
            "alpha_c": Q(0.5, "1", f"{_T2} (symmetric); DESIGN.md §3", "cathodic transfer coefficient"),
        },
        "thermal": {
            "T": Q(298.15, "K", "3D paper (room temperature); DESIGN.md §2", "temperature"),
        },
        "initial": {
            "c_e0": Q(1300.0, "mol/m^3", "3D paper (1.3 M, Fig. 8 discussion); DESIGN.md §2",
                      "initial Na+ concentration in the whole electrolyte"),
            "chi0_discharge": Q(0.01, "1", "DESIGN.md §4", "initial c_s/c_s,max for a discharge (charged state)"),
            "chi0_charge": Q(0.99, "1", "DESIGN.md §4", "initial c_s/c_s,max for a charge (discharged state)"),
        },
        "cutoff": {
            "V_min_discharge": Q(2.5, "V", "DESIGN.md §4", "discharge cut-off voltage"),
            "V_max_charge": Q(4.0, "V", "DESIGN.md §4", "charge cut-off voltage"),
            "chi_end_discharge": Q(0.99, "1", "DESIGN.md §4", "discharge also ends when mean chi reaches this"),
            "chi_end_charge": Q(0.01, "1", "DESIGN.md §4", "charge also ends when mean chi reaches this"),
        },
        "ocp": {
            "model": Q(nvp_default_ocp(298.15), "V",
                       "3D paper Table IV, 2P Margules fit to NVP/C data of [35]; DESIGN.md §5",
                       "equilibrium potential U_eq(chi) of NVP vs Na+/Na"),
        },
    }
    return ParameterSet(
        NAME,
        "NVP / PEO-NaTFSI + NaSICON filler / NaSICON separator sodium half-cell at 298.15 K "
        "(3D paper, DESIGN.md §2-5)",
        tree,
        REFERENCES,
    )
