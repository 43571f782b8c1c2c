"""NCA / 75Li2S-25P2S5 (LPS) lithium half-cell of the P2D paper (Iwamoto et al. 2023).

What the paper states is taken from it (§2.1.1). What it leaves out (OCP, c_s,max, D_s, rate
constant, temperature, densities, the Li concentration of LPS) comes from the literature or
from a stated computation, each with its source string; docs/parameters.md has the table.
The NCA properties are those of Kim et al. 2011 (a liquid-electrolyte NCA cell, as
transcribed in PyBaMM's ``NCA_Kim2011``): the P2D paper's own concentration-dependent D_s of
Dees et al. 2013 [23] is not reproduced in the paper and is not used here (constant D_s).
The OCP is a Redlich-Kister fit (benchmarks/fit_nca_ocp.py) of Kim's polynomial on chi in
[0.35, 0.96] (4.22-3.48 V): the fit contains 4.2 V but not Kim's end-of-discharge knee (3.1 V at
chi = 0.982), which no Redlich-Kister polynomial follows; the fit reaches 3.1 V only as chi -> 1.

"P2D paper" = S. Iwamoto, M. Kodama et al., J. Power Sources Adv. 21 (2023) 100120
(shared/seeds/iwamoto2023_p2d_dsca_xct.txt); section numbers are the paper's.
"""

from __future__ import annotations

from . import ParameterSet, Quantity as Q
from ..ocp import RedlichKister
from .conductivity import C_FLOOR_DEFAULT, ConstantConductivity

NAME = "nca_lps"


REFERENCES = (
    "P2D paper: S. Iwamoto, M. Kodama, K. Yanagi, Y. Haniu, Y. Fujii, N. Masuda, H. Higuchi, "
    "Y. Suetsugu, S. Hirai, J. Power Sources Adv. 21, 100120 (2023), doi:10.1016/j.powera.2023.100120",
    "[10] N. Wolff, F. Roeder, U. Krewer, Model based assessment of performance of lithium-ion "
    "batteries using single ion conducting electrolytes, Electrochim. Acta 284, 639-646 (2018)",
    "[23] D. W. Dees, K. G. Gallagher, D. P. Abraham, A. N. Jansen, J. Electrochem. Soc. 160, "
    "A478-A486 (2013) (concentration-dependent D_s used by the P2D paper; values not reproduced there)",
    "Kim2011: G.-H. Kim, K. Smith, K.-J. Lee, S. Santhanagopalan, A. Pesaran, Multi-domain modeling of "
    "lithium-ion batteries encompassing multi-physics in varied length scales, J. Electrochem. Soc. 158, "
    "A955-A969 (2011); values as transcribed in PyBaMM's parameter set NCA_Kim2011 (not checked against "
    "the original)",
    "Homma2011: K. Homma, M. Yonemura, T. Kobayashi, M. Nagao, M. Hirayama, R. Kanno, Crystal structure "
    "and phase transitions of the lithium ionic conductor Li3PS4, Solid State Ionics 182, 53-58 (2011) "
    "(gamma-Li3PS4: X-ray density 1.93 g/cm^3 at 297 K, as found in a literature search; not checked "
    "against the original here)",
)

_KIM = "Kim2011 (PyBaMM NCA_Kim2011)"
C_S_MAX = 49000.0  # mol/m^3
# OCP: Redlich-Kister fit of Kim2011's NCA polynomial on chi in [0.35, 0.96] (benchmarks/fit_nca_ocp.py)
OCP_FIT = dict(U0=4.675545928538175, A=(-181701.770043275, 134997.9377940342, -115758.38059032448,
                                        125683.8699420068, -138982.10590962484, 68750.8746199134))
CHI_42 = 0.3603065  # chi where the fitted OCP is 4.2 V (the charged state), brentq on the fit (Kim: 0.36030)
RHO_LPS = 1.9e3  # kg/m^3, approximate (crystalline gamma-Li3PS4: 1.93 g/cm^3, Homma2011)
M_LI3PS4 = 0.18004  # kg/mol: 3 Li (6.941) + P (30.974) + 4 S (32.06), g/mol / 1000
C_LI_LPS = 3 * RHO_LPS / M_LI3PS4  # mol/m^3 of Li+ in Li3PS4 (= 75Li2S-25P2S5)
from ..kinetics import F as F_CONST  # noqa: E402  (scipy.constants, as the solvers use)
I0_KIM, CHI_KIM = 4.0, 0.41  # A/m^2 at 100 % SOC and that stoichiometry (Kim2011)
K_RATE = I0_KIM / (F_CONST * (C_LI_LPS * C_S_MAX * (1 - CHI_KIM) * C_S_MAX * CHI_KIM) ** 0.5)

_S211 = "P2D paper §2.1.1"


def parameter_set() -> ParameterSet:
    """The P2D paper's NCA / LPS cathode half-cell, its gaps filled from the literature (sources)."""
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
            "density_am": Q(4.77e3, "kg/m^3", "computed (X-ray density): LiNi0.8Co0.15Al0.05O2, M = 96.08 g/mol "
                            "(Li 6.941, Ni 58.693, Co 58.933, Al 26.982, O 15.999), Z = 3 in the hexagonal R-3m cell "
                            "with a = 2.86 A, c = 14.18 A, V = (sqrt(3)/2) a^2 c = 100.4 A^3 -> rho = 3 M / (N_A V) = "
                            "4.77 g/cm^3. The lattice parameters are typical values for NCA, not taken from one "
                            "cited refinement (uncertain by ~0.5 %). Cross-check: c_s,max = 49 000 mol/m^3 of "
                            "Kim2011 is 0.99 x rho/M = 49 650 mol/m^3", "NCA density (wt % -> vol %, mAh/g)"),
            "density_se": Q(RHO_LPS, "kg/m^3", "approximate density of 75Li2S-25P2S5 (= Li3PS4) glass, 1.9 "
                            "g/cm^3: Homma2011's X-ray density of crystalline gamma-Li3PS4 (1.93 g/cm^3) rounded "
                            "down, since the glass is taken to be slightly less dense (no measured glass density was "
                            "at hand). Used only for wt % -> vol % (eps_AM 0.693 vs 0.697 with 1.93) and c_e0, "
                            "which cancels for t+ = 1 (see kinetics.k)",
                            "LPS density (wt % -> vol %)"),
        },
        "electrolyte": {
            "se": {
                "kappa": Q(ConstantConductivity(0.045, c_floor=C_FLOOR_DEFAULT), "S/m",
                           f"{_S211}: 0.45 mS/cm", "Li+ conductivity of 75Li2S-25P2S5 glass"),
                "t_plus": Q(1.0, "1", "single-ion conductor: the P2D paper uses the model of [10] "
                            "(single ion conducting electrolytes, t+ = 1)", "Li+ transference number"),
                "D_e": Q(1e-12, "m^2/s", "placeholder, not used: with t+ = 1 the Li+ concentration of a "
                         "single-ion conductor stays uniform (no concentration gradient to diffuse)",
                         "Li+ diffusion coefficient in LPS"),
            },
        },
        "solid": {
            "sigma": Q(91.0, "S/m", f"{_S211}: 910 mS/cm", "electronic conductivity of Li4Ti5O12-coated NCA"),
            "c_s_max": Q(C_S_MAX, "mol/m^3", f"{_KIM}: maximum concentration in the positive electrode",
                         "maximum Li concentration in NCA"),
            "c_s_min": Q(CHI_42 * C_S_MAX, "mol/m^3", "computed: chi at 4.2 V of the OCP fit (0.36031; Kim2011's "
                         "curve: 0.36030) x c_s,max = 17 655 mol/m^3, the charged state of the 4.2-3.1 V window. "
                         "1C = F (c_s,max - c_s,min) / rho_NCA = 176.1 mAh/g of NCA (the paper's 1C: 1.89 mA / "
                         "(0.85 x 12.4 mg) = 179.3 mAh/g, ratio 0.982). Kim2011's curve reaches 3.1 V at chi = "
                         "0.9819, i.e. its 4.2-3.1 V window holds 171.2 mAh/g; the fit's, up to chi -> 1, 176.1",
                         "Li concentration of NCA charged to 4.2 V"),
            "D_s": Q(3e-15, "m^2/s", f"{_KIM}: D_ref = 3e-15 m^2/s at 298.15 K (its Arrhenius factor "
                     "is 1 at 298.15 K); constant. The P2D paper uses the concentration-dependent D_s(c) of [23], "
                     "which it does not reproduce and which we could not obtain; P2DModel accepts a callable "
                     "D_s(c_s) (P2DModel(..., D_s=f, dD_s_dc=g)) should those values be found",
                     "Li diffusion coefficient in NCA"),
        },
        "kinetics": {
            "k": Q(K_RATE, "m^2.5 mol^-0.5 s^-1", f"computed from {_KIM}'s reference exchange current density "
                   "i0 = 4 A/m^2 at 100 % SOC, chi = 0.41 (alpha = 0.5): ssbfv's i0 = F k sqrt(c_s,max - c_s) "
                   "sqrt(c_s) sqrt(c_e), so k = i0 / (F sqrt(c_e0 (c_s,max - c_s) c_s)) = 4 / (96485 x "
                   "sqrt(31 660 x 28 910 x 20 090)) = 9.67e-12 with c_e0 of LPS, so that i0 keeps Kim's value "
                   "(Kim's liquid-electrolyte c_e = 1200 mol/m^3 does not carry over; keeping Kim's rate "
                   "constant instead would raise i0 by sqrt(31 660/1200) = 5.1x)",
                   "Butler-Volmer rate constant"),
            "alpha_a": Q(0.5, "1", f"{_KIM}: charge transfer coefficient 0.5", "anodic transfer coefficient"),
            "alpha_c": Q(0.5, "1", f"{_KIM}: charge transfer coefficient 0.5", "cathodic transfer coefficient"),
        },
        "thermal": {
            "T": Q(298.15, "K", "assumption: room temperature (the P2D paper states none; Kim2011's reference "
                   "temperature)", "temperature"),
        },
        "initial": {
            "c_e0": Q(C_LI_LPS, "mol/m^3", "computed: 75Li2S-25P2S5 = Li3PS4 (3 Li, 1 P, 4 S per formula "
                      "unit; M = 3 x 6.941 + 30.974 + 4 x 32.06 = 180.04 g/mol); c = 3 rho / M = 3 x 1900 / "
                      "0.18004 = 31 660 mol/m^3 at density_se", "Li+ concentration in LPS"),
            "chi0_discharge": Q(CHI_42, "1", "computed: the OCP fit is 4.2 V at chi = 0.36031 (brentq; Kim2011's "
                                "curve: 0.36030), the charged state",
                                "initial c_s/c_s,max for a discharge"),
        },
        "cutoff": {
            "V_min_discharge": Q(3.1, "V", f"{_S211}: 4.2-3.1 V vs Li+/Li", "discharge cut-off voltage"),
            "V_max_charge": Q(4.2, "V", f"{_S211}: 4.2-3.1 V vs Li+/Li", "upper end of the voltage window"),
            "chi_end_discharge": Q(0.999, "1", "numerical guard: a discharge also ends at mean chi 0.999 (the "
                                   "3.1 V cut-off comes first at every rate of the paper)",
                                   "discharge also ends when mean chi reaches this"),
        },
        "ocp": {
            "model": Q(RedlichKister(T=298.15, **OCP_FIT), "V",
                       "Redlich-Kister (6 terms, T = 298.15 K) least-squares fit to Kim2011's NCA OCP "
                       "polynomial, 300 points on chi in [0.35, 0.96] (4.221-3.478 V; benchmarks/fit_nca_ocp.py): "
                       "max error 5.6 mV, rms 0.44 mV there; monotone decreasing on (0, 1); 4.2 V at chi = "
                       "0.36031 (Kim: 0.36030). Not fitted: Kim's end-of-discharge knee (3.48 -> 3.1 V between chi "
                       "0.96 and 0.9819), which a Redlich-Kister polynomial cannot follow (errors up to 0.36 V "
                       "there); the fit reaches 3.1 V only as chi -> 1 (up to 2.9 % more capacity at low rate). "
                       "Valid for chi >= 0.35 (not for charging above 4.2 V)",
                       "equilibrium potential of NCA vs Li+/Li"),
        },
    }
    return ParameterSet(
        NAME,
        "Li4Ti5O12-coated NCA / 75Li2S-25P2S5 glass cathode half-cell with Li metal counter electrode "
        "(P2D paper), completed from the literature (see the sources)",
        tree,
        REFERENCES,
    )
