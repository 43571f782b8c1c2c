"""NCA / 75Li2S-25P2S5 (LPS) lithium half-cell of the P2D paper (Iwamoto et al. 2023).

Only what the paper states is filled in; every other entry is ``None`` with the source
"missing: to be filled with a cited literature value" (``ParameterSet.missing()`` lists them;
fill them with ``with_overrides`` once a citable value is chosen). The paper does not give
the OCP, the concentration-dependent D_s (it cites Dees et al. 2013 [23] without
reproducing values), the rate constant, c_s,max, the temperature or the material densities
(needed to turn its 85:15 wt % into volume fractions). Candidate literature values are
listed, not used, in docs/parameters.md. This set is for a later issue (P2D comparison).

"P2D paper" = S. Iwamoto, M. Kodama et al., J. Power Sources Adv. 21 (2023) 100120
(shared/seeds/iwamoto2023_p2d_dsca_xct.txt); section numbers are the paper's.
"""

from __future__ import annotations

from . import ParameterSet, Quantity as Q
from .conductivity import C_FLOOR_DEFAULT, ConstantConductivity

NAME = "nca_lps"

MISSING = "missing: to be filled with a cited literature value"

REFERENCES = (
    "P2D paper: S. Iwamoto, M. Kodama, K. Yanagi, Y. Haniu, Y. Fujii, N. Masuda, H. Higuchi, "
    "Y. Suetsugu, S. Hirai, J. Power Sources Adv. 21, 100120 (2023), doi:10.1016/j.powera.2023.100120",
    "[10] N. Wolff, F. Roeder, U. Krewer, Model based assessment of performance of lithium-ion "
    "batteries using single ion conducting electrolytes, Electrochim. Acta 284, 639-646 (2018)",
    "[23] D. W. Dees, K. G. Gallagher, D. P. Abraham, A. N. Jansen, J. Electrochem. Soc. 160, "
    "A478-A486 (2013) (concentration-dependent D_s used by the P2D paper; values not reproduced there)",
)

_S211 = "P2D paper §2.1.1"


def parameter_set() -> ParameterSet:
    """The P2D paper's NCA / LPS cathode half-cell, with the gaps marked None."""
    tree = {
        "cell": {
            "thickness": Q(43e-6, "m", f"{_S211} (43 µm)", "composite cathode thickness"),
            "mass_fraction_am": Q(0.85, "1", f"{_S211} (85:15 wt %)", "NCA mass fraction of the composite"),
            "d50_am": Q(5e-6, "m", f"{_S211}", "median diameter of the NCA particles"),
            "d50_se": Q(2e-6, "m", f"{_S211} (1, 2 or 6 µm; 2 µm is the case of Fig. 3)",
                        "median diameter of the LPS particles"),
            "composite_mass": Q(12.4e-6, "kg", f"{_S211} (12.4 mg)", "mass of cathode composite in the cell"),
            "diameter": Q(10e-3, "m", f"{_S211} (10 mm Macor cylinder)", "cell diameter"),
            "current_1C": Q(1.89e-3, "A", f"{_S211}: 0.189 mA = 0.1 C (the same sentence's 15.12 mA = 4 C "
                            "would mean 3.78 mA; 15.12 mA is 8 x 1.89 mA. 1.89 mA matches 179 mAh/g "
                            "of the 10.5 mg NCA, below NCA's theoretical ~279 mAh/g; 3.78 mA would not)",
                            "1C current of the tested cell"),
            "density_am": Q(None, "kg/m^3", MISSING, "NCA density (wt % -> vol %)"),
            "density_se": Q(None, "kg/m^3", MISSING, "LPS density (wt % -> vol %)"),
        },
        "electrolyte": {
            "se": {
                "kappa": Q(ConstantConductivity(0.045, c_floor=C_FLOOR_DEFAULT), "S/m",
                           f"{_S211}: 0.45 mS/cm", "Li+ conductivity of 75Li2S-25P2S5 glass"),
                "t_plus": Q(1.0, "1", "single-ion conductor: the P2D paper uses the model of [10] "
                            "(single ion conducting electrolytes, t+ = 1)", "Li+ transference number"),
                "D_e": Q(None, "m^2/s", f"{MISSING} (irrelevant for t+ = 1: no concentration gradient)",
                         "Li+ diffusion coefficient in LPS"),
            },
        },
        "solid": {
            "sigma": Q(91.0, "S/m", f"{_S211}: 910 mS/cm", "electronic conductivity of Li4Ti5O12-coated NCA"),
            "c_s_max": Q(None, "mol/m^3", MISSING, "maximum Li concentration in NCA"),
            "c_s_min": Q(None, "mol/m^3", MISSING, "minimum Li concentration in NCA"),
            "D_s": Q(None, "m^2/s", f"{MISSING}; the paper uses the concentration-dependent D_s of [23]",
                     "Li diffusion coefficient in NCA"),
        },
        "kinetics": {
            "k": Q(None, "m^2.5 mol^-0.5 s^-1", MISSING, "Butler-Volmer rate constant"),
            "alpha_a": Q(None, "1", MISSING, "anodic transfer coefficient"),
            "alpha_c": Q(None, "1", MISSING, "cathodic transfer coefficient"),
        },
        "thermal": {
            "T": Q(None, "K", f"{MISSING} (not stated in the P2D paper)", "temperature"),
        },
        "initial": {
            "c_e0": Q(None, "mol/m^3", MISSING, "Li+ concentration in LPS"),
            "chi0_discharge": Q(None, "1", MISSING, "initial c_s/c_s,max for a discharge"),
        },
        "cutoff": {
            "V_min_discharge": Q(3.1, "V", f"{_S211}: 4.2-3.1 V vs Li+/Li", "discharge cut-off voltage"),
            "V_max_charge": Q(4.2, "V", f"{_S211}: 4.2-3.1 V vs Li+/Li", "upper end of the voltage window"),
        },
        "ocp": {
            "model": Q(None, "V", MISSING, "equilibrium potential of NCA vs Li+/Li"),
        },
    }
    return ParameterSet(
        NAME,
        "Li4Ti5O12-coated NCA / 75Li2S-25P2S5 glass cathode half-cell with Li metal counter electrode "
        "(P2D paper); incomplete: see missing()",
        tree,
        REFERENCES,
    )
