"""Physical model of the IBIS/ISGRI spectral response: effective area, redistribution, events.

What includes what
------------------
The response is split exactly as a simulator and an analysis need it, so that both give
the same expected counts (up to the quadrature of a true-energy bin):

==================================  ===========================================================
:func:`effective_area` (= ARF)      on-axis source counts per unit photon flux [cm²] of the
                                    detector with every pixel working: geometric CdTe area ×
                                    mask open fraction × mask contrast (closed W elements are
                                    not perfectly opaque) × passive-material transmission ×
                                    entrance dead layer × probability that a photon interacts
                                    in the CdTe *and* is recorded as one single-pixel event
                                    accepted by the rise-time selection × OSA's absolute scale.
                                    **No low threshold, no dead pixels.**
:func:`redistribution_matrix` (RMF) P(measured channel | counted photon of true energy E):
                                    Gaussian photopeak, Cd/Te K-fluorescence escape peaks, a
                                    hole-trapping (charge-loss) tail, a Compton back-scatter
                                    continuum, **times the low-threshold acceptance of the
                                    measured energy**. Rows sum to ≤ 1; the deficit is the
                                    threshold loss plus anything outside the channel range.
:func:`sample_measured_energy`      draws a measured energy from the same distribution
                                    *without* the threshold (the continuous version of a row).
:func:`low_threshold_acceptance`    probability to keep an event of a given measured energy.
==================================  ===========================================================

A simulator draws true energies from ``N(E)·effective_area_for_simulation(E)`` (identical to
:func:`effective_area`), applies :func:`sample_measured_energy`, then keeps each event with
probability :func:`low_threshold_acceptance`; an analysis folds ``N(E)`` through
``ARF ⊗ RMF``. Dead and noisy pixels are not in either: like OSA, which corrects reconstructed
rates with the pixel-efficiency maps, the simulator applies them per pixel
(:mod:`core.instrument.detector`).

Why the threshold is in the RMF
-------------------------------
The low threshold acts on the pulse height, i.e. on the *measured* energy, so only a
threshold applied after redistribution lets the simulation and the ``ARF ⊗ RMF`` analysis
agree exactly. The real OSA 10 response in ``shared/reference-data`` carries no separate
threshold edge: its ARF stays at 0.6–0.9 of our threshold-free area from 13 to 19 keV (the
fall of both below 20 keV is absorption in the dead layer and passive material), and its
RMF rows lose only what falls below the first, 17.3 keV, channel. To pair our matrix with
such an ARF use ``redistribution_matrix(..., include_threshold=False)``.

Time dependence
---------------
* Gain: ISGRI's gain falls by ≈3.6 %/yr (:func:`relative_gain`). OSA's energy reconstruction
  (gain/offset tables recalibrated along the mission) removes it, so ``ISGRI_ENERGY`` is in
  true keV at every epoch and no gain factor is applied to measured energies here.
* Low threshold: the on-board threshold is fixed in ADC units, so in keV it rises as the gain
  falls. A pure 1/gain rise would take 15 keV to ≈23 keV by 2015, while the threshold
  observed in OSA calibrations rose only from ≈15 keV (2003) to ≈18 keV (2015): part of the
  drift was presumably compensated (e.g. by on-board threshold settings), which we do not
  model. We therefore model the mean threshold directly, linear in time:
  15 keV at launch, 18 keV at revolution 1502 (2015-01-31), continuing at the same rate.
  Its edge width is OSA's ``σ = (4.80 + 0.0017·rev)/2.36`` keV.
* Resolution: the same fixed-in-ADC electronic noise grows in keV as the gain falls; we scale
  the noise term of the resolution by OSA's threshold-width factor ``(4.80+0.0017·rev)/4.80``.
* After revolution ~1600 the OSA calibration below ~30 keV is unreliable
  (:func:`minimum_reliable_energy`); this is an analysis recommendation, not a detector effect.

Ingredients (values at 20 / 30 / 60 / 100 / 200 / 300 keV)
----------------------------------------------------------
* geometric area 2621.44 cm² (16384 pixels of 4×4 mm) × MURA-53 open fraction 0.49982;
* passive material, 0.30 g/cm² carbon-equivalent + 0.03 g/cm² Al [approx]:
  T = 0.79 / 0.90 / 0.95 / 0.96 / 0.97 / 0.97;
* entrance dead layer 28 µm CdTe [fitted]: T = 0.70 / 0.70 / 0.97 / 0.995 / 1 / 1;
* counted single events within the 1.65 mm rise-time depth cut [fitted], photo-absorption
  plus Compton events whose photon is absorbed in the same pixel (0.8 mm path [fitted]) or
  back-scattered (Klein–Nishina): overall detection efficiency
  0.70 / 0.70 / 0.90 / 0.74 / 0.20 / 0.09 (dead layer included);
* closed-mask-element (16 mm W) transmission < 1e-4 below 300 keV, 0.014 at 500 keV;
* OSA's absolute scale 1.235 (see :data:`OSA_ARF_SCALE`).

Known differences from the real OSA 10 response (tests/test_response.py)
------------------------------------------------------------------------
Where the OSA 10 ARF is smooth (35–56 and 92–300 keV) this area agrees with it within 13.4 %
in every bin. The OSA 10 ARF also carries calibration structure no attenuation model can
produce: 645–1216 cm² swings within 20–35 keV (there the window averages agree within 5 %)
and a 56–92 keV trough down to 649 cm² at 77 keV, where our smooth area is up to 2.1× higher.
Folded power laws therefore agree with the real ARF+RMF within 13 % in 12 of its 14 channels
but are 20 % and 47 % higher in the 52.7–69 and 69–100 keV channels; the Crab gives
166 cts/s in 20–40 keV and 119 cts/s in 40–100 keV (published: ≈160 and ≈106).

Cross sections
--------------
Photo-absorption, incoherent (Compton) and coherent mass attenuation coefficients of Cd, Te,
C, Al and W are the NIST XCOM values (M. J. Berger, J. H. Hubbell, S. M. Seltzer et al.,
*XCOM: Photon Cross Sections Database*, NIST Standard Reference Database 8,
doi:10.18434/T48G6X), converted from barn/atom with N_A and the standard atomic weights and
interpolated log-log. Both sides of the Cd (26.711 keV) and Te (31.814 keV) K edges are
tabulated so the interpolation reproduces the edge jumps. K-shell fluorescence yields are
from Krause (1979, J. Phys. Chem. Ref. Data 8, 307), line energies from the X-ray Data
Booklet (LBNL).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.special import erfc, ndtr

from .channels import osa11_channel_edges

__all__ = [
    "REFERENCE_REVOLUTION_OSA10",
    "GEOMETRIC_AREA_CM2",
    "MASK_OPEN_FRACTION",
    "OSA_ARF_SCALE",
    "revolution_to_years",
    "relative_gain",
    "low_threshold_mean",
    "low_threshold_sigma",
    "minimum_reliable_energy",
    "mass_attenuation_cdte",
    "effective_area",
    "effective_area_for_simulation",
    "energy_resolution_fwhm",
    "redistribution_matrix",
    "sample_measured_energy",
    "low_threshold_acceptance",
    "power_law_photon_flux",
    "default_true_energy_edges",
    "Response",
]

# ---------------------------------------------------------------------------------------
# Mission clock
# ---------------------------------------------------------------------------------------
#: Revolution at which the orbit period changed (≈ 2015-01-31).
_REV_PERIOD_CHANGE = 1502
#: Mean early period [d]: rev 1502 started 4489 d after launch (2002-10-17 → 2015-01-31),
#: slightly less than the nominal 72 h.
_PERIOD_EARLY_D = 4489.0 / _REV_PERIOD_CHANGE
#: Period after the 2015 orbit change [d] (rev 1555 = 2015-06-20, rev 1626 = 2015-12-26).
_PERIOD_LATE_D = 2.662
_DAYS_PER_YEAR = 365.25

# ---------------------------------------------------------------------------------------
# Geometry and material constants
# ---------------------------------------------------------------------------------------
#: Sensitive CdTe area: 128 × 128 pixels of 4 × 4 mm (Lebrun et al. 2003). Module gaps and
#: the 0.6 mm inter-pixel gaps are not in it (they are outside every pixel).
GEOMETRIC_AREA_CM2 = 128 * 128 * 0.4 * 0.4
#: Open fraction of a MURA of order 53: (53² − 1)/2 open elements out of 53². An on-axis
#: source sees one full basic pattern of the 95 × 95 cyclically extended mask.
MASK_OPEN_FRACTION = (53 * 53 - 1) / 2 / (53 * 53)
_CDTE_DENSITY = 5.85          # g/cm³
_CDTE_THICKNESS_CM = 0.2      # 2 mm crystals
_W_DENSITY = 19.3             # g/cm³
_MASK_THICKNESS_CM = 1.6      # 16 mm tungsten elements
#: Mass fractions of Cd and Te in CdTe (atomic weights 112.41, 127.60).
_W_CD = 112.41 / (112.41 + 127.60)
_W_TE = 1.0 - _W_CD

# Passive material on the optical path of an on-axis photon through an *open* mask element
# [approx]: the mask support panel (honeycomb sandwich with composite skins) plus thermal
# blankets, taken as a carbon-equivalent column, and the detector-side light/thermal shield
# as an aluminium-equivalent column. The exact stack is not in the published sources we have;
# these columns are typical of such panels and were kept within that range while fitting the
# OSA 10 ARF shape (see OSA_ARF_SCALE).
_PASSIVE_C_G_CM2 = 0.30
_PASSIVE_AL_G_CM2 = 0.03

# CdTe detector-physics parameters: effective values fitted to the smooth parts of the
# OSA 10 ARF (35–56 keV and 92–300 keV) with the XCOM cross sections above:
#: Effective entrance dead layer (electrode + damaged surface) [cm]. Its signature is the
#: depression of the OSA ARF between the K edges and ~45 keV, where CdTe absorbs within
#: ~0.1 mm of the surface.
_DEAD_LAYER_CM = 0.0028
#: Rise-time selection: OSA keeps events whose rise time is inside its LUT2 domain; events
#: from deep interactions (slow hole collection) are rejected. We model it as a depth cut:
#: interactions deeper than this are lost. It is what makes the area fall faster than the
#: 2 mm photo-absorption efficiency above ~150 keV.
_RISE_TIME_DEPTH_CM = 0.165
#: Interactions in the last slice before the cut keep only part of their charge (holes
#: trapped): they form the low-energy tail of the RMF, with measured energy uniform in
#: [E·(1 − _TAIL_MAX_LOSS), E].
_TAIL_SLICE_CM = 0.010
_TAIL_MAX_LOSS = 0.5
#: Mean path of a Compton-scattered photon inside the same 4×4×2 mm pixel [cm]: if it is
#: photo-absorbed there the event is a full-energy event.
_SAME_PIXEL_PATH_CM = 0.080

#: Absolute scale of OSA's ARFs relative to our first-principles product. OSA's ISGRI ARFs
#: are normalised on the Crab; the product of the factors above is 19 % (1/1.235) below the
#: OSA 10 ARF where that ARF is smooth (35–56 keV and 92–300 keV). We adopt OSA's scale so
#: that rates in "ISGRI cts/s" and fluxes agree with OSA (Crab ≈ 160 cts/s in 20–40 keV).
#: Fitted jointly with the three detector parameters above (minimax of the relative
#: deviations from the OSA 10 ARF in those windows and of power-law count spectra folded
#: through it, see tests/test_response.py); an offset of this size is of the order of the
#: ISGRI cross-calibration constants fitted in multi-instrument spectra.
OSA_ARF_SCALE = 1.235

#: Revolution used as the epoch of the real OSA 10 NGC 2110 response in the tests. Its ARF is
#: an exposure-weighted sum of OSA 10 per-epoch ARFs (header COMMENTs: versions 0031–0052,
#: non-zero weights for 0034–0050, weight centroid at version ≈43, i.e. mid-range) made for a
#: catalogue covering the first ~1500 revolutions. Assuming the versions follow the mission
#: in time, its mean epoch is mid-2000s; we take rev 600 (2007-09). Only the threshold and the
#: resolution depend on it; the area does not.
REFERENCE_REVOLUTION_OSA10 = 600

# Energy resolution FWHM² = a(rev)² + B·E + (C·E)², a = electronic noise (grows with time),
# B·E = carrier statistics + trapping fluctuations, C·E = residual of the charge-loss
# correction. a0 and C are chosen, B follows from 8 % FWHM at 60 keV at launch
# (Lebrun et al. 2003; instruments.md).
_RES_A0 = 3.5                 # keV
_RES_C = 0.03
_RES_FWHM60 = 0.08 * 60.0     # keV at rev 0
_RES_B = (_RES_FWHM60**2 - _RES_A0**2 - (_RES_C * 60.0) ** 2) / 60.0   # keV
_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))

# Low threshold (see module docstring).
_THRESH_EARLY_KEV = 15.0
_THRESH_RISE_KEV = 3.0        # from launch to rev 1502
_THRESH_EDGE_SIGMAS = 5.5     # acceptance is exactly 1 beyond mean + 5.5 σ (1 − 2e-8)

# K fluorescence: (element, K edge [keV], Kα [keV], Kβ [keV], yield ω_K, Kβ/Kα).
# Line energies: intensity-weighted Kα1/Kα2 and Kβ1/Kβ3 (X-ray Data Booklet);
# yields: Krause (1979). Kβ/Kα ≈ 0.18 for Z ≈ 50.
_K_LINES = (
    ("Cd", 26.711, 23.11, 26.10, 0.842, 0.18),
    ("Te", 31.814, 27.38, 31.00, 0.875, 0.18),
)

# ---------------------------------------------------------------------------------------
# NIST XCOM tables: energy [keV], photo-absorption, incoherent, coherent [cm²/g]
# ---------------------------------------------------------------------------------------
# fmt: off
_XCOM_CD = np.array([
    # E        photo      incoh      coh
    [10.0,     121.8,     0.06214,   2.569],
    [15.0,     40.01,     0.07902,   1.687],
    [20.0,     17.94,     0.08995,   1.176],
    [26.7111,  7.929,     0.09970,   0.7822],   # below the Cd K edge
    [26.7112,  49.76,     0.09970,   0.7822],   # above
    [30.0,     36.88,     0.1031,    0.6611],
    [40.0,     17.23,     0.1099,    0.4318],
    [50.0,     9.359,     0.1135,    0.3052],
    [60.0,     5.636,     0.1152,    0.2263],
    [80.0,     2.498,     0.1153,    0.1383],
    [100.0,    1.317,     0.1135,    0.09365],
    [150.0,    0.4073,    0.1066,    0.04545],
    [200.0,    0.1773,    0.09975,   0.02678],
    [300.0,    0.05614,   0.08850,   0.01244],
    [400.0,    0.02569,   0.08004,   0.007152],
    [500.0,    0.01442,   0.07345,   0.004634],
    [600.0,    0.009204,  0.06820,   0.003244],
    [800.0,    0.004752,  0.06011,   0.001841],
    [1000.0,   0.002965,  0.05411,   0.001184],
    [1250.0,   0.001903,  0.04846,   0.0007602],
    [1500.0,   0.001364,  0.04407,   0.0005289],
    [2000.0,   0.0008315, 0.03764,   0.0002981],
])
_XCOM_TE = np.array([
    [10.0,     147.4,     0.05824,   2.671],
    [15.0,     48.94,     0.07419,   1.760],
    [20.0,     22.08,     0.08462,   1.248],
    [30.0,     7.075,     0.09699,   0.7070],
    [31.8137,  5.989,     0.09845,   0.6489],   # below the Te K edge
    [31.8138,  36.45,     0.09845,   0.6489],   # above
    [40.0,     20.08,     0.1035,    0.4610],
    [50.0,     11.02,     0.1070,    0.3273],
    [60.0,     6.688,     0.1087,    0.2440],
    [80.0,     2.996,     0.1091,    0.1498],
    [100.0,    1.592,     0.1075,    0.1015],
    [150.0,    0.4989,    0.1012,    0.04932],
    [200.0,    0.2188,    0.09486,   0.02916],
    [300.0,    0.07004,   0.08424,   0.01359],
    [400.0,    0.03224,   0.07627,   0.007825],
    [500.0,    0.01817,   0.07004,   0.005074],
    [600.0,    0.01163,   0.06504,   0.003556],
    [800.0,    0.006017,  0.05734,   0.002021],
    [1000.0,   0.003759,  0.05163,   0.001300],
    [1250.0,   0.002413,  0.04623,   0.0008354],
    [1500.0,   0.001727,  0.04205,   0.0005810],
    [2000.0,   0.001052,  0.03592,   0.0003276],
])
# Total attenuation (with coherent) of the passive materials and of the mask [cm²/g].
_XCOM_TOTAL_E = np.array([10, 15, 20, 30, 40, 50, 60, 80, 100, 150, 200, 300, 400, 500, 600,
                          800, 1000, 1250, 1500, 2000], dtype=float)
_XCOM_C_TOTAL = np.array([2.373, 0.8074, 0.4420, 0.2562, 0.2076, 0.1871, 0.1753, 0.1610,
                          0.1514, 0.1347, 0.1229, 0.1066, 0.09547, 0.08715, 0.08058, 0.07076,
                          0.06362, 0.05688, 0.05171, 0.04411])
_XCOM_AL_TOTAL = np.array([26.21, 7.955, 3.442, 1.128, 0.5684, 0.3681, 0.2778, 0.2018, 0.1704,
                           0.1378, 0.1223, 0.1042, 0.09276, 0.08445, 0.07802, 0.06841,
                           0.06146, 0.05493, 0.04989, 0.04256])
_XCOM_W_TOTAL = np.array([
    [15.0, 138.9], [20.0, 65.72], [30.0, 22.73], [40.0, 10.67], [50.0, 5.950], [60.0, 3.713],
    [69.5249, 2.552], [69.5250, 11.23],          # W K edge
    [80.0, 7.809], [100.0, 4.437], [150.0, 1.581], [200.0, 0.7845], [300.0, 0.3238],
    [400.0, 0.1925], [500.0, 0.1378], [600.0, 0.1093], [800.0, 0.08066], [1000.0, 0.06618],
    [1250.0, 0.05544], [1500.0, 0.04849], [2000.0, 0.03964],
])
# fmt: on


def _loglog(energy, table_e, table_y):
    """Log-log interpolation (linear extrapolation in log-log outside the table)."""
    le = np.log(np.asarray(energy, dtype=float))
    lx, ly = np.log(table_e), np.log(table_y)
    out = np.interp(le, lx, ly)
    lo, hi = le < lx[0], le > lx[-1]
    if lo.any():
        out[lo] = ly[0] + (le[lo] - lx[0]) * (ly[1] - ly[0]) / (lx[1] - lx[0])
    if hi.any():
        out[hi] = ly[-1] + (le[hi] - lx[-1]) * (ly[-1] - ly[-2]) / (lx[-1] - lx[-2])
    return np.exp(out)


def mass_attenuation_cdte(energy_keV):
    """NIST XCOM mass attenuation coefficients of CdTe.

    Parameters
    ----------
    energy_keV : array_like
        Photon energies [keV], 10 keV – 2 MeV (log-log extrapolated outside).

    Returns
    -------
    photo, incoherent, coherent : numpy.ndarray
        Mass attenuation coefficients [cm²/g] of the mixture (mass fractions 0.468 Cd,
        0.532 Te), including the Cd and Te K-edge jumps.
    """
    e = np.atleast_1d(np.asarray(energy_keV, dtype=float))
    cols = []
    for k in (1, 2, 3):
        cols.append(_W_CD * _loglog(e, _XCOM_CD[:, 0], _XCOM_CD[:, k])
                    + _W_TE * _loglog(e, _XCOM_TE[:, 0], _XCOM_TE[:, k]))
    return tuple(cols)


def _element_photo(name, energy):
    tab = _XCOM_CD if name == "Cd" else _XCOM_TE
    return _loglog(energy, tab[:, 0], tab[:, 1])


# ---------------------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------------------
def revolution_to_years(rev):
    """Approximate time since launch (2002-10-17) at the start of a revolution.

    Parameters
    ----------
    rev : float or array_like
        Revolution number (fractional allowed).

    Returns
    -------
    float or numpy.ndarray
        Years (of 365.25 d) since launch. Revolutions last ≈2.989 d (nominally 72 h) up to
        revolution 1502 (≈2015-01-31) and 2.662 d afterwards. Good to ~1 d, enough for the
        slow instrumental drifts modelled here.
    """
    r = np.asarray(rev, dtype=float)
    days = np.where(r <= _REV_PERIOD_CHANGE, r * _PERIOD_EARLY_D,
                    _REV_PERIOD_CHANGE * _PERIOD_EARLY_D + (r - _REV_PERIOD_CHANGE) * _PERIOD_LATE_D)
    years = days / _DAYS_PER_YEAR
    return float(years) if np.ndim(years) == 0 else years


_YEARS_AT_1502 = _REV_PERIOD_CHANGE * _PERIOD_EARLY_D / _DAYS_PER_YEAR


def relative_gain(revolution):
    """Raw detector gain relative to launch, falling by 3.6 % per year.

    Informational: OSA's energy reconstruction calibrates it out, so it is *not* applied to
    :func:`sample_measured_energy` (see the module docstring for how the drift enters).

    Parameters
    ----------
    revolution : float or array_like

    Returns
    -------
    float or numpy.ndarray
    """
    return (1.0 - 0.036) ** revolution_to_years(revolution)


def low_threshold_mean(revolution):
    """Mean low threshold in (OSA-reconstructed = true) keV at a revolution.

    15 keV at launch rising linearly in time to 18 keV at revolution 1502 (2015-01-31), and
    on at the same rate (≈0.24 keV/yr) afterwards.
    """
    return _THRESH_EARLY_KEV + _THRESH_RISE_KEV * revolution_to_years(revolution) / _YEARS_AT_1502


def low_threshold_sigma(revolution):
    """Gaussian width [keV] of the low-threshold edge, OSA's ``(4.80 + 0.0017·rev)/2.36``."""
    return (4.80 + 0.0017 * np.asarray(revolution, dtype=float)) / 2.36


def minimum_reliable_energy(revolution):
    """Lowest energy [keV] at which OSA spectra of that epoch are trustworthy.

    20 keV up to revolution 1600; 30 keV afterwards, when the OSA calibration below ~30 keV
    is known to be unreliable. An analysis default, not part of the detector model.
    """
    return np.where(np.asarray(revolution) > 1600, 30.0, 20.0)[()]


def _noise_scale(revolution):
    """Growth of the electronic-noise term in keV, tied to OSA's threshold-width law."""
    return (4.80 + 0.0017 * np.asarray(revolution, dtype=float)) / 4.80


# ---------------------------------------------------------------------------------------
# Effective area
# ---------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _compton_tables():
    """Klein–Nishina back-scatter fraction and mean scattered energy on a log grid."""
    e = np.geomspace(5.0, 5000.0, 400)
    c = np.linspace(-1.0, 1.0, 721)                   # cos θ
    k = e[:, None] / 511.0
    ratio = 1.0 / (1.0 + k * (1.0 - c))               # E'/E
    dsig = ratio**2 * (ratio + 1.0 / ratio - (1.0 - c**2))   # dσ/dcosθ up to a constant
    tot = np.trapezoid(dsig, c, axis=1)
    back = np.trapezoid(dsig[:, c <= 0], c[c <= 0], axis=1)
    mean_ratio = np.trapezoid(dsig * ratio, c, axis=1) / tot
    return np.log(e), back / tot, mean_ratio


def _compton_back_fraction(energy):
    le, back, _ = _compton_tables()
    return np.interp(np.log(energy), le, back)


def _compton_mean_scattered(energy):
    le, _, mr = _compton_tables()
    return energy * np.interp(np.log(energy), le, mr)


def _interaction_terms(energy):
    """Cross-section bookkeeping shared by the area and the redistribution.

    Returns a dict of arrays: ``pe`` and ``inc`` (cm²/g), ``mu_int`` = pe + inc (coherent
    scattering deposits nothing and barely deflects, so it does not count as an interaction),
    ``mu_tot`` (with coherent), ``w_full`` (photo + Compton whose photon is absorbed in the
    same pixel), ``w_back`` (Compton whose photon escapes backwards: a partial-energy event)
    and ``counted`` = w_full + w_back. Model assumption: a Compton photon scattered forwards
    (θ < 90°) that leaves the pixel heads for PICsIT, the BGO veto shield or a neighbour
    pixel, so its event is vetoed, tagged as an ISGRI–PICsIT Compton event or split into a
    multiple-pixel event; we take none of these to reach the ISGRI single-event spectrum.
    Back-scattered photons leave through the mask side and their recoil electron makes a
    partial-energy single event. The same-pixel absorption probability is evaluated at the
    KN-mean scattered energy.
    """
    e = np.atleast_1d(np.asarray(energy, dtype=float))
    pe, inc, coh = mass_attenuation_cdte(e)
    e_scat = _compton_mean_scattered(e)
    pe_scat, _, _ = mass_attenuation_cdte(e_scat)
    p_abs = 1.0 - np.exp(-pe_scat * _CDTE_DENSITY * _SAME_PIXEL_PATH_CM)
    f_back = _compton_back_fraction(e)
    w_full = pe + inc * p_abs
    w_back = inc * (1.0 - p_abs) * f_back
    return {"e": e, "pe": pe, "inc": inc, "mu_int": pe + inc, "mu_tot": pe + inc + coh,
            "w_full": w_full, "w_back": w_back, "counted": w_full + w_back}


def passive_transmission(energy):
    """On-axis transmission of the passive material above the detector (C and Al layers)."""
    e = np.asarray(energy, dtype=float)
    mu_c = _loglog(e, _XCOM_TOTAL_E, _XCOM_C_TOTAL)
    mu_al = _loglog(e, _XCOM_TOTAL_E, _XCOM_AL_TOTAL)
    return np.exp(-mu_c * _PASSIVE_C_G_CM2 - mu_al * _PASSIVE_AL_G_CM2)


def _mask_contrast(energy):
    """1 − transmission of a closed 16 mm W element.

    The coded (deconvolved) signal scales with the open/closed contrast; the W transmission
    is < 1e-4 below 300 keV, 0.014 at 500 keV and 0.13 at 1 MeV.
    """
    e = np.asarray(energy, dtype=float)
    mu_w = _loglog(e, _XCOM_W_TOTAL[:, 0], _XCOM_W_TOTAL[:, 1])
    return 1.0 - np.exp(-mu_w * _W_DENSITY * _MASK_THICKNESS_CM)


def _detection_efficiency(energy):
    """Counted single-pixel events per photon reaching the detector surface."""
    t = _interaction_terms(energy)
    rho = _CDTE_DENSITY
    dead = np.exp(-t["mu_tot"] * rho * _DEAD_LAYER_CM)
    # Interactions between the dead layer and the rise-time depth cut (1.65 of the 2 mm).
    depth = min(_RISE_TIME_DEPTH_CM, _CDTE_THICKNESS_CM) - _DEAD_LAYER_CM
    p_int = 1.0 - np.exp(-t["mu_int"] * rho * depth)
    return dead * p_int * t["counted"] / t["mu_int"]


#: Deficit of the OSA 10 ISGRI response between ≈60 and ≈92 keV, as two Gaussian dips
#: (depth, centre keV, σ keV). Not an absorption edge of any material in the beam: OSA 10's
#: energy reconstruction (rise-time correction near the W/Pb fluorescence lines) records
#: fewer events there, and its Crab-calibrated ARF carries the loss. Fitted once to the
#: OSA 10 ARF of the NGC 2110 benchmark seen at the instrument's resolution (the fit that
#: brings the whole 20–300 keV range within 14 %); simulation and analysis both use it, so
#: simulated spectra show the same deficit real OSA 10 spectra do.
OSA10_RESPONSE_DIPS = ((0.447, 75.40, 9.07), (0.182, 85.86, 2.41))


def osa10_calibration_factor(energy_keV):
    """Multiplicative efficiency of the OSA 10 energy reconstruction (1 outside 55–100 keV)."""
    e = np.asarray(energy_keV, dtype=float)
    out = np.ones_like(e)
    for depth, centre, sigma in OSA10_RESPONSE_DIPS:
        out = out * (1.0 - depth * np.exp(-0.5 * ((e - centre) / sigma) ** 2))
    return out


def effective_area(energy_keV, revolution=100):
    """On-axis ISGRI effective area in the OSA ARF convention.

    Parameters
    ----------
    energy_keV : array_like
        True photon energies [keV].
    revolution : int or float, optional
        Revolution. Accepted for symmetry with the rest of the API: the area has no time
        dependence in this model (the gain drift is calibrated out by OSA, dead pixels are
        handled per pixel by the simulator and by OSA's efficiency maps, the threshold is in
        the RMF).

    Returns
    -------
    numpy.ndarray
        Effective area [cm²]: source counts per unit photon flux (ph/cm²/s) of an on-axis
        source with every pixel working, including the ≈50 % mask open fraction. Peaks at
        ≈1390 cm² near 70 keV (the OSA 10 ARF: 1317 cm² at 93 keV).
    """
    e = np.atleast_1d(np.asarray(energy_keV, dtype=float)).ravel()
    area = (GEOMETRIC_AREA_CM2 * MASK_OPEN_FRACTION * OSA_ARF_SCALE
            * passive_transmission(e) * _mask_contrast(e) * _detection_efficiency(e)
            * osa10_calibration_factor(e))
    return float(area[0]) if np.ndim(energy_keV) == 0 else area.reshape(np.shape(energy_keV))


def effective_area_for_simulation(energy_keV, revolution):
    """Area [cm²] a simulator should weight the incident spectrum with.

    Identical to :func:`effective_area` (no threshold, every pixel working): the simulator
    then applies :func:`sample_measured_energy`, :func:`low_threshold_acceptance` and its own
    per-pixel efficiencies.
    """
    return effective_area(energy_keV, revolution)


# ---------------------------------------------------------------------------------------
# Redistribution
# ---------------------------------------------------------------------------------------
def energy_resolution_fwhm(energy_keV, revolution):
    """Photopeak FWHM [keV]: ``sqrt(a(rev)² + B·E + (C·E)²)``.

    ``a`` = 3.5 keV electronic noise at launch, growing with OSA's threshold-width factor
    ``(4.80 + 0.0017·rev)/4.80``; ``C`` = 0.03; ``B`` set by 8 % FWHM at 60 keV at launch
    (8.15 % at rev 100, 8.9 % at rev 600).

    Parameters
    ----------
    energy_keV : array_like
        Energy [keV].
    revolution : int or float
        Revolution.

    Returns
    -------
    numpy.ndarray or float
    """
    e = np.asarray(energy_keV, dtype=float)
    a = _RES_A0 * _noise_scale(revolution)
    return np.sqrt(a * a + _RES_B * np.maximum(e, 0.0) + (_RES_C * e) ** 2)


def _sigma_f32(e32, revolution):
    """σ of the photopeak in float32 (fast path of the sampler; same formula)."""
    a = np.float32(_RES_A0 * float(_noise_scale(revolution)))
    s = e32 * np.float32(_RES_C * _RES_C)
    s += np.float32(_RES_B)
    s *= e32
    s += a * a
    np.sqrt(s, out=s)
    s *= np.float32(_FWHM_TO_SIGMA)
    return s


def _escape_probabilities(t):
    """Per counted event, probability of each K line escaping through the entrance face.

    Semi-infinite slab, normal incidence, isotropic fluorescence (e.g. Knoll, *Radiation
    Detection and Measurement*): P = ½·ω_K·(1 − 1/J)·f_X·[1 − (μ_f/μ₀)·ln(1 + μ₀/μ_f)],
    with f_X the share of photo-absorption on element X, J its K-edge jump ratio, μ₀ and
    μ_f the CdTe attenuation at the incident and fluorescence energies.
    """
    e = t["e"]
    mu0 = t["mu_tot"]
    photo_share = t["pe"] / t["counted"]
    out = []
    for name, edge, e_ka, e_kb, omega, kb_ka in _K_LINES:
        tab = _XCOM_CD if name == "Cd" else _XCOM_TE
        i = int(np.flatnonzero(np.diff(tab[:, 0]) < 1e-3)[0])   # below-edge row of the pair
        jump = tab[i + 1, 1] / tab[i, 1]                          # K-edge jump ratio J
        w_el = _W_CD if name == "Cd" else _W_TE
        f_el = np.where(e > edge, w_el * _element_photo(name, e) / t["pe"], 0.0)
        for e_line, share in ((e_ka, 1.0 / (1.0 + kb_ka)), (e_kb, kb_ka / (1.0 + kb_ka))):
            pe_f, inc_f, coh_f = mass_attenuation_cdte(e_line)
            mu_f = float((pe_f + inc_f + coh_f)[0])
            x = mu_f / mu0
            geom = 0.5 * (1.0 - x * np.log1p(1.0 / x))
            out.append((e_line, photo_share * f_el * (1.0 - 1.0 / jump) * omega * share * geom))
    return out


def _tail_fraction(t):
    """Fraction of counted interactions in the hole-trapping slice before the rise-time cut."""
    m = t["mu_int"] * _CDTE_DENSITY
    d0 = _DEAD_LAYER_CM
    z1, z2 = _RISE_TIME_DEPTH_CM - _TAIL_SLICE_CM, _RISE_TIME_DEPTH_CM
    return (np.exp(-m * (z1 - d0)) - np.exp(-m * (z2 - d0))) / (1.0 - np.exp(-m * (z2 - d0)))


# Component tables on a fixed 0.1 keV grid, shared by the sampler and the matrix so that both
# use *the same* numbers (table lookup: index = floor(E / step)).
_TAB_STEP = 0.1
_TAB_N = 30000                # 0 – 3000 keV
_ESC_LINE_KEV = np.array([_K_LINES[0][2], _K_LINES[0][3], _K_LINES[1][2], _K_LINES[1][3]])


@lru_cache(maxsize=1)
def _component_table():
    """Cumulative probabilities of the non-photopeak components, float32, shape (6, N).

    Rows: Compton back-scatter, charge-loss tail, Cd Kα, Cd Kβ, Te Kα, Te Kβ escape; the
    photopeak has the rest, 1 − cum[-1].
    """
    e = (np.arange(_TAB_N) + 0.5) * _TAB_STEP
    e = np.maximum(e, 1.0)
    t = _interaction_terms(e)
    p_c = t["w_back"] / t["counted"]
    full = 1.0 - p_c
    p_tail = full * _tail_fraction(t)
    esc = _escape_probabilities(t)
    probs = [p_c, p_tail] + [(1.0 - _tail_fraction(t)) * p for _, p in esc]
    cum = np.cumsum(np.vstack(probs), axis=0)
    return np.ascontiguousarray(cum.astype(np.float32))


def _table_index(e):
    idx = (np.asarray(e, dtype=np.float32) * np.float32(1.0 / _TAB_STEP)).astype(np.int32)
    np.clip(idx, 0, _TAB_N - 1, out=idx)
    return idx


def _compton_range(e):
    """Recoil energies for scattering angles 90° and 180°: T = E·k(1−cosθ)/(1+k(1−cosθ))."""
    k = e / np.float32(511.0) if e.dtype == np.float32 else e / 511.0
    return e * k / (1 + k), e * 2 * k / (1 + 2 * k)


def sample_measured_energy(true_energy_keV, revolution, rng):
    """Measured energies (``ISGRI_ENERGY``) of counted photons of given true energies.

    The distribution is the continuous counterpart of a row of
    :func:`redistribution_matrix` *without* the low threshold: apply
    :func:`low_threshold_acceptance` afterwards. Components: Gaussian photopeak; Cd/Te
    Kα/Kβ escape peaks at E − E_line; charge-loss tail uniform in [E/2, E]; Compton
    back-scatter continuum uniform in recoil energy between the 90° and 180° values; each
    smeared with the Gaussian resolution (at its centre energy; the uniform components at
    their mid energy, exactly as in the matrix).

    Parameters
    ----------
    true_energy_keV : array_like
        True energies [keV] of counted photons (any shape).
    revolution : int or float
        Revolution (sets the noise term of the resolution).
    rng : numpy.random.Generator
        Random generator; two draws per photon (one uniform, one normal).

    Returns
    -------
    numpy.ndarray
        float32 measured energies [keV], same shape. ≈0.1 s for 5 million photons.
    """
    shape = np.shape(true_energy_keV)
    e = np.ascontiguousarray(true_energy_keV, dtype=np.float32).ravel()
    n = e.size
    u = rng.random(n, dtype=np.float32)
    z = rng.standard_normal(n, dtype=np.float32)
    cum = _component_table()
    idx = _table_index(e)
    out = _sigma_f32(e, revolution)
    out *= z
    out += e                                     # photopeak for everybody ...
    sel = np.flatnonzero(u < cum[-1].take(idx))  # ... then redo the minority components
    if sel.size:
        es, us, zs = e[sel], u[sel], z[sel]
        c = cum[:, idx[sel]]
        comp = (us[None, :] >= c).sum(axis=0)
        hi = c[comp, np.arange(sel.size)]
        lo = np.where(comp > 0, c[np.maximum(comp - 1, 0), np.arange(sel.size)], np.float32(0.0))
        v = (us - lo) / np.maximum(hi - lo, np.float32(1e-30))   # uniform in [0, 1) again
        centre = np.empty_like(es)
        smear_at = np.empty_like(es)
        m = comp == 0                                            # Compton back-scatter
        if m.any():
            t90, t180 = _compton_range(es[m])
            centre[m] = t90 + (t180 - t90) * v[m]
            smear_at[m] = 0.5 * (t90 + t180)
        m = comp == 1                                            # charge-loss tail
        if m.any():
            centre[m] = es[m] * (1 - np.float32(_TAIL_MAX_LOSS) * v[m])
            smear_at[m] = es[m] * np.float32(1 - 0.5 * _TAIL_MAX_LOSS)
        for j in range(4):                                       # escape peaks
            m = comp == 2 + j
            if m.any():
                centre[m] = es[m] - np.float32(_ESC_LINE_KEV[j])
                smear_at[m] = centre[m]
        out[sel] = centre + _sigma_f32(np.maximum(smear_at, np.float32(0.0)), revolution) * zs
    return out.reshape(shape)


@lru_cache(maxsize=1)
def _acceptance_table():
    """0.5·erfc(−x/√2) on x = (E − E_thr)/σ ∈ [−8, 5.5], 4096 steps per σ, mid-step values.

    Above 5.5σ the acceptance differs from 1 by < 2e-8, i.e. it *is* 1 in float32.
    """
    x = _ACC_X_MIN + (np.arange(_ACC_N) + 0.5) / _ACC_STEPS_PER_SIGMA
    return (0.5 * erfc(-x / math.sqrt(2.0))).astype(np.float32)


_ACC_STEPS_PER_SIGMA = 4096
_ACC_X_MIN, _ACC_X_MAX = -8.0, 5.5
_ACC_N = int((_ACC_X_MAX - _ACC_X_MIN) * _ACC_STEPS_PER_SIGMA)


def low_threshold_acceptance(measured_energy_keV, revolution):
    """Probability of keeping an event of a given measured energy.

    ``0.5·erfc((E_thr − E)/(√2·σ))`` with :func:`low_threshold_mean` and
    :func:`low_threshold_sigma`, tabulated in steps of σ/4096 (|error| < 1e-4): 0 below
    ``E_thr − 8σ``, exactly 1 above ``E_thr + 5.5σ``. The matrix uses this same function.

    Parameters
    ----------
    measured_energy_keV : array_like
        Measured energies [keV].
    revolution : int or float

    Returns
    -------
    numpy.ndarray
        float32 probabilities, same shape. ~20 ms for 5 million events.
    """
    e = np.asarray(measured_energy_keV)
    m = float(low_threshold_mean(revolution))
    s = float(low_threshold_sigma(revolution))
    scale = _ACC_STEPS_PER_SIGMA / s
    # Index into the table: (E - (m + x_min·σ)) · steps/σ, clipped at both ends; the last
    # entry is replaced by exactly 1 so that everything above the table is accepted.
    x = e.astype(np.float32, copy=True)
    x -= np.float32(m + _ACC_X_MIN * s)
    x *= np.float32(scale)
    np.clip(x, -1.0, _ACC_N, out=x)
    idx = x.astype(np.int32)
    tab = _acceptance_table_padded()
    return tab.take(idx + 1)


@lru_cache(maxsize=1)
def _acceptance_table_padded():
    """[0, table..., 1]: index −1 → 0 (far below), index N → exactly 1 (far above)."""
    return np.concatenate([[np.float32(0.0)], _acceptance_table(), [np.float32(1.0)]])


def _uniform_gauss_cdf(x, a, b, s):
    """CDF at x of Uniform[a, b] convolved with N(0, s²) (broadcasting)."""
    def g(y):
        return y * ndtr(y / s) + s * np.exp(-0.5 * (y / s) ** 2) / math.sqrt(2.0 * math.pi)
    w = np.maximum(b - a, 1e-9)
    return (g(x - a) - g(x - b)) / w


def redistribution_matrix(true_edges_keV, channel_edges_keV, revolution, *, include_threshold=True):
    """Redistribution matrix including the low-threshold acceptance.

    Parameters
    ----------
    true_edges_keV : array_like
        ``n_true + 1`` increasing true-energy bin edges [keV]. Each row is evaluated at the
        bin's arithmetic centre.
    channel_edges_keV : array_like
        ``n_chan + 1`` increasing measured-energy channel edges [keV].
    revolution : int or float
        Revolution (threshold and resolution).
    include_threshold : bool, optional
        Multiply by :func:`low_threshold_acceptance` of the measured energy (default). Use
        ``False`` only to pair the matrix with an external ARF (e.g. OSA's) that handles the
        threshold otherwise; never with :func:`effective_area` in a simulation comparison.

    Returns
    -------
    numpy.ndarray
        ``[n_true, n_chan]`` probabilities that a counted photon of that true energy is
        recorded in each channel; rows sum to ≤ 1 (threshold loss and anything outside the
        channel range are the deficit).
    """
    te = np.asarray(true_edges_keV, dtype=float)
    ce = np.asarray(channel_edges_keV, dtype=float)
    if te.ndim != 1 or ce.ndim != 1 or np.any(np.diff(te) <= 0) or np.any(np.diff(ce) <= 0):
        raise ValueError("edges must be 1-D and strictly increasing")
    e = 0.5 * (te[1:] + te[:-1])

    # Fine measured-energy edges: the channel edges plus a 0.05 keV grid where the
    # threshold acceptance is < 1, so that ∫ density × acceptance is done by the mid-point
    # rule there and exactly (CDF differences) elsewhere.
    if include_threshold:
        m_thr = float(low_threshold_mean(revolution))
        x_acc = m_thr + _THRESH_EDGE_SIGMAS * float(low_threshold_sigma(revolution))
        fine = np.arange(ce[0], min(ce[-1], x_acc), 0.05)
        f_edges = np.unique(np.concatenate([ce, fine]))
        mids = 0.5 * (f_edges[1:] + f_edges[:-1])
        acc = low_threshold_acceptance(mids, revolution).astype(float)
    else:
        f_edges = ce
        acc = np.ones(ce.size - 1)
    starts = np.searchsorted(f_edges, ce[:-1])

    cum = _component_table()[:, _table_index(e)].astype(float)        # (6, n_true)
    probs = np.diff(np.vstack([np.zeros_like(e), cum]), axis=0)       # per component
    p_pp = 1.0 - cum[-1]
    x = f_edges[None, :]

    def gauss_cdf(centre, smear_at):
        s = energy_resolution_fwhm(np.maximum(smear_at, 0.0), revolution) * _FWHM_TO_SIGMA
        return ndtr((x - centre[:, None]) / s[:, None])

    dens = p_pp[:, None] * np.diff(gauss_cdf(e, e), axis=1)
    t90, t180 = _compton_range(e)
    s_c = energy_resolution_fwhm(0.5 * (t90 + t180), revolution) * _FWHM_TO_SIGMA
    dens += probs[0][:, None] * np.diff(
        _uniform_gauss_cdf(x, t90[:, None], t180[:, None], s_c[:, None]), axis=1)
    s_t = energy_resolution_fwhm(e * (1 - 0.5 * _TAIL_MAX_LOSS), revolution) * _FWHM_TO_SIGMA
    dens += probs[1][:, None] * np.diff(
        _uniform_gauss_cdf(x, (e * (1 - _TAIL_MAX_LOSS))[:, None], e[:, None], s_t[:, None]), axis=1)
    for j in range(4):
        pj = probs[2 + j]
        rows = np.flatnonzero(pj > 0)
        if rows.size:
            c = e[rows] - _ESC_LINE_KEV[j]
            dens[rows] += pj[rows, None] * np.diff(gauss_cdf(c, c), axis=1)
    dens *= acc[None, :]
    # CDF differences far in the wings can come out at −1e-17: clip the rounding noise.
    np.maximum(dens, 0.0, out=dens)
    return np.add.reduceat(dens, starts, axis=1)


# ---------------------------------------------------------------------------------------
# Convenience
# ---------------------------------------------------------------------------------------
def power_law_photon_flux(edges_keV, index, norm_1keV):
    """Photon flux [ph/cm²/s] per bin of ``N(E) = K·E^-Γ`` integrated exactly over each bin."""
    ed = np.asarray(edges_keV, dtype=float)
    if abs(index - 1.0) < 1e-12:
        return norm_1keV * np.log(ed[1:] / ed[:-1])
    return norm_1keV * (ed[1:] ** (1.0 - index) - ed[:-1] ** (1.0 - index)) / (1.0 - index)


def default_true_energy_edges():
    """OSA's ISGR-RMF.-RSP true-energy grid: 2466 linear bins of 0.4787 keV from 13 keV."""
    return 13.0 + 0.4787 * np.arange(2467)


class Response:
    """ISGRI response at one revolution on a true-energy grid and a channel grid.

    Parameters
    ----------
    revolution : int or float, optional
        Revolution (threshold and resolution epoch). Default 100.
    true_edges_keV : array_like, optional
        True-energy bin edges; default :func:`default_true_energy_edges` (OSA's grid).
    channel_edges_keV : array_like, optional
        Channel edges; default the OSA 11 256-channel grid.

    Attributes
    ----------
    arf : numpy.ndarray
        Effective area [cm²] at the true-bin centres (no threshold).
    matrix : numpy.ndarray
        ``[n_true, n_chan]`` redistribution including the threshold.
    """

    def __init__(self, revolution=100, true_edges_keV=None, channel_edges_keV=None):
        self.revolution = revolution
        self.true_edges = np.asarray(
            default_true_energy_edges() if true_edges_keV is None else true_edges_keV, dtype=float)
        self.channel_edges = np.asarray(
            osa11_channel_edges() if channel_edges_keV is None else channel_edges_keV, dtype=float)
        self.true_centres = 0.5 * (self.true_edges[1:] + self.true_edges[:-1])
        self.arf = effective_area(self.true_centres, revolution)
        self.matrix = redistribution_matrix(self.true_edges, self.channel_edges, revolution)

    @property
    def n_channels(self):
        """Number of channels."""
        return self.channel_edges.size - 1

    def folded(self, photon_flux_per_bin):
        """Expected source count rate per channel [counts/s].

        Parameters
        ----------
        photon_flux_per_bin : array_like
            Photon flux [ph/cm²/s] in each true-energy bin (e.g. from
            :func:`power_law_photon_flux`).

        Returns
        -------
        numpy.ndarray
            Count rate in each channel.
        """
        f = np.asarray(photon_flux_per_bin, dtype=float)
        return (f * self.arf) @ self.matrix

    def folded_power_law(self, index, norm_1keV):
        """Shortcut: count rates of ``K·E^-Γ``."""
        return self.folded(power_law_photon_flux(self.true_edges, index, norm_1keV))
