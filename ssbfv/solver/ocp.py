r"""Equilibrium potentials U_eq(chi) of insertion electrodes (Table III of the 3D paper) and a
least-squares fitter.

chi = c_s / c_s,max is the sodium (lithium) site fraction of the active material, in (0, 1).
Discharge of the half-cell inserts sodium (chi grows), and the equilibrium potential must
*decrease* with chi: the ideal lattice-gas term RT/F ln((1 - chi)/chi) is +inf at chi -> 0 and
-inf at chi -> 1. All potentials in V, T in K, F and R from ``scipy.constants`` (CODATA).

Formulas implemented (theta = R T / F, y = 2 chi - 1)
-----------------------------------------------------
Every model is  U(chi) = U0 + theta ln((1 - chi)/chi) + U_ex(chi),  with the excess term
U_ex = -(1/F) dG_ex/dchi of a molar excess Gibbs energy G_ex(chi) that vanishes at chi = 0, 1:

=================  ==========================================  ==============================
model (``name``)   U_ex(chi)                                   G_ex(chi)
=================  ==========================================  ==============================
``margules1``      theta A (2 chi - 1)                         RT A chi (1 - chi)
``margules2``      theta [A (2 chi - 1)                        RT chi (1 - chi) [A + B (1 - chi/2)]
                   + B (-1 + 3 chi - 3/2 chi^2)]
``van_laar``       theta A (B chi^2 - (1 - chi)^2)             RT A chi (1 - chi) / D
                   / D^2,   D = 1 - chi + B chi
``redlich_kister`` (1/F) sum_k A_k [y^(k+1)                    chi (1 - chi) sum_k A_k y^k
                   - 2 k chi (1 - chi) y^(k-1)]
=================  ==========================================  ==============================

Units: U0 [V]; Margules and van Laar A, B are dimensionless (in units of RT, i.e. they
multiply RT in Table III); Redlich–Kister A_k are in J/mol (Table III has no RT in front of
the sum). The Redlich–Kister sum runs over k = 0 .. n_terms - 1 (Table III writes k = 0..N,
so n_terms = N + 1); the y^(k-1) term carries the factor k and is never evaluated for k = 0,
so there is no singularity at chi = 1/2. Derivatives (all analytic):

- ideal:    d/dchi [theta ln((1-chi)/chi)] = -theta / (chi (1 - chi))
- margules1: + 2 theta A
- margules2: + theta [2 A + 3 B (1 - chi)]
- van_laar:  + theta A (N' D - 2 N (B - 1)) / D^3 with N = B chi^2 - (1-chi)^2, N' = 2 B chi + 2 (1-chi)
- redlich_kister: + (2/F) sum_k A_k [(1 + k/2)(k + 1) y^k - (k/2)(k - 1) y^(k-2)]
  (using y^(k+1) - 2k chi(1-chi) y^(k-1) = (1 + k/2) y^(k+1) - (k/2) y^(k-1))

Consistency checks that the tests use: van Laar with B = 1 is the 1P Margules; the 2P
Margules is a 2-term Redlich–Kister with A_0 = RT (A + 3B/4), A_1 = -RT B/4; the 1P Margules
is a 1-term Redlich–Kister with A_0 = RT A.

Sign convention and the paper's typos
-------------------------------------
- Table III prints the 1P Margules excess as ``RT[-A(2 chi - 1)]`` but the 2P Margules as
  ``RT[-A + 2 A chi ...]`` = ``+RT A (2 chi - 1) + ...``, and van Laar (B = 1) and Redlich–Kister
  (k = 0) also give ``+A (2 chi - 1)``. The 1P row contradicts all three and the paper's own
  text: with the printed minus sign, Table IV's A = 2.1698 would give a *monotonic* curve,
  whereas the paper reports the 1P fit as non-monotonic. With ``+A (2 chi - 1)`` (used here,
  the regular-solution sign: A = Omega/RT > 0 is a tendency to phase-separate),
  dU/dchi = theta (2 A - 1/(chi (1-chi))), which changes sign on (0, 1) exactly when A > 2
  (at chi = 1/2), so A = 2.1698 is non-monotonic as the paper says.
- Table IV's 1P value ``U0 = 0.3781`` is a typo for 3.3781 V (all other U0 are 3.378x V).
- Table A.I's Redlich–Kister coefficient ``A_4 = 302 201`` is garbled (a lost decimal point or
  digit; it cannot be read reliably), so :data:`REDLICH_KISTER_TABLE_AI` ships A_4 = NaN and no
  usable Redlich–Kister default exists.
- The NVP default (DESIGN.md §5) is the 2P Margules of Table IV: U0 = 3.3782 V, A = 1.5837,
  B = 0.2306. It is strictly decreasing on (0, 1) (max dU/dchi ~ -0.48 theta, near chi = 0.48)
  and U(0.5) = U0 + theta B / 8 = 3.3789 V at 298.15 K.

Clipping: every model evaluates at chi clipped to [CHI_EPS, 1 - CHI_EPS] (CHI_EPS = 1e-12),
both in U and in dU/dchi, so chi = 0 or 1 gives finite values (U(0) ~ U0 + 0.71 V) instead
of +-inf; dU/dchi outside the interval is the derivative at the clipped point (a smooth
continuation, useful for Newton linearisations), not zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
from scipy import constants
from scipy.optimize import least_squares

from .modeldict import model_from_dict

F = constants.physical_constants["Faraday constant"][0]  # C/mol
R = constants.R  # J/(mol K)
T_DEFAULT = 298.15  # K
CHI_EPS = 1e-12

__all__ = [
    "CHI_EPS", "F", "R", "T_DEFAULT", "OcpModel", "Margules1P", "Margules2P", "VanLaar",
    "RedlichKister", "OCP_MODELS", "ocp_from_dict", "check_monotonic", "OcpFit", "fit_ocp",
    "nvp_default_ocp", "TABLE_IV", "REDLICH_KISTER_TABLE_AI",
]


def _as_chi(chi) -> tuple[np.ndarray, bool]:
    a = np.asarray(chi, dtype=np.float64)
    return np.clip(a, CHI_EPS, 1.0 - CHI_EPS), a.ndim == 0


def _out(a: np.ndarray, scalar: bool):
    return float(a) if scalar else a


@dataclass(frozen=True)
class OcpModel:
    """Base of the equilibrium-potential models: U0 [V] and T [K]; subclasses add parameters.

    ``U(chi)`` [V] and ``dU_dchi(chi)`` [V] accept scalars or arrays (floats for scalars).
    """

    name: ClassVar[str] = ""
    units: ClassVar[dict[str, str]] = {}

    @property
    def theta(self) -> float:
        """R T / F [V]."""
        return R * self.T / F

    def _excess(self, chi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def U(self, chi):
        """Equilibrium potential [V] at site fraction chi (clipped to [CHI_EPS, 1-CHI_EPS])."""
        c, scalar = _as_chi(chi)
        ex, _ = self._excess(c)
        return _out(self.U0 + self.theta * np.log((1.0 - c) / c) + ex, scalar)

    def dU_dchi(self, chi):
        """dU/dchi [V] (per unit site fraction), analytic."""
        c, scalar = _as_chi(chi)
        _, dex = self._excess(c)
        return _out(-self.theta / (c * (1.0 - c)) + dex, scalar)

    @property
    def params(self) -> dict[str, Any]:
        """The model parameters (everything but T), by field name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "T"}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description: ``{"model": name, <fields>, "T": ..., "units": {...}}``."""
        d: dict[str, Any] = {"model": self.name}
        for f in fields(self):
            v = getattr(self, f.name)
            d[f.name] = list(v) if isinstance(v, tuple) else v
        d["units"] = dict(self.units)
        return d

    # -- fitting interface -------------------------------------------------------------
    def _theta_vec(self) -> np.ndarray:
        return np.array([v for f in fields(self) if f.name != "T" for v in np.atleast_1d(getattr(self, f.name))])

    @classmethod
    def _n_params(cls, **opts) -> int:
        return len([f for f in fields(cls) if f.name != "T"])

    @classmethod
    def _from_vec(cls, vec: np.ndarray, T: float, **opts) -> "OcpModel":
        return cls(*[float(v) for v in vec], T=T)

    @classmethod
    def _x0(cls, U0: float, **opts) -> np.ndarray:
        return np.array([U0] + [0.0] * (cls._n_params() - 1))

    @classmethod
    def _bounds(cls, **opts) -> tuple[np.ndarray, np.ndarray]:
        n = cls._n_params(**opts)
        return np.full(n, -np.inf), np.full(n, np.inf)


def _check_T(T: float) -> None:
    if not (np.isfinite(T) and T > 0):
        raise ValueError(f"temperature must be a positive number of kelvin, got {T!r}")


@dataclass(frozen=True)
class Margules1P(OcpModel):
    """One-parameter Margules (regular solution): U = U0 + theta [ln((1-chi)/chi) + A (2 chi - 1)].

    U0 [V], A [-] (in units of RT), T [K]. Non-monotonic on (0, 1) iff A > 2.
    """

    U0: float
    A: float
    T: float = T_DEFAULT
    name: ClassVar[str] = "margules1"
    units: ClassVar[dict[str, str]] = {"U0": "V", "A": "1 (units of RT)", "T": "K"}

    def __post_init__(self):
        _check_T(self.T)

    def _excess(self, chi):
        th = self.theta
        return th * self.A * (2.0 * chi - 1.0), np.full_like(chi, 2.0 * th * self.A)


@dataclass(frozen=True)
class Margules2P(OcpModel):
    """Two-parameter Margules (Table III):
    U = U0 + theta [ln((1-chi)/chi) + A (2 chi - 1) + B (-1 + 3 chi - 1.5 chi^2)].

    U0 [V], A, B [-] (in units of RT), T [K].
    """

    U0: float
    A: float
    B: float
    T: float = T_DEFAULT
    name: ClassVar[str] = "margules2"
    units: ClassVar[dict[str, str]] = {"U0": "V", "A": "1 (units of RT)", "B": "1 (units of RT)", "T": "K"}

    def __post_init__(self):
        _check_T(self.T)

    def _excess(self, chi):
        th = self.theta
        u = th * (self.A * (2.0 * chi - 1.0) + self.B * (-1.0 + 3.0 * chi - 1.5 * chi * chi))
        du = th * (2.0 * self.A + 3.0 * self.B * (1.0 - chi))
        return u, du


@dataclass(frozen=True)
class VanLaar(OcpModel):
    """van Laar (Table III): U = U0 + theta [ln((1-chi)/chi) + A (B chi^2 - (1-chi)^2) / (1 - chi + B chi)^2].

    U0 [V], A [-] (units of RT), B [-] > 0 (so that 1 - chi + B chi > 0 on [0, 1]), T [K].
    B = 1 gives the 1P Margules.
    """

    U0: float
    A: float
    B: float
    T: float = T_DEFAULT
    name: ClassVar[str] = "van_laar"
    units: ClassVar[dict[str, str]] = {"U0": "V", "A": "1 (units of RT)", "B": "1", "T": "K"}
    B_MIN: ClassVar[float] = 1e-6

    def __post_init__(self):
        _check_T(self.T)
        if not self.B > 0:
            raise ValueError(f"van Laar B must be > 0 (denominator 1 - chi + B chi), got {self.B!r}")

    def _excess(self, chi):
        th, A, B = self.theta, self.A, self.B
        D = 1.0 - chi + B * chi
        N = B * chi * chi - (1.0 - chi) ** 2
        dN = 2.0 * B * chi + 2.0 * (1.0 - chi)
        return th * A * N / (D * D), th * A * (dN * D - 2.0 * N * (B - 1.0)) / D**3

    @classmethod
    def _x0(cls, U0, **opts):
        return np.array([U0, 0.0, 1.0])

    @classmethod
    def _bounds(cls, **opts):
        return np.array([-np.inf, -np.inf, cls.B_MIN]), np.full(3, np.inf)


@dataclass(frozen=True)
class RedlichKister(OcpModel):
    """Redlich–Kister with n_terms = len(A) coefficients A_k [J/mol] (Table III):
    U = U0 + theta ln((1-chi)/chi) + (1/F) sum_k A_k [y^(k+1) - 2 k chi (1-chi) y^(k-1)], y = 2 chi - 1.
    """

    U0: float
    A: tuple[float, ...] = field(default=())
    T: float = T_DEFAULT
    name: ClassVar[str] = "redlich_kister"
    units: ClassVar[dict[str, str]] = {"U0": "V", "A": "J/mol", "T": "K"}

    def __post_init__(self):
        _check_T(self.T)
        object.__setattr__(self, "A", tuple(float(a) for a in np.atleast_1d(self.A)))
        if len(self.A) == 0:
            raise ValueError("Redlich-Kister needs at least one coefficient A_k")

    @property
    def n_terms(self) -> int:
        return len(self.A)

    def _excess(self, chi):
        y = 2.0 * chi - 1.0
        u = np.zeros_like(chi)
        du = np.zeros_like(chi)
        for k, a in enumerate(self.A):
            if a == 0.0:
                continue
            h = 0.5 * k
            u += a * ((1.0 + h) * y ** (k + 1) - (h * y ** (k - 1) if k >= 1 else 0.0))
            du += a * 2.0 * ((1.0 + h) * (k + 1) * y**k - (h * (k - 1) * y ** (k - 2) if k >= 2 else 0.0))
        return u / F, du / F

    @classmethod
    def _n_params(cls, n_terms: int = 3, **opts) -> int:
        return 1 + int(n_terms)

    @classmethod
    def _from_vec(cls, vec, T, **opts):
        return cls(float(vec[0]), tuple(float(v) for v in vec[1:]), T=T)

    @classmethod
    def _x0(cls, U0, n_terms: int = 3, **opts):
        return np.array([U0] + [0.0] * int(n_terms))


OCP_MODELS: dict[str, type[OcpModel]] = {
    m.name: m for m in (Margules1P, Margules2P, VanLaar, RedlichKister)
}


def ocp_from_dict(d: dict[str, Any]) -> OcpModel:
    """Inverse of ``OcpModel.to_dict`` (the ``units`` entry is optional but must match if given)."""
    cls, d = model_from_dict(d, OCP_MODELS, "OCP")
    if "A" in d and isinstance(d["A"], list):
        d["A"] = tuple(d["A"])
    return cls(**d)


# -- the paper's fitted values (Table IV / Table A.I of the 3D paper) ---------------------

#: Table IV of the 3D paper (fits to carbon-coated NVP data of Si et al. 2014), with our
#: reading: the 1P U0 is printed "0.3781", a typo for 3.3781 V. The R^2 are the paper's.
TABLE_IV: dict[str, dict[str, float]] = {
    "margules1": {"U0": 3.3781, "A": 2.1698, "R2": 0.9616},
    "margules2": {"U0": 3.3782, "A": 1.5837, "B": 0.2306, "R2": 0.9509},
    "van_laar": {"U0": 3.3785, "A": 1.81, "B": 1.0424, "R2": 0.9507},
    "redlich_kister": {"U0": 3.3787, "R2": 0.9860},
}

#: Table A.I of the 3D paper: Redlich–Kister fit, U0 [V] and A_0..A_7 [J/mol]. A_4 is printed
#: "302 201", which is garbled (cannot be read reliably) -> NaN. Not usable as a model as is.
REDLICH_KISTER_TABLE_AI: dict[str, Any] = {
    "U0": 3.3787,
    "A": (4242.0, -170.67, -6814.2, 1406.3, math.nan, -3549.3, -37732.0, 3876.5),
    "note": "A_4 printed as '302 201' in Table A.I (garbled); stored as NaN",
}


def nvp_default_ocp(T: float = T_DEFAULT) -> Margules2P:
    """The NVP default of DESIGN.md §5: 2P Margules, U0 = 3.3782 V, A = 1.5837, B = 0.2306
    (Table IV of the 3D paper; A, B in units of RT)."""
    p = TABLE_IV["margules2"]
    return Margules2P(U0=p["U0"], A=p["A"], B=p["B"], T=T)


# -- monotonicity and fitting ---------------------------------------------------------------

def check_monotonic(model: OcpModel, n: int = 10_000, margin: float = 1e-4) -> tuple[bool, float]:
    """Whether dU/dchi < 0 at n points evenly spaced in [margin, 1 - margin].

    Returns (strictly decreasing on the grid, max dU/dchi on the grid [V]).
    """
    chi = np.linspace(margin, 1.0 - margin, int(n))
    s = model.dU_dchi(chi)
    smax = float(np.max(s))
    return bool(smax < 0.0), smax


@dataclass(frozen=True)
class OcpFit:
    """Result of :func:`fit_ocp`.

    model: the fitted OcpModel; r_squared: 1 - SS_res/SS_tot; rmse [V]; monotonic: dU/dchi < 0
    on 10^4 points in [1e-4, 1 - 1e-4]; max_dU_dchi [V]: the largest slope on that grid;
    n_points, n_params; success and message from scipy's least_squares; residuals [V]
    (model - data).
    """

    model: OcpModel
    r_squared: float
    rmse: float
    monotonic: bool
    max_dU_dchi: float
    n_points: int
    n_params: int
    success: bool
    message: str
    residuals: np.ndarray = field(repr=False)

    def summary(self) -> str:
        p = ", ".join(f"{k}={v}" for k, v in self.model.params.items())
        return (f"{self.model.name}: {p}; R^2={self.r_squared:.6f}, RMSE={self.rmse * 1e3:.3f} mV, "
                f"monotonic={self.monotonic}")


def fit_ocp(chi, U, model: str = "margules2", T: float = T_DEFAULT, *, n_terms: int = 3,
            x0=None, **options) -> OcpFit:
    """Least-squares fit of an equilibrium-potential model to data (scipy least_squares).

    Parameters
    ----------
    chi : (n,) site fractions, all strictly inside (0, 1).
    U : (n,) equilibrium potentials [V].
    model : one of ``OCP_MODELS`` ("margules1", "margules2", "van_laar", "redlich_kister").
    T : temperature [K] (fixed, not fitted).
    n_terms : number of Redlich–Kister coefficients (ignored by the other models).
    x0 : optional start: an OcpModel of the same kind or a sequence of parameters in field
        order (U0, A, B / U0, A_0, ..). Default: U0 = median(U), interaction terms 0 (van Laar
        B = 1). The Margules and Redlich–Kister models are linear in their parameters, so the
        start hardly matters.
    **options : passed to ``scipy.optimize.least_squares`` (e.g. ``loss="soft_l1"``);
        default ``x_scale="jac"``.

    Raises ValueError for: unknown model, chi/U of different lengths or not 1-D, NaN or
    infinite values, chi outside the open interval (0, 1), fewer points than parameters.
    """
    if model not in OCP_MODELS:
        raise ValueError(f"unknown OCP model {model!r}; available: {sorted(OCP_MODELS)}")
    cls = OCP_MODELS[model]
    _check_T(T)
    chi = np.asarray(chi, dtype=np.float64)
    U = np.asarray(U, dtype=np.float64)
    if chi.ndim != 1 or U.ndim != 1:
        raise ValueError(f"chi and U must be 1-D arrays, got shapes {chi.shape} and {U.shape}")
    if chi.size != U.size:
        raise ValueError(f"chi and U differ in length: {chi.size} vs {U.size}")
    if not (np.all(np.isfinite(chi)) and np.all(np.isfinite(U))):
        raise ValueError("chi and U must not contain NaN or infinite values")
    if np.any(chi <= 0.0) or np.any(chi >= 1.0):
        bad = chi[(chi <= 0.0) | (chi >= 1.0)]
        raise ValueError(f"chi must lie strictly inside (0, 1); {bad.size} value(s) outside, e.g. {bad[0]!r}")
    opts = {"n_terms": int(n_terms)} if cls is RedlichKister else {}
    if cls is RedlichKister and n_terms < 1:
        raise ValueError(f"n_terms must be >= 1, got {n_terms}")
    n_par = cls._n_params(**opts)
    if chi.size < n_par:
        raise ValueError(f"{model} has {n_par} parameters but only {chi.size} data points were given")

    if x0 is None:
        start = cls._x0(float(np.median(U)), **opts)
    elif isinstance(x0, OcpModel):
        if not isinstance(x0, cls):
            raise ValueError(f"x0 is a {x0.name} model, expected {model}")
        start = x0._theta_vec()
    else:
        start = np.asarray(x0, dtype=np.float64).ravel()
    if start.size != n_par:
        raise ValueError(f"x0 has {start.size} entries, {model} needs {n_par}")
    lo, hi = cls._bounds(**opts)
    start = np.clip(start, lo, hi)

    def resid(vec):
        return cls._from_vec(vec, T, **opts).U(chi) - U

    options.setdefault("x_scale", "jac")
    res = least_squares(resid, start, bounds=(lo, hi), **options)
    fitted = cls._from_vec(res.x, T, **opts)
    r = fitted.U(chi) - U
    ss_res = float(r @ r)
    dev = U - U.mean()
    ss_tot = float(dev @ dev)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else -math.inf)
    mono, smax = check_monotonic(fitted)
    return OcpFit(model=fitted, r_squared=r2, rmse=math.sqrt(ss_res / chi.size), monotonic=mono,
                  max_dU_dchi=smax, n_points=int(chi.size), n_params=n_par, success=bool(res.success),
                  message=str(res.message), residuals=r)
