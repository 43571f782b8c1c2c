"""Fit of the NCA equilibrium potential of the nca_lps parameter set.

    python benchmarks/fit_nca_ocp.py

Source curve: the NCA OCP of Kim et al., J. Electrochem. Soc. 158, A955 (2011), as transcribed
in PyBaMM's parameter set NCA_Kim2011 (a polynomial in the stoichiometry plus an exponential
term for the end of discharge). Fitted: ssbfv's Redlich-Kister model (ideal term + 6 excess
coefficients) on chi in [0.37, 0.96], 300 points, least squares. Prints the coefficients, the
fit error over the fitted range and over the 4.2-3.1 V window, and where both curves cross
4.2 V and 3.1 V.
"""

import numpy as np
from scipy.optimize import brentq

from ssbfv.solver.ocp import check_monotonic, fit_ocp


def kim2011_nca_ocp(s):
    """U [V] vs Li+/Li of NCA at stoichiometry s (Kim et al. 2011, via PyBaMM NCA_Kim2011)."""
    s = np.asarray(s, dtype=float)
    return (1.638 * s**10 - 2.222 * s**9 + 15.056 * s**8 - 23.488 * s**7 + 81.246 * s**6 - 344.566 * s**5
            + 621.3475 * s**4 - 554.774 * s**3 + 264.427 * s**2 - 66.3691 * s + 11.8058
            - 0.61386 * np.exp(5.8201 * s**136.4))


def main():
    lo, hi, n_terms = 0.37, 0.96, 6
    s = np.linspace(lo, hi, 300)
    fit = fit_ocp(s, kim2011_nca_ocp(s), "redlich_kister", 298.15, n_terms=n_terms)
    m = fit.model
    err = m.U(s) - kim2011_nca_ocp(s)
    print(f"Redlich-Kister, {n_terms} terms, fitted on chi in [{lo}, {hi}]:")
    print(f"  U0 = {m.U0!r} V")
    print(f"  A  = {m.A!r} J/mol")
    print(f"  error on the fitted range: max {np.abs(err).max() * 1e3:.2f} mV, rms {np.sqrt(np.mean(err**2)) * 1e3:.2f} mV")
    print(f"  monotone (decreasing) on (0, 1): {check_monotonic(m)[0]}")
    for v in (4.2, 3.1):
        c_kim = brentq(lambda x: float(kim2011_nca_ocp(x)) - v, 0.3, 0.999)
        try:
            c_fit = brentq(lambda x: float(m.U(x)) - v, 0.2, 1 - 1e-9)
        except ValueError:
            c_fit = float("nan")
        print(f"  U = {v} V at chi = {c_kim:.4f} (Kim2011) and {c_fit:.4f} (fit)")


if __name__ == "__main__":
    main()
