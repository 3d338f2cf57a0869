"""Forward-folded spectral fits with profile-likelihood errors and band fluxes.

The predicted rate of channel group ``j`` is ``Σ_i Φ_i · max(A_i, 0) · M_ij · AREASCAL``, with
``Φ_i`` the model photon flux integrated over true-energy bin ``i`` (Simpson's rule, see
:mod:`.models`), ``A`` the ARF and ``M`` the RMF summed over the channels of the group.

Statistics
----------
``chi2``
    Σ (r − m)² / (σ_stat² + (f_sys · r)²), with ``f_sys`` the fractional ``SYS_ERR`` and
    ``r`` the *observed* rate (XSPEC's convention).
``cash``
    2 Σ [m − n + n ln(n/m)] on counts (the Cash statistic up to a data-only constant, so that it
    is ~χ²-distributed for a good fit). Only for Poisson spectra (``COUNTS`` or
    ``POISSERR = T``): background-subtracted ISGRI rates with Gaussian errors must use χ².

Channels
--------
Channels with ``QUALITY ≠ 0`` are ignored and ``GROUPING`` is applied. ``emin``/``emax`` keep
the groups whose **centre** lies in [emin, emax] (so 20–300 keV keeps the 19.7–22.1 and
199.7–300.2 keV channels of the 14-band ISGRI grid: 13 channels).

Errors
------
* Parameters: profile likelihood. For each parameter the others are re-fitted at every trial
  value and the bounds where the statistic rises by Δ = 1 (1σ) and 2.706 (90 %) above the
  minimum are found by bracketing and Brent's method. A bound that would lie beyond the
  parameter's hard limit is reported as None ("pegged"), and the parameter as a **limit**:
  ``ParameterResult.limit`` = ``{"kind": "lower"|"upper", "value_90": …}`` (e.g. E_c > 170 keV,
  90 %), never as a value with a made-up error; both sides pegged = unconstrained.
* Fluxes: propagated from the covariance of the fit (the delta method on ln F, so both error
  bars have the right sign and a positive flux stays positive): the Hessian of the statistic
  at the best fit gives the covariance (2·H⁻¹), and parameters pegged at a hard limit are held there (their direction of the surface is
  flat or one-sided: letting it into a Gaussian would give the absurd ±10⁻³ erg/cm²/s of a
  100σ source). σ(ln F)² = gᵀ C g with g the numerical gradient of ln F in fit space; the
  1σ / 90 % errors are F·(e^(∓kσ) − 1), k = 1 / 1.645.

Joint fits
----------
:func:`fit_joint` fits one model to several spectra (ISGRI and JEM-X of one source, say) as
XSPEC's ``constant*model``: the physical parameters are shared, each dataset ``d`` has a
constant ``const_<label>`` (the first, the reference, frozen at 1; the others free, with
profile errors like any parameter), each dataset keeps its own response, exposure, SYS_ERR,
quality and energy range, and the statistic is the sum of the datasets' (χ² or Cash). The
channels of the datasets are concatenated into one problem, so the closed-form norms, the
profiles and the flux errors below work unchanged; band fluxes are the model's, i.e. on the
reference dataset's normalisation.

Speed
-----
For a single-component model the normalisation is linear and is solved in closed form inside
every minimisation (χ²: weighted least squares; Cash: Σn/Σm), so a power-law fit is a 1-D
problem and its profiles cost a few hundred model evaluations.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

from .models import JointModel, Model, make_model
from .ogip import SpectrumData, read_spectrum

__all__ = [
    "DEFAULT_BANDS",
    "DELTA_1SIGMA",
    "DELTA_90",
    "BandFlux",
    "DatasetResult",
    "FitResult",
    "ParameterResult",
    "fit_joint",
    "fit_spectrum",
    "joint_fit_summary",
]

DELTA_1SIGMA = 1.0
DELTA_90 = float(stats.chi2.ppf(0.90, 1))  # 2.7055
#: Bands [keV] whose fluxes every fit reports.
DEFAULT_BANDS = ((20.0, 40.0), (40.0, 100.0), (20.0, 100.0), (100.0, 300.0))


def _nan_to_none(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------
@dataclass
class ParameterResult:
    """Best fit and profile errors of one parameter.

    ``err_1sigma`` and ``err_90`` are ``(minus, plus)`` offsets from ``value`` (minus ≤ 0);
    an entry is None where the bound reaches the parameter's hard limit, and both are None
    for a frozen parameter.
    """

    name: str
    value: float
    unit: str
    err_1sigma: tuple
    err_90: tuple
    frozen: bool = False
    lo: float = -np.inf
    hi: float = np.inf
    #: ``{"kind": "lower"|"upper"|"none", "value_90": float|None}`` when a profile side is pegged.
    limit: dict | None = None

    @property
    def error(self) -> float | None:
        """Symmetrised 1σ error (mean of the two sides); None when one side is pegged."""
        m, p = self.err_1sigma
        return None if m is None or p is None else 0.5 * (p - m)

    def to_dict(self) -> dict:
        out = {"name": self.name, "value": _nan_to_none(self.value), "unit": self.unit,
               "error": _nan_to_none(self.error),
               "err_1sigma": [_nan_to_none(v) for v in self.err_1sigma],
               "err_90": [_nan_to_none(v) for v in self.err_90],
               "frozen": self.frozen, "bounds": [_nan_to_none(self.lo), _nan_to_none(self.hi)]}
        # Only when there is one: oda_api clients re-read the JSON text products with
        # literal_eval after replacing null, so a null in every parameter would break them.
        if self.limit is not None:
            out["limit"] = {"kind": self.limit["kind"], "value_90": _nan_to_none(self.limit.get("value_90"))}
        return out


@dataclass
class BandFlux:
    """Model flux in a band, with errors.

    Attributes
    ----------
    e1, e2 : float
        Band [keV].
    energy : float
        Energy flux [erg/cm²/s].
    energy_err_1sigma, energy_err_90 : tuple
        ``(minus, plus)`` offsets [erg/cm²/s].
    photon : float
        Photon flux [ph/cm²/s].
    photon_err_1sigma, photon_err_90 : tuple
    """

    e1: float
    e2: float
    energy: float
    energy_err_1sigma: tuple
    energy_err_90: tuple
    photon: float
    photon_err_1sigma: tuple
    photon_err_90: tuple

    @property
    def energy_quantity(self):
        """Energy flux as an astropy Quantity (erg/cm²/s)."""
        import astropy.units as u

        return self.energy * u.Unit("erg cm-2 s-1")

    @property
    def photon_quantity(self):
        """Photon flux as an astropy Quantity (1/cm²/s)."""
        import astropy.units as u

        return self.photon * u.Unit("cm-2 s-1")

    def to_dict(self) -> dict:
        return {"e1_keV": self.e1, "e2_keV": self.e2,
                "energy_flux_erg_cm2_s": _nan_to_none(self.energy),
                "energy_flux_err_1sigma": [_nan_to_none(v) for v in self.energy_err_1sigma],
                "energy_flux_err_90": [_nan_to_none(v) for v in self.energy_err_90],
                "photon_flux_ph_cm2_s": _nan_to_none(self.photon),
                "photon_flux_err_1sigma": [_nan_to_none(v) for v in self.photon_err_1sigma],
                "photon_flux_err_90": [_nan_to_none(v) for v in self.photon_err_90]}


@dataclass
class FitResult:
    """Outcome of :func:`fit_spectrum`.

    Attributes
    ----------
    model : Model
    stat_type : str
        ``chi2`` or ``cash``.
    statistic : float
    dof : int
    parameters : list of ParameterResult
    fluxes : list of BandFlux
        The :data:`DEFAULT_BANDS`.
    e_min, e_max, rate, rate_err, model_rate : numpy.ndarray
        The fitted channel groups: bounds [keV], observed rate and total (stat ⊕ sys) error
        [counts/s], best-fit predicted rate.
    emin, emax : float or None
        Requested energy range.
    covariance : numpy.ndarray
        Covariance of the free parameters in fit space (log10 for scale parameters).
    notes : list of str
        Things the user should know (negative ARF bins clipped, pegged parameters…).
    seconds : float
        Wall time of the fit and its errors.
    """

    model: Model
    stat_type: str
    statistic: float
    dof: int
    parameters: list
    fluxes: list
    e_min: np.ndarray
    e_max: np.ndarray
    rate: np.ndarray
    rate_err: np.ndarray
    model_rate: np.ndarray
    emin: float | None
    emax: float | None
    covariance: np.ndarray
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    source: str = ""
    #: Joint fits: one :class:`DatasetResult` per dataset (empty for a single spectrum).
    datasets: list = field(default_factory=list)
    #: (best fit-space vector, indices propagated, their covariance, log mask) for the delta method.
    _delta: tuple | None = field(default=None, repr=False)
    #: (e1, e2, "energy"|"photon") → σ(ln F) from the Hessian in (ln F, other parameters).
    _flux_sigma: object = field(default=None, repr=False)

    @property
    def values(self) -> np.ndarray:
        return np.array([p.value for p in self.parameters])

    @property
    def params(self) -> dict:
        """Best-fit values by name."""
        return {p.name: p.value for p in self.parameters}

    def __getitem__(self, name) -> ParameterResult:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def stat_per_dof(self) -> float:
        return self.statistic / self.dof if self.dof > 0 else math.nan

    @property
    def p_value(self) -> float:
        """Probability of a larger statistic for a correct model (χ² distribution)."""
        return float(stats.chi2.sf(self.statistic, self.dof)) if self.dof > 0 else math.nan

    def photon_spectrum(self, energy):
        """Best-fit N(E) [ph/cm²/s/keV] at ``energy`` [keV]."""
        return self.model(energy, self.values)

    def _log_sigma(self, fn) -> float | None:
        """σ of ln fn(values) by the delta method (None without a covariance)."""
        if self._delta is None:
            return None
        u, idx, cov, logmask = self._delta
        if len(idx) == 0:
            return 0.0
        to_v = lambda uu: np.where(logmask, 10.0 ** uu, uu)
        f0 = fn(to_v(u))
        if not (np.isfinite(f0) and f0 > 0):
            return None
        g = np.zeros(len(idx))
        for a, k in enumerate(idx):
            # A local derivative: a step tied to the (possibly huge) width of a flat direction
            # would measure the curvature of ln F, not its slope.
            h = 1e-4 * max(1.0, abs(float(u[k])))
            up, dn = u.copy(), u.copy()
            up[k] += h
            dn[k] -= h
            fp, fm = fn(to_v(up)), fn(to_v(dn))
            if not (fp > 0 and fm > 0):
                return None
            g[a] = (math.log(fp) - math.log(fm)) / (2.0 * h)
        return float(math.sqrt(max(g @ cov @ g, 0.0)))

    @staticmethod
    def _bars(best: float, s: float | None):
        if s is None:
            return (None, None), (None, None)
        k90 = float(stats.norm.ppf(0.95))
        return ((best * math.expm1(-s), best * math.expm1(s)),
                (best * math.expm1(-k90 * s), best * math.expm1(k90 * s)))

    def flux(self, e1: float, e2: float) -> BandFlux:
        """Model flux in [e1, e2] keV with 1σ and 90 % errors (see module notes)."""
        if not 0 < e1 < e2:
            raise ValueError(f"band must satisfy 0 < e1 < e2 (got {e1}, {e2})")
        pf, ef = self.model.band_fluxes(e1, e2, self.values)
        if self._flux_sigma is not None:
            se, sp = self._flux_sigma(e1, e2, "energy"), self._flux_sigma(e1, e2, "photon")
        else:
            se = self._log_sigma(lambda v: float(self.model.band_fluxes(e1, e2, v)[1]))
            sp = self._log_sigma(lambda v: float(self.model.band_fluxes(e1, e2, v)[0]))
        e1s, e90 = self._bars(float(ef), se)
        p1s, p90 = self._bars(float(pf), sp)
        return BandFlux(float(e1), float(e2), float(ef), e1s, e90, float(pf), p1s, p90)

    def derived(self) -> dict:
        """Derived quantities: the power-law normalisation at 1 keV (``K_1keV``) of each
        component that has a photon index, with 1σ errors propagated from the covariance."""
        out = {}
        for comp, s in zip(self.model.components, self.model.slices):
            names = [p.name for p in comp.params]
            gi = next((i for i, n in enumerate(names) if n in ("gamma", "gamma1")), None)
            if gi is None:
                continue
            label = "K_1keV" if len(self.model.components) == 1 else f"{comp.name}.K_1keV"
            g, n = self.values[s][gi], self.values[s][-1]
            best = float(n * comp.pivot ** g)
            sk = self._log_sigma(lambda v, s=s, gi=gi, comp=comp: float(v[s][-1] * comp.pivot ** v[s][gi]))
            err = self._bars(best, sk)[0]
            out[label] = {"value": best, "err_1sigma": list(err), "unit": "ph/cm2/s/keV"}
        return out

    def to_dict(self) -> dict:
        """JSON-able summary."""
        return {
            "source": self.source,
            "model": self.model.expression, "pivot_keV": self.model.pivot,
            "stat": self.stat_type, "statistic": _nan_to_none(self.statistic), "dof": int(self.dof),
            "stat_per_dof": _nan_to_none(self.stat_per_dof), "p_value": _nan_to_none(self.p_value),
            "emin_keV": _nan_to_none(self.emin), "emax_keV": _nan_to_none(self.emax),
            "n_bins": int(self.rate.size),
            "parameters": [p.to_dict() for p in self.parameters],
            "derived": self.derived(),
            "fluxes": [f.to_dict() for f in self.fluxes],
            "channels": self._channels(),
            "notes": list(self.notes), "seconds": self.seconds,
            "flux_errors": "delta method on ln F with the Hessian covariance; parameters pegged at a limit held there",
        } | (self._joint_dict() if self.datasets else {})

    def _joint_dict(self) -> dict:
        """Joint fits: the datasets (their channels and constants) and which dataset each
        concatenated channel of ``channels`` belongs to."""
        by_name = {p.name: p for p in self.parameters}
        labels = [lab for d in self.datasets for lab in [d.label] * int(d.rate.size)]
        return {"joint": True,
                "datasets": [d.to_dict(by_name.get(d.constant)) for d in self.datasets],
                "channels": {**self._channels(), "dataset": labels}}

    def _channels(self) -> dict:
        return {"e_min_keV": self.e_min.tolist(), "e_max_keV": self.e_max.tolist(),
                "rate": self.rate.tolist(), "rate_err": self.rate_err.tolist(),
                "model_rate": self.model_rate.tolist()}


@dataclass
class DatasetResult:
    """One dataset of a joint fit: its channels, folded model and share of the statistic.

    Attributes
    ----------
    label : str
        Dataset name (``ISGRI``, ``JMX1``…: the PHA's ``DETNAM``/``INSTRUME`` unless given).
    constant : str
        Name of its cross-normalisation parameter (``const_<label>``).
    source : str
        PHA file name.
    exposure : float
        [s].
    emin, emax : float or None
        Requested energy range [keV].
    e_min, e_max, rate, rate_err, model_rate : numpy.ndarray
        Fitted channel groups: bounds [keV], observed rate and total error [counts/s], best-fit
        predicted rate (constant included) [counts/s].
    statistic : float
        This dataset's part of the total statistic.
    """

    label: str
    constant: str
    source: str
    exposure: float
    emin: float | None
    emax: float | None
    e_min: np.ndarray
    e_max: np.ndarray
    rate: np.ndarray
    rate_err: np.ndarray
    model_rate: np.ndarray
    statistic: float

    @property
    def residuals(self) -> np.ndarray:
        """(data − model) / error per channel group."""
        return (self.rate - self.model_rate) / self.rate_err

    def to_dict(self, constant: ParameterResult | None = None) -> dict:
        out = {"label": self.label, "source": self.source, "exposure_s": float(self.exposure),
               "emin_keV": _nan_to_none(self.emin), "emax_keV": _nan_to_none(self.emax),
               "n_bins": int(self.rate.size), "statistic": _nan_to_none(self.statistic),
               "constant": constant.to_dict() if constant is not None else {"name": self.constant},
               "channels": {"e_min_keV": self.e_min.tolist(), "e_max_keV": self.e_max.tolist(),
                            "rate": self.rate.tolist(), "rate_err": self.rate_err.tolist(),
                            "model_rate": self.model_rate.tolist(),
                            "residual_sigma": self.residuals.tolist()}}
        if out["emin_keV"] is None:
            del out["emin_keV"]  # no nulls for oda_api's literal_eval of the text products
        if out["emax_keV"] is None:
            del out["emax_keV"]
        return out


# ---------------------------------------------------------------------------------------
# The problem: data, response and statistic
# ---------------------------------------------------------------------------------------
class _Fold:
    """One dataset folded once: quadrature points and weights of its selected channel groups."""

    def __init__(self, data: SpectrumData, emin, emax, stat: str, label: str = ""):
        if data.rmf is None:
            raise ValueError(f"{label + ': ' if label else ''}the spectrum has no RMF "
                             "(give --rmf or a RESPFILE in the PHA header)")
        self.label = label
        self.notes: list[str] = []
        g = data.grouped()
        centre = 0.5 * (g.e_min + g.e_max)
        sel = np.isfinite(g.rate) & np.isfinite(g.stat_err)
        if emin is not None:
            sel &= centre >= emin
        if emax is not None:
            sel &= centre <= emax
        if stat == "chi2":
            sel &= (g.stat_err > 0) | (g.sys_frac * np.abs(g.rate) > 0)
        idx = np.flatnonzero(sel)
        if idx.size == 0:
            raise ValueError(f"{label + ': ' if label else ''}no good channels in {emin}–{emax} keV "
                             f"(spectrum covers {np.nanmin(g.e_min):.1f}–{np.nanmax(g.e_max):.1f} keV)")
        members = [g.members[k] for k in idx]
        cols = data.response_columns()
        rmf = data.rmf
        resp = np.stack([rmf.matrix[:, cols[m]].sum(axis=1) for m in members], axis=1)
        if data.arf is not None:
            area = data.arf.specresp
            if data.arf.n_negative:
                self.notes.append(f"{data.arf.n_negative} negative ARF bins set to 0 cm² in the folding")
            resp = resp * np.clip(area, 0.0, None)[:, None]
        elif not rmf.includes_area:
            self.notes.append("no ARF: the RMF is taken as the full response (cm²)")
        ascal = data.areascal
        if np.ndim(ascal):
            ascal = np.array([np.mean(ascal[m]) for m in members])
        resp = resp * ascal
        # Only true-energy bins that reach a selected channel matter.
        rows = np.flatnonzero(np.any(resp != 0, axis=1))
        self.resp = np.ascontiguousarray(resp[rows])
        self.lo, self.hi = rmf.energ_lo[rows], rmf.energ_hi[rows]
        # Simpson's rule per true bin folded into the response once: the predicted rates are
        # then N(points) @ weights, one model evaluation and one product per call (shared bin
        # edges evaluated once). Same numbers as models.bin_integral(...) @ resp.
        edges, inv = np.unique(np.concatenate([self.lo, self.hi]), return_inverse=True)
        n = self.lo.size
        self.points = np.concatenate([edges, 0.5 * (self.lo + self.hi)])
        wb = ((self.hi - self.lo) / 6.0)[:, None] * self.resp
        weights = np.zeros((self.points.size, self.resp.shape[1]))
        np.add.at(weights, inv[:n], wb)
        np.add.at(weights, inv[n:], wb)
        weights[edges.size:] = 4.0 * wb
        self.weights = weights
        self.e_min, self.e_max = g.e_min[idx], g.e_max[idx]
        self.rate = g.rate[idx]
        self.sigma = np.sqrt(g.stat_err[idx] ** 2 + (g.sys_frac[idx] * g.rate[idx]) ** 2)
        self.exposure = float(data.exposure)
        self.counts = None
        if stat == "cash":
            if not data.poisson or g.counts is None:
                raise ValueError(f"{label + ': ' if label else ''}cash needs a Poisson spectrum (COUNTS, or "
                                 "POISSERR = T); this one has Gaussian STAT_ERR (e.g. background-subtracted ISGRI "
                                 "rates): use chi2")
            self.counts = g.counts[idx]
        self.n_bins = idx.size


class _Problem:
    """Folded model and statistic of one spectrum, or of several fitted jointly.

    A joint problem (:meth:`joint`) concatenates the datasets' selected channel groups: the
    predicted rate of dataset ``d`` is its own folding of the shared model times its constant
    (a parameter of the :class:`~.models.JointModel`), and the statistic is the sum of the
    datasets' statistics (each with its own exposure, errors and SYS_ERR).
    """

    def __init__(self, data: SpectrumData, model: Model, emin, emax, stat: str):
        self._setup([_Fold(data, emin, emax, stat)], model, stat, [None])

    @classmethod
    def joint(cls, folds, model: Model, stat: str, factor_indices):
        """A problem over several :class:`_Fold` with per-dataset constants at ``factor_indices``."""
        self = cls.__new__(cls)
        self._setup(list(folds), model, stat, list(factor_indices))
        return self

    def _setup(self, folds, model, stat, factor_indices):
        self.model = model
        self.stat_type = stat
        self.folds = folds
        self.factor_indices = factor_indices
        self.notes = [f"{f.label}: {n}" if len(folds) > 1 else n for f in folds for n in f.notes]
        stops = np.cumsum([f.n_bins for f in folds])
        self.block = [slice(int(a), int(b)) for a, b in zip(np.r_[0, stops[:-1]], stops)]
        cat = lambda name: np.concatenate([getattr(f, name) for f in folds])
        self.e_min, self.e_max, self.rate, self.sigma = cat("e_min"), cat("e_max"), cat("rate"), cat("sigma")
        if len(folds) == 1:
            f = folds[0]
            self.points, self.weights, self.lo, self.hi, self.resp = f.points, f.weights, f.lo, f.hi, f.resp
            self.exposure = f.exposure
        else:
            self.exposure = np.concatenate([np.full(f.n_bins, f.exposure) for f in folds])
        if stat == "cash":
            self.counts = cat("counts")
            self._nlogn = np.where(self.counts > 0, self.counts * np.log(np.where(self.counts > 0, self.counts, 1)), 0.0)
        self.w = 1.0 / self.sigma ** 2
        self.n_bins = int(stops[-1])
        # Fit space: log10 for scale parameters.
        self.log = np.array([p.log for p in model.parameters])
        self.bounds = np.array([(math.log10(p.lo), math.log10(p.hi)) if p.log else (p.lo, p.hi)
                                for p in model.parameters])
        self.single = len(model.components) == 1
        self.n_eval = 0
        self.best_seen = (math.inf, None)  # lowest statistic met anywhere (profiles included)

    def fold(self, photon_model, values):
        """Predicted rates of every selected channel group for ``photon_model(points)``."""
        out = []
        for f, k in zip(self.folds, self.factor_indices):
            m = photon_model(f.points) @ f.weights
            out.append(m if k is None else m * values[k])
        return out[0] if len(out) == 1 else np.concatenate(out)

    # -- transforms ----------------------------------------------------------------------
    def to_values(self, u):
        u = np.asarray(u, float)
        return np.where(self.log, 10.0 ** u, u)

    def to_internal(self, v):
        v = np.asarray(v, float)
        return np.where(self.log, np.log10(np.where(self.log, v, 1.0)), v)

    # -- model and statistic -------------------------------------------------------------
    def predicted(self, values):
        self.n_eval += 1
        return self.fold(lambda e: self.model(e, values), values)

    def stat_of(self, m):
        if self.stat_type == "chi2":
            return float(np.sum((self.rate - m) ** 2 * self.w))
        mu = m * self.exposure
        if np.any(mu <= 0):
            return math.inf
        return float(2.0 * np.sum(mu - self.counts + self._nlogn - self.counts * np.log(mu)))

    def stat(self, u):
        s = self.stat_of(self.predicted(self.to_values(u)))
        if s < self.best_seen[0]:
            self.best_seen = (s, np.array(u, float))
        return s

    def eliminated(self, free):
        """Components whose norms are solved in closed form when ``free`` are fitted.

        χ²: every free norm (the model is linear in them: non-negative least squares).
        Cash: only the norm of a single-component model (Σn / Σm).
        """
        if self.stat_type == "chi2" or self.single:
            return [c for c, k in enumerate(self.model.norm_indices) if k in free]
        return []

    def solve_norms(self, u, elim):
        """Best norms of components ``elim`` given the other parameters; returns ``(u, stat)``."""
        model = self.model
        v = self.to_values(u)
        fixed = np.zeros(self.n_bins)
        shapes = []
        for c, (comp, sl) in enumerate(zip(model.components, model.slices)):
            vals = v[sl].copy()
            if c in elim:
                vals[-1] = 1.0
            self.n_eval += 1
            m = self.fold(lambda e, comp=comp, vals=vals: comp.evaluate(e, *vals), v)
            if c in elim:
                shapes.append(m)
            else:
                fixed = fixed + m
        M = np.array(shapes)
        if self.stat_type == "chi2":
            sw = np.sqrt(self.w)
            if len(elim) == 1:
                a = M[0] * sw
                den = a @ a
                norms = np.array([max((a @ ((self.rate - fixed) * sw)) / den, 0.0) if den > 0 else 0.0])
            else:
                norms, _ = optimize.nnls((M * sw).T, (self.rate - fixed) * sw)
        else:
            den = np.sum(M[0] * self.exposure)
            norms = np.array([self.counts.sum() / den if den > 0 else 0.0])
        u = np.array(u, float)
        for c, s in zip(elim, norms):
            p = model.parameters[model.norm_indices[c]]
            s = min(max(float(s), p.lo), p.hi)
            norms[elim.index(c)] = s
            u[model.norm_indices[c]] = math.log10(s)
        stat = self.stat_of(fixed + norms @ M)
        if stat < self.best_seen[0]:
            self.best_seen = (stat, u)
        return u, stat

    # -- minimisation --------------------------------------------------------------------
    def minimize(self, u0, free, polish=False, precise=True):
        """Minimise over the parameters ``free`` (indices), the others held at ``u0``.

        Norms that can be are solved in closed form (:meth:`solve_norms`); the remaining
        non-linear parameters go to L-BFGS-B. ``polish`` adds a Nelder–Mead pass (for the
        global best fit, where an early stop in a curved valley would bias everything else).
        Returns ``(stat, u)``.
        """
        u0 = np.array(u0, float)
        free = list(free)
        elim = self.eliminated(free)
        elim_k = {self.model.norm_indices[c] for c in elim}
        opt = [k for k in free if k not in elim_k]

        def full(x):
            u = u0.copy()
            u[opt] = x
            if elim:
                u, s = self.solve_norms(u, elim)
                return s, u
            return self.stat(u), u

        if not opt:
            return full(np.zeros(0))
        x0 = np.clip(u0[opt], self.bounds[opt, 0], self.bounds[opt, 1])
        f = lambda x: full(x)[0]
        tol = {"ftol": 1e-13, "gtol": 1e-9} if precise else {"ftol": 1e-10, "gtol": 1e-6}
        res = optimize.minimize(f, x0, method="L-BFGS-B", bounds=self.bounds[opt], options={**tol, "maxiter": 500})
        x = res.x
        if polish and len(opt) > 1:  # L-BFGS-B can stop early in curved valleys
            res2 = optimize.minimize(f, x, method="Nelder-Mead", bounds=self.bounds[opt],
                                     options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 2000})
            if res2.fun < res.fun:
                x = res2.x
        return full(x)

    def hessian(self, u, free):
        """Numerical Hessian of the statistic in fit space over ``free`` (central differences)."""
        n = len(free)
        h = np.array([1e-3 * max(1.0, abs(u[k])) if not self.log[k] else 1e-3 for k in free])
        H = np.zeros((n, n))
        f0 = self.stat(u)

        def at(di):
            v = u.copy()
            for k, d in di:
                v[free[k]] += d
            return self.stat(v)

        for a in range(n):
            fp, fm = at([(a, h[a])]), at([(a, -h[a])])
            H[a, a] = (fp - 2 * f0 + fm) / h[a] ** 2
            for b in range(a):
                fpp = at([(a, h[a]), (b, h[b])])
                fpm = at([(a, h[a]), (b, -h[b])])
                fmp = at([(a, -h[a]), (b, h[b])])
                fmm = at([(a, -h[a]), (b, -h[b])])
                H[a, b] = H[b, a] = (fpp - fpm - fmp + fmm) / (4 * h[a] * h[b])
        return H


def _num_hessian(f, x0, h):
    """Central-difference Hessian of ``f`` at ``x0`` with steps ``h``."""
    n = len(x0)
    H = np.zeros((n, n))
    f0 = f(x0)

    def at(di):
        v = np.array(x0, float)
        for k, d in di:
            v[k] += d
        return f(v)

    for a in range(n):
        H[a, a] = (at([(a, h[a])]) - 2 * f0 + at([(a, -h[a])])) / h[a] ** 2
        for b in range(a):
            H[a, b] = H[b, a] = (at([(a, h[a]), (b, h[b])]) - at([(a, h[a]), (b, -h[b])])
                                 - at([(a, -h[a]), (b, h[b])]) + at([(a, -h[a]), (b, -h[b])])) / (4 * h[a] * h[b])
    return H


def _flux_log_sigma(prob, best_u, idx, e1, e2, kind):
    """σ(ln F) of a band flux: 2·H⁻¹ in coordinates where ln F itself is one of them.

    The norm of the component that dominates the band is replaced by ln F (it follows from
    ln F and the other parameters: F is linear in each norm); the Hessian of the statistic is
    taken in (ln F, the other parameters of ``idx``). A band flux is the best-measured quantity
    of a fit, so in these coordinates the surface is well conditioned even when the
    parameters are strongly correlated (a Comptonised spectrum's kTe, τ and norm at the pivot).
    Returns None when no norm of ``idx`` can carry the flux.
    """
    model = prob.model
    col = 1 if kind == "energy" else 0
    v0 = prob.to_values(best_u)
    f0 = float(model.band_fluxes(e1, e2, v0)[col])
    norms = [k for k in model.norm_indices if k in idx]
    if not norms or not (f0 > 0):
        return None

    def contribution(k, v):
        w = np.array(v, float)
        w[k] = 0.0
        return float(model.band_fluxes(e1, e2, w)[col])

    star = max(norms, key=lambda k: f0 - contribution(k, v0))
    pos = idx.index(star)

    def to_u(w):
        u = np.array(best_u, float)
        u[idx] = w
        v = prob.to_values(u)
        rest = contribution(star, v)
        v[star] = 1.0
        unit = float(model.band_fluxes(e1, e2, v)[col]) - rest
        n = (math.exp(w[pos]) - rest) / unit if unit > 0 else -1.0
        if not n > 0:
            return None
        u[star] = math.log10(n)
        return u

    def stat(w):
        u = to_u(w)
        return prob.stat(u) if u is not None else 1e30

    w0 = np.array(best_u[idx], float)
    w0[pos] = math.log(f0)
    h = np.array([1e-3 * max(1.0, abs(w0[a])) if a != pos else 1e-3 for a in range(len(idx))])
    cov = _covariance(_num_hessian(stat, w0, h))
    return float(math.sqrt(max(cov[pos, pos], 0.0)))


def _covariance(H):
    """2·H⁻¹ (Δstat = 1 ↔ 1σ), made positive definite if the surface is flat or pegged."""
    w, v = np.linalg.eigh(0.5 * (H + H.T))
    w = np.maximum(w, 1e-8 * max(1.0, float(np.max(np.abs(w)))) if w.size else w)
    return 2.0 * (v / w) @ v.T


def _profile_bound(prob, k, free, best_u, best_stat, level, side, sigma_k, above=None):
    """Fit-space value of parameter ``k`` where the profile rises by ``level``; None if pegged.

    ``above``, if given, is a value known to lie beyond the crossing (e.g. the 90 % bound
    when looking for the 1σ one), which saves the bracketing.
    """
    others = [j for j in free if j != k]
    lo_b, hi_b = prob.bounds[k]
    x0 = best_u[k]
    limit = hi_b if side > 0 else lo_b
    if (limit - x0) * side <= 0:
        return None
    state = {"u": best_u.copy()}

    elim_k = {prob.model.norm_indices[c] for c in prob.eliminated(others)}
    n_nonlinear = len([j for j in others if j not in elim_k])

    def f(x):
        u = state["u"].copy()
        u[k] = x
        if not others:
            return prob.stat(u) - best_stat - level
        s, u_new = prob.minimize(u, others, precise=False)
        if n_nonlinear >= 2 and not prob.single:
            # Sums of components have several valleys (e.g. which component makes the
            # high-energy tail): the warm start can sit in another one, so also start from
            # the best fit and keep the lower profile.
            u2 = best_u.copy()
            u2[k] = x
            s2, u2 = prob.minimize(u2, others, precise=False)
            if s2 < s:
                s, u_new = s2, u2
        state["u"] = u_new
        return s - best_stat - level

    step = max(sigma_k * math.sqrt(level), 1e-6)
    a, b = x0, x0 + side * step
    fa, fb = -level, math.nan
    if above is not None and abs(above - x0) < abs(b - x0) * 1.5:
        b = above
    for _ in range(40):
        if (b - limit) * side >= 0:
            b = limit
        fb = f(b)
        if fb > 0:
            break
        if b == limit:
            return None
        a, fa = b, fb
        step *= 2.0
        b = x0 + side * step
    else:
        return None
    # Brent between a (below the level) and b (above); warm starts follow the last point.
    # When the re-fitted profile is noisy there (warm starts landing in different valleys of
    # the other parameters, so that f(a) and f(b) no longer bracket), the crossing is
    # interpolated linearly between the two bracketing evaluations: a bound good to a fraction
    # of the bracket, which is at most one doubling step wide.
    try:
        return optimize.brentq(f, min(a, b), max(a, b), xtol=1e-3 * max(sigma_k, 1e-3), rtol=1e-10, maxiter=60)
    except ValueError:
        if math.isfinite(fb) and fb > fa:
            return a + (b - a) * (-fa) / (fb - fa)
        return math.nan


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------
def fit_spectrum(data: SpectrumData, model="powerlaw", emin=None, emax=None, stat="chi2", *,
                 fixed: dict | None = None, start: dict | None = None, pivot: float | None = None,
                 bands=DEFAULT_BANDS, errors: bool = True, seed: int = 0) -> FitResult:
    """Fit a photon model to a spectrum by forward folding through its ARF and RMF.

    Parameters
    ----------
    data : SpectrumData
        From :func:`core.fitting.ogip.read_spectrum`.
    model : str or Model, optional
        ``powerlaw`` (default), ``cutoffpl``, ``bknpower``, ``bbody``, ``comptt`` or a sum
        such as ``powerlaw+bbody``.
    emin, emax : float, optional
        Energy range [keV] (channel groups whose centre lies inside). Default: all.
    stat : {"chi2", "cash"}, optional
    fixed : dict, optional
        Parameters held at the given values (name → value).
    start : dict, optional
        Starting values (name → value) instead of the defaults.
    pivot : float, optional
        Pivot energy [keV] of the normalisations when ``model`` is a string (default 50).
    bands : sequence of (float, float), optional
        Bands [keV] of the reported fluxes.
    errors : bool, optional
        Compute profile errors and flux errors (default True).
    seed : int, optional
        Seed of the flux-error draws.

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        Unknown model or statistic, unknown parameter name, no channel in the range, Cash on
        a non-Poisson spectrum.
    """
    t0 = time.perf_counter()
    if stat not in ("chi2", "cash"):
        raise ValueError(f"unknown statistic {stat!r} (use chi2 or cash)")
    if emin is not None and emax is not None and not emin < emax:
        raise ValueError(f"emin ({emin}) must be below emax ({emax})")
    if not isinstance(model, Model):
        model = make_model(model, **({} if pivot is None else {"pivot": pivot}))
    prob = _Problem(data, model, emin, emax, stat)
    return _run_fit(prob, model, stat, fixed, start, bands, errors, emin, emax,
                    str(data.path.name) if data.path else "", t0)


def _scale_of(prob, m, sl=slice(None)):
    """The factor that best scales predicted rates ``m`` to the data of block ``sl``."""
    if prob.stat_type == "chi2":
        den = np.sum(m[sl] * m[sl] * prob.w[sl])
        return np.sum(m[sl] * prob.rate[sl] * prob.w[sl]) / den if den > 0 else 1.0
    return np.sum(prob.counts[sl]) / max(np.sum(m[sl] * np.broadcast_to(prob.exposure, m.shape)[sl]), 1e-300)


def _run_fit(prob, model, stat, fixed, start, bands, errors, emin, emax, source, t0) -> FitResult:
    """Best fit, profile errors and band fluxes of a prepared problem (one dataset or several)."""
    names = model.names
    for d, what in ((fixed or {}, "fixed"), (start or {}, "start")):
        for n in d:
            if n not in names:
                raise ValueError(f"{what}: unknown parameter {n!r} of {model.expression} (has {', '.join(names)})")
    v0 = model.defaults.copy()
    for n, val in {**(start or {}), **(fixed or {})}.items():
        v0[names.index(n)] = float(val)
    u0 = np.clip(prob.to_internal(v0), prob.bounds[:, 0], prob.bounds[:, 1])
    free = [k for k, n in enumerate(names) if n not in (fixed or {})]

    # Put the norms at the right scale before the non-linear search (χ² optimum of one factor).
    # Joint fits: the norms follow the first dataset (the reference) and each other dataset's
    # constant starts at its own scale relative to it.
    factors = [k for k in prob.factor_indices if k is not None]
    m = prob.predicted(prob.to_values(u0))
    scales = [_scale_of(prob, m, sl) for sl in prob.block]
    scale = scales[0] if factors else _scale_of(prob, m)
    if scale > 0:
        for k in model.norm_indices:
            if k in free:
                u0[k] = np.clip(u0[k] + math.log10(scale), *prob.bounds[k])
        for k, sc in zip(prob.factor_indices, scales):
            if k is not None and k in free and names[k] not in (start or {}) and sc > 0:
                u0[k] = np.clip(u0[k] + math.log10(sc / scale), *prob.bounds[k])

    # Non-linear shape parameters (energies, temperatures) may have several valleys: start
    # also from 1/3 and 3 times each default and polish the best start.
    starts = [u0]
    for k in free:
        if (prob.log[k] and k not in model.norm_indices and k not in factors
                and model.names[k] not in (start or {})):
            for f in (-math.log10(3.0), math.log10(3.0)):
                u = u0.copy()
                u[k] = np.clip(u[k] + f, *prob.bounds[k])
                starts.append(u)
    best_stat, best_u = min((prob.minimize(u, free) for u in starts), key=lambda r: r[0])
    best_stat, best_u = prob.minimize(best_u, free, polish=True)

    n_free = len(free)
    notes = list(prob.notes)
    cov = np.zeros((n_free, n_free))
    err1 = {k: (None, None) for k in range(len(names))}
    err90 = dict(err1)
    delta = None
    limits: dict[int, dict] = {}
    if errors and n_free:
        for _ in range(3):
            prob.best_seen = (best_stat, best_u)
            H = prob.hessian(best_u, free)
            cov = _covariance(H)
            sig = np.sqrt(np.diag(cov))
            bounds_at = {}
            for a, k in enumerate(free):
                sk = float(sig[a]) if np.isfinite(sig[a]) and sig[a] > 0 else 0.1
                for level in (DELTA_90, DELTA_1SIGMA):
                    pair = []
                    for si, side in enumerate((-1, +1)):
                        above = bounds_at[(k, DELTA_90)][si] if level == DELTA_1SIGMA else None
                        above = None if above is None or not math.isfinite(above) else above
                        pair.append(_profile_bound(prob, k, free, best_u, best_stat, level, side, sk, above))
                    bounds_at[(k, level)] = pair
            # The profiles explore the surface: if they met a lower minimum, move there and redo.
            if prob.best_seen[0] < best_stat - 1e-4:
                best_stat, best_u = prob.minimize(prob.best_seen[1], free, polish=True)
                notes.append("error search found a better fit; refitted from there")
                continue
            break
        for a, k in enumerate(free):
            v_best = prob.to_values(best_u)[k]

            def offs(pair, k=k, v_best=v_best):
                return tuple(None if x is None else float((10.0 ** x if prob.log[k] else x) - v_best) for x in pair)

            err1[k] = offs(bounds_at[(k, DELTA_1SIGMA)])
            err90[k] = offs(bounds_at[(k, DELTA_90)])
            for (lvl, what) in ((DELTA_1SIGMA, "1-sigma"), (DELTA_90, "90%")):
                for side, x in zip(("lower", "upper"), bounds_at[(k, lvl)]):
                    if x is None:
                        notes.append(f"{names[k]}: {what} {side} bound reaches the parameter limit")
                    elif not math.isfinite(x):
                        notes.append(f"{names[k]}: {what} {side} bound not found (profile not monotonic)")
            lo1, hi1 = bounds_at[(k, DELTA_1SIGMA)]
            lo90, hi90 = bounds_at[(k, DELTA_90)]
            to_v = (lambda x, k=k: None if x is None or not math.isfinite(x) else float(10.0 ** x if prob.log[k] else x))
            if lo1 is None and hi1 is None:
                limits[k] = {"kind": "none", "value_90": None}
                notes.append(f"{names[k]}: not constrained (both 1-sigma bounds reach the parameter limits)")
            elif hi1 is None:
                limits[k] = {"kind": "lower", "value_90": to_v(lo90)}
                notes.append(f"{names[k]}: a lower limit, > {to_v(lo90)} (90%)" if to_v(lo90) is not None
                             else f"{names[k]}: a lower limit")
            elif lo1 is None:
                limits[k] = {"kind": "upper", "value_90": to_v(hi90)}
                notes.append(f"{names[k]}: an upper limit, < {to_v(hi90)} (90%)" if to_v(hi90) is not None
                             else f"{names[k]}: an upper limit")
        # Flux errors: the covariance (2·H⁻¹) of the parameters that are not pegged (the pegged
        # ones held at their best value). Not rescaled to the profile widths: rescaling strongly
        # correlated parameters one by one breaks the cancellation that makes a band flux
        # better known than each parameter.
        ok = [a for a, k in enumerate(free) if k not in limits]
        idx = [free[a] for a in ok]
        if idx:
            H = prob.hessian(best_u, idx)
            cov_ok = _covariance(H)
        else:
            cov_ok = np.zeros((0, 0))
        delta = (best_u.copy(), idx, cov_ok, prob.log.copy())
        cov = np.zeros((n_free, n_free))
        for i, a in enumerate(ok):
            for j, b in enumerate(ok):
                cov[a, b] = cov_ok[i, j]
    best_v = prob.to_values(best_u)
    params = []
    for k, p in enumerate(model.parameters):
        value = float(best_v[k]) if k in free else float(v0[k])  # frozen: exactly as given
        params.append(ParameterResult(p.name, value, p.unit, err1[k], err90[k],
                                      frozen=k not in free, lo=p.lo, hi=p.hi, limit=limits.get(k)))
    result = FitResult(model=model, stat_type=stat, statistic=float(best_stat), dof=prob.n_bins - n_free,
                       parameters=params, fluxes=[], e_min=prob.e_min, e_max=prob.e_max, rate=prob.rate,
                       rate_err=prob.sigma, model_rate=prob.predicted(best_v), emin=emin, emax=emax,
                       covariance=cov, notes=notes, source=source,
                       _delta=delta,
                       _flux_sigma=(None if delta is None else
                                    (lambda e1, e2, kind, idx=list(delta[1]), u=best_u.copy():
                                     _flux_log_sigma(prob, u, idx, e1, e2, kind))))
    result.fluxes = [result.flux(a, b) for a, b in bands]
    result.seconds = time.perf_counter() - t0
    return result


def _dataset(item):
    """``(SpectrumData, emin, emax, label)`` of one entry of :func:`fit_joint`'s ``datasets``."""
    emin = emax = label = None
    if isinstance(item, dict):
        unknown = set(item) - {"pha", "arf", "rmf", "emin", "emax", "label", "data"}
        if unknown:
            raise ValueError(f"datasets: unknown key {sorted(unknown)[0]!r} (use pha, arf, rmf, emin, emax, label)")
        data = item.get("data")
        if data is None:
            if item.get("pha") is None:
                raise ValueError("datasets: each entry needs a pha (or data)")
            data = read_spectrum(item["pha"], arf=item.get("arf"), rmf=item.get("rmf"))
        emin, emax, label = item.get("emin"), item.get("emax"), item.get("label")
    elif isinstance(item, SpectrumData):
        data = item
    elif isinstance(item, (tuple, list)):
        if not 1 <= len(item) <= 5:
            raise ValueError("datasets: a tuple entry is (pha[, arf, rmf[, emin, emax]])")
        if isinstance(item[0], SpectrumData):
            data, rest = item[0], list(item[1:])
        else:
            pha, arf, rmf = (list(item[:3]) + [None, None])[:3]
            data, rest = read_spectrum(pha, arf=arf, rmf=rmf), list(item[3:])
        if len(rest) == 2:
            emin, emax = rest
        elif rest:
            raise ValueError("datasets: a tuple entry is (pha[, arf, rmf[, emin, emax]]) or (data, emin, emax)")
    else:
        data = read_spectrum(item)
    if emin is not None and emax is not None and not float(emin) < float(emax):
        raise ValueError(f"datasets: emin ({emin}) must be below emax ({emax})")
    if label is None:
        h = data.header
        label = str(h.get("DETNAM") or h.get("INSTRUME") or "").strip()
    return data, (None if emin is None else float(emin)), (None if emax is None else float(emax)), label


def fit_joint(datasets, model="powerlaw", stat="chi2", *, fixed: dict | None = None, start: dict | None = None,
              pivot: float | None = None, bands=DEFAULT_BANDS, errors: bool = True) -> FitResult:
    """Fit one photon model to several spectra at once (XSPEC's ``constant*model``).

    The physical parameters are shared; each dataset after the first has a free constant
    ``const_<label>`` multiplying its folded rates (the cross-normalisation of two
    instruments); the first dataset's constant is frozen at 1, so the fluxes and the norm
    are the first dataset's (e.g. ISGRI's). Each dataset keeps its own ARF/RMF, exposure,
    SYS_ERR, quality and channel selection; the statistic (χ² or Cash) is the sum of the
    datasets'. Errors (1σ, 90 %) of every free parameter, the constants included, come from
    the profile of the total statistic (see the module notes).

    Parameters
    ----------
    datasets : sequence
        Two or more of: a :class:`~.ogip.SpectrumData`; a PHA path (ARF/RMF from its
        ``ANCRFILE``/``RESPFILE``); a tuple ``(pha, arf, rmf)`` or ``(pha, arf, rmf, emin, emax)``
        (``None`` for a response found through the header), or ``(SpectrumData, emin, emax)``;
        a dict with keys ``pha``/``data``, ``arf``, ``rmf``, ``emin``, ``emax``, ``label``.
        ``emin``/``emax`` [keV]: channel groups whose centre lies inside (default all good
        channels, i.e. quality 0).
    model : str or Model, optional
        As :func:`fit_spectrum` (``powerlaw``, ``cutoffpl``, ``powerlaw+bbody``…).
    stat : {"chi2", "cash"}, optional
    fixed, start : dict, optional
        Parameter name → value, for the shared parameters and the constants alike
        (``fixed={"const_JMX1": 1.0}`` ties the normalisations).
    pivot : float, optional
        Pivot energy [keV] of the normalisations (default 50).
    bands : sequence of (float, float), optional
        Bands [keV] of the reported fluxes.
    errors : bool, optional

    Returns
    -------
    FitResult
        With :attr:`FitResult.datasets` (one :class:`DatasetResult` each); its ``channels`` are
        the datasets' concatenated, in dataset order.

    Raises
    ------
    ValueError
        Fewer than two datasets, a bad dataset entry or range, unknown model, statistic or
        parameter, no channel in a dataset's range, Cash on a non-Poisson spectrum.
    """
    t0 = time.perf_counter()
    if stat not in ("chi2", "cash"):
        raise ValueError(f"unknown statistic {stat!r} (use chi2 or cash)")
    entries = [_dataset(item) for item in datasets]
    if len(entries) < 2:
        raise ValueError(f"a joint fit needs at least two datasets (got {len(entries)}); use fit_spectrum for one")
    base = model if isinstance(model, Model) else make_model(model, **({} if pivot is None else {"pivot": pivot}))
    if isinstance(base, JointModel):
        base = base.base
    jm = JointModel(base, [e[3] for e in entries])
    folds = [_Fold(data, lo, hi, stat, label) for (data, lo, hi, _), label in zip(entries, jm.labels)]
    prob = _Problem.joint(folds, jm, stat, jm.factor_indices)
    ref = jm.names[jm.factor_indices[0]]
    fixed = {**(fixed or {})}
    if ref in fixed and float(fixed[ref]) != 1.0:
        raise ValueError(f"fixed: {ref} is the reference dataset's constant and stays 1")
    fixed[ref] = 1.0
    los = [e[1] for e in entries if e[1] is not None]
    his = [e[2] for e in entries if e[2] is not None]
    source = " + ".join(f"{lab}:{e[0].path.name}" if e[0].path else lab for e, lab in zip(entries, jm.labels))
    result = _run_fit(prob, jm, stat, fixed, start, bands, errors, min(los) if len(los) == len(entries) else None,
                      max(his) if len(his) == len(entries) else None, source, t0)
    model_rate = result.model_rate
    for (data, lo, hi, _), f, sl, k in zip(entries, folds, prob.block, jm.factor_indices):
        m = model_rate[sl]
        if stat == "chi2":
            part = float(np.sum((f.rate - m) ** 2 / f.sigma ** 2))
        else:
            mu = m * f.exposure
            n = f.counts
            part = float(2.0 * np.sum(mu - n + np.where(n > 0, n * np.log(np.where(n > 0, n, 1) / mu), 0.0)))
        result.datasets.append(DatasetResult(f.label, jm.names[k], str(data.path.name) if data.path else "",
                                             f.exposure, lo, hi, f.e_min, f.e_max, f.rate, f.sigma, m, part))
    result.seconds = time.perf_counter() - t0
    return result


def joint_fit_summary(datasets, model: str = "powerlaw", *, bands=DEFAULT_BANDS, stat: str = "chi2",
                      pivot: float | None = None, fixed: dict | None = None) -> dict:
    """:func:`fit_joint` as the JSON-able dict of :meth:`FitResult.to_dict` (for a product).

    ``datasets``: as :func:`fit_joint` (e.g. ``[(isgri_pha, isgri_arf, isgri_rmf, 20, 100),
    (jemx_pha, jemx_arf, jemx_rmf, 3, 35)]``, the first being the reference, constant 1).
    """
    return fit_joint(datasets, model, stat, bands=bands, pivot=pivot, fixed=fixed).to_dict()


def energy_flux_erg(result: FitResult, e1: float, e2: float) -> float:
    """Best-fit energy flux [erg/cm²/s] in [e1, e2] keV (no errors; convenience)."""
    return float(result.model.energy_flux(e1, e2, result.values))

