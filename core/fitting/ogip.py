"""OGIP spectral files: PHA (type I), ARF and RMF readers and writers.

Reading
-------
:func:`read_spectrum` accepts what XSPEC accepts and what INTEGRAL's OSA writes:

* extensions found without knowing the instrument: by the OGIP names ``SPECTRUM``,
  ``SPECRESP``, ``MATRIX`` / ``SPECRESP MATRIX``, ``EBOUNDS``; else by OSA's names after their
  4-character instrument prefix (``XXXX-PHA1-SPE``, ``-EVTS-SPE``, ``-SPE.-PHA``; ``-ARF.-RSP``,
  ``-AXIS-ARF``; ``-RMF.-RSP``; ``-EBDS-MOD``, ``-FBDS-MOD``: ISGRI's ``ISGR-…`` and JEM-X's
  ``JMX1-…``/``JMX2-…`` alike); else by their ``HDUCLAS1/2`` keys; else by their columns;
* ``MATRIX``, ``F_CHAN`` and ``N_CHAN`` as fixed-width or variable-length columns, with any
  number of channel groups per row; ``F_CHAN`` counted from ``TLMIN`` of the column (0 or 1;
  OGIP's default is 1 when ``TLMIN`` is absent unless ``EBOUNDS`` says otherwise);
* ``RATE`` or ``COUNTS`` spectra, ``STAT_ERR`` or ``POISSERR = T``; ``SYS_ERR``, ``QUALITY``
  and ``GROUPING`` as columns, keywords or absent;
* ``RESPFILE`` / ``ANCRFILE`` of the PHA header, relative to the PHA's folder, when no
  response is given explicitly.

Negative ARF values
-------------------
Real OSA 10 ARFs carry negative effective areas at high energy (the NGC 2110 ARF in
``shared/reference-data`` has 604 bins above 872 keV down to −44 cm²), a calibration
artefact. The reader **keeps them as they are** in :attr:`ARF.specresp` (so a file read and
written again is unchanged) and counts them in :attr:`ARF.n_negative`. Forward folding
(:mod:`.fit`) uses ``max(A, 0)``: a negative area would make the predicted rate of some
channels negative, which no statistic can handle.

Writing
-------
:func:`write_pha`, :func:`write_arf` and :func:`write_rmf` write files for XSPEC
(``HDUCLASS/HDUCLAS1-3``, ``CHANTYPE = PI``, ``DETCHANS``, ``TLMIN``), astropy and gammapy.
gammapy's OGIP reader has its own expectations, which the writers meet: the matrix
extension is named ``MATRIX`` with ``F_CHAN`` counted from the first channel (0 by default),
``QUALITY`` and ``BACKSCAL`` are columns, no ``BACKFILE`` card is written for a net spectrum
(gammapy would try to open "NONE"), and the PHA can carry a copy of ``EBOUNDS`` (``ebounds=``). It also reads only ``COUNTS`` spectra, so its ``SpectrumDatasetOnOff.read``
can take a Poisson spectrum written with ``poisson=True`` but not a background-subtracted
``RATE`` spectrum such as an ISGRI one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

__all__ = [
    "extension_kind",
    "ARF",
    "RMF",
    "Grouped",
    "SpectrumData",
    "read_arf",
    "read_rmf",
    "read_spectrum",
    "write_arf",
    "write_pha",
    "write_rmf",
]

# Extensions are found without knowing the instrument: first the OGIP names, then OSA's
# names by their part after the instrument prefix (``ISGR-PHA1-SPE``, ``JMX2-AXIS-ARF``,
# ``SPI.-…``: any 4-character prefix), then the OGIP HDUCLAS1/2 keys, then the columns.
_SPECTRUM_NAMES = ("SPECTRUM",)
_ARF_NAMES = ("SPECRESP",)
_MATRIX_NAMES = ("MATRIX", "SPECRESP MATRIX")
_EBOUNDS_NAMES = ("EBOUNDS",)
_SPECTRUM_OSA = ("PHA1-SPE", "EVTS-SPE", "SPE.-PHA")
_ARF_OSA = ("ARF.-RSP", "AXIS-ARF")
_MATRIX_OSA = ("RMF.-RSP",)
_EBOUNDS_OSA = ("EBDS-MOD", "FBDS-MOD")

_DEFAULT_KEYS = {"TELESCOP": "INTEGRAL", "INSTRUME": "IBIS", "DETNAM": "ISGRI", "FILTER": "NONE"}


# ---------------------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------------------
@dataclass
class ARF:
    """Ancillary response: effective area on a true-energy grid.

    Attributes
    ----------
    energ_lo, energ_hi : numpy.ndarray
        True-energy bin edges [keV].
    specresp : numpy.ndarray
        Effective area [cm²], **as in the file** (negative values kept; see module notes).
    header : astropy.io.fits.Header
    path : pathlib.Path or None
    """

    energ_lo: np.ndarray
    energ_hi: np.ndarray
    specresp: np.ndarray
    header: fits.Header = field(default_factory=fits.Header)
    path: Path | None = None

    @property
    def n_negative(self) -> int:
        """Number of bins with a negative effective area."""
        return int(np.count_nonzero(self.specresp < 0))


@dataclass
class RMF:
    """Redistribution matrix, expanded to a dense ``[n_true, n_channels]`` array.

    Attributes
    ----------
    energ_lo, energ_hi : numpy.ndarray
        True-energy bin edges [keV].
    matrix : numpy.ndarray
        ``matrix[i, j]`` = probability that a photon of true bin ``i`` is recorded in channel
        ``channel[j]`` (times the area when the file is a full ``RSP`` matrix).
    channel : numpy.ndarray
        Channel numbers of the matrix columns (from ``EBOUNDS``).
    e_min, e_max : numpy.ndarray
        Nominal channel bounds [keV] (``EBOUNDS``).
    header : astropy.io.fits.Header
        Header of the matrix extension.
    path : pathlib.Path or None
    """

    energ_lo: np.ndarray
    energ_hi: np.ndarray
    matrix: np.ndarray
    channel: np.ndarray
    e_min: np.ndarray
    e_max: np.ndarray
    header: fits.Header = field(default_factory=fits.Header)
    path: Path | None = None

    @property
    def includes_area(self) -> bool:
        """True for a full response (``HDUCLAS3 = FULL``: area × redistribution in one matrix)."""
        return str(self.header.get("HDUCLAS3", "")).strip().upper() == "FULL"


@dataclass
class Grouped:
    """A spectrum after quality screening and grouping (what a fit sees).

    Attributes
    ----------
    rate, stat_err : numpy.ndarray
        Per group [counts/s]: sum of the channel rates, errors added in quadrature.
    sys_frac : numpy.ndarray
        Fractional systematic error per group (rate-weighted quadrature sum of the channels').
    counts : numpy.ndarray or None
        Summed counts (Poisson spectra only).
    e_min, e_max : numpy.ndarray
        Group bounds [keV] (``nan`` without a response).
    members : list of numpy.ndarray
        Indices (into the spectrum's rows) of the good channels of each group.
    """

    rate: np.ndarray
    stat_err: np.ndarray
    sys_frac: np.ndarray
    counts: np.ndarray | None
    e_min: np.ndarray
    e_max: np.ndarray
    members: list

    def __len__(self) -> int:
        return self.rate.size


@dataclass
class SpectrumData:
    """One PHA spectrum with its response, as read by :func:`read_spectrum`.

    Attributes
    ----------
    channel : numpy.ndarray
        Channel numbers.
    rate, stat_err : numpy.ndarray
        Rate and its statistical error [counts/s] (from ``COUNTS``/``EXPOSURE`` for count
        spectra; ``√max(N, 1)`` when ``POISSERR = T`` and no ``STAT_ERR``).
    sys_err : numpy.ndarray
        Fractional systematic error per channel (0 when absent).
    quality : numpy.ndarray
        OGIP quality flag (0 good; anything else is ignored in fits).
    grouping : numpy.ndarray
        OGIP grouping (1 starts a group, −1 continues it, 0 = no grouping → each channel).
    exposure : float
        Exposure [s].
    counts : numpy.ndarray or None
        Counts per channel when the file holds ``COUNTS``, or rate × exposure for
        ``POISSERR = T`` rate spectra; None otherwise.
    poisson : bool
        True when the errors are Poisson (``COUNTS`` without ``STAT_ERR``, or ``POISSERR = T``):
        only then is the Cash statistic meaningful.
    backscal, areascal : float or numpy.ndarray
    header : astropy.io.fits.Header
        Header of the spectrum extension.
    arf : ARF or None
    rmf : RMF or None
    path : pathlib.Path or None
    """

    channel: np.ndarray
    rate: np.ndarray
    stat_err: np.ndarray
    sys_err: np.ndarray
    quality: np.ndarray
    grouping: np.ndarray
    exposure: float
    counts: np.ndarray | None = None
    poisson: bool = False
    backscal: float | np.ndarray = 1.0
    areascal: float | np.ndarray = 1.0
    header: fits.Header = field(default_factory=fits.Header)
    arf: ARF | None = None
    rmf: RMF | None = None
    path: Path | None = None

    @property
    def n_channels(self) -> int:
        return int(self.channel.size)

    def response_columns(self) -> np.ndarray:
        """Index of each PHA channel among the RMF's matrix columns.

        Channels are matched by number. A PHA numbered differently from its RMF (0- vs
        1-based) but with as many channels is matched by position, as XSPEC does.

        Raises
        ------
        ValueError
            If there is no RMF or the channels cannot be matched.
        """
        if self.rmf is None:
            raise ValueError("no RMF: give rmf= or a RESPFILE in the PHA header")
        lookup = {int(c): k for k, c in enumerate(self.rmf.channel)}
        idx = [lookup.get(int(c), -1) for c in self.channel]
        if min(idx, default=0) >= 0:
            return np.asarray(idx, dtype=int)
        if self.rmf.channel.size == self.channel.size:
            return np.arange(self.channel.size)
        raise ValueError(f"PHA channels {int(self.channel.min())}..{int(self.channel.max())} do not match the "
                         f"RMF's {int(self.rmf.channel.min())}..{int(self.rmf.channel.max())}")

    @property
    def e_min(self) -> np.ndarray:
        """Lower channel bounds [keV] from the RMF's EBOUNDS (nan without an RMF)."""
        if self.rmf is None:
            return np.full(self.n_channels, np.nan)
        return self.rmf.e_min[self.response_columns()]

    @property
    def e_max(self) -> np.ndarray:
        """Upper channel bounds [keV] from the RMF's EBOUNDS (nan without an RMF)."""
        if self.rmf is None:
            return np.full(self.n_channels, np.nan)
        return self.rmf.e_max[self.response_columns()]

    def group_members(self) -> list:
        """Row indices of each group of good channels (quality 0), in channel order.

        A channel with ``GROUPING = 1`` starts a group, ``-1`` continues the current one, ``0``
        (or no grouping at all) makes its own group. Bad channels are dropped from their
        group; a group with no good channel is dropped.
        """
        good = self.quality == 0
        groups: list[list[int]] = []
        for k, g in enumerate(self.grouping):
            if g == -1 and groups:
                groups[-1].append(k)
            else:
                groups.append([k])
        out = []
        for grp in groups:
            keep = np.asarray([k for k in grp if good[k]], dtype=int)
            if keep.size:
                out.append(keep)
        return out

    def grouped(self) -> Grouped:
        """The spectrum after quality screening and grouping (see :class:`Grouped`)."""
        members = self.group_members()
        rate = np.array([self.rate[m].sum() for m in members])
        err = np.array([np.sqrt(np.sum(self.stat_err[m] ** 2)) for m in members])
        with np.errstate(invalid="ignore", divide="ignore"):
            sys = np.array([np.sqrt(np.sum((self.sys_err[m] * self.rate[m]) ** 2)) / abs(self.rate[m].sum())
                            if np.any(self.sys_err[m]) else 0.0 for m in members])
        sys = np.nan_to_num(sys, nan=0.0, posinf=0.0)
        counts = None if self.counts is None else np.array([self.counts[m].sum() for m in members])
        lo, hi = self.e_min, self.e_max
        return Grouped(rate=rate, stat_err=err, sys_frac=sys, counts=counts,
                       e_min=np.array([lo[m].min() for m in members]),
                       e_max=np.array([hi[m].max() for m in members]), members=members)


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------
def _osa_suffix(extname: str) -> str:
    """``PHA1-SPE`` of ``ISGR-PHA1-SPE`` / ``JMX1-PHA1-SPE`` (OSA: 4-character instrument prefix)."""
    return extname[5:] if len(extname) > 5 and extname[4] == "-" else ""


def extension_kind(extname: str) -> str | None:
    """``"spectrum"``, ``"arf"``, ``"matrix"`` or ``"ebounds"`` for an OGIP extension name or an
    OSA one of any instrument (``ISGR-RMF.-RSP``, ``JMX2-FBDS-MOD``…); None for any other."""
    name = str(extname or "").strip().upper()
    suffix = _osa_suffix(name)
    for kind, names, osa in (("spectrum", _SPECTRUM_NAMES, _SPECTRUM_OSA), ("arf", _ARF_NAMES, _ARF_OSA),
                             ("matrix", _MATRIX_NAMES, _MATRIX_OSA), ("ebounds", _EBOUNDS_NAMES, _EBOUNDS_OSA)):
        if name in names or suffix in osa:
            return kind
    return None


def _find_hdu(hdul, names, osa, hduclas, columns, what, path):
    """The first table HDU named one of ``names``, else an OSA ``XXXX-<osa suffix>``, else one
    with ``HDUCLAS1/2`` in ``hduclas``, else one with ``columns``."""
    tables = [h for h in hdul[1:] if isinstance(h, fits.BinTableHDU)]
    for name in names:
        for h in tables:
            if h.name.strip().upper() == name:
                return h
    for suffix in osa:
        for h in tables:
            if _osa_suffix(h.name.strip().upper()) == suffix:
                return h
    for h in tables:
        classes = {str(h.header.get(k, "")).strip().upper() for k in ("HDUCLAS1", "HDUCLAS2")}
        if hduclas & classes:
            return h
    for h in tables:
        cols = {c.upper() for c in h.columns.names}
        if all(any(c in cols for c in alt.split("|")) for alt in columns):
            return h
    raise ValueError(f"{Path(path).name}: no {what} extension (looked for {', '.join(names + tuple('XXXX-' + x for x in osa))}, "
                     f"HDUCLAS {'/'.join(sorted(hduclas))} or columns {', '.join(columns)})")


def _open(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    return fits.open(path, memmap=False)


def read_arf(path) -> ARF:
    """Read an ARF (``SPECRESP`` or ``ISGR-ARF.-RSP``).

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    ARF
        Negative areas are kept as they are (see module notes).
    """
    with _open(path) as hdul:
        h = _find_hdu(hdul, _ARF_NAMES, _ARF_OSA, {"SPECRESP"}, ("ENERG_LO", "ENERG_HI", "SPECRESP"), "ARF (SPECRESP)", path)
        d = h.data
        return ARF(np.asarray(d["ENERG_LO"], float), np.asarray(d["ENERG_HI"], float),
                   np.asarray(d["SPECRESP"], float), h.header.copy(), Path(path))


def _row_values(v):
    """One cell of a fixed or variable-length column as a 1-D array."""
    return np.atleast_1d(np.asarray(v))


def read_rmf(path) -> RMF:
    """Read an RMF or RSP into a dense matrix.

    Parameters
    ----------
    path : str or pathlib.Path
        File with a matrix extension (``MATRIX``, ``SPECRESP MATRIX``, ``ISGR-RMF.-RSP``…) and
        an ``EBOUNDS`` / ``ISGR-EBDS-MOD`` extension.

    Returns
    -------
    RMF

    Notes
    -----
    ``F_CHAN`` is converted to a column index by subtracting the first legal channel: the
    column's ``TLMIN``, else the first ``CHANNEL`` of ``EBOUNDS``, else 1 (OGIP default).
    """
    with _open(path) as hdul:
        mh = _find_hdu(hdul, _MATRIX_NAMES, _MATRIX_OSA, {"RSP_MATRIX"}, ("ENERG_LO", "MATRIX", "F_CHAN"), "matrix", path)
        eh = _find_hdu(hdul, _EBOUNDS_NAMES, _EBOUNDS_OSA, {"EBOUNDS"}, ("E_MIN", "E_MAX"), "EBOUNDS", path)
        ed = eh.data
        e_min = np.asarray(ed["E_MIN"], float)
        e_max = np.asarray(ed["E_MAX"], float)
        n_chan = e_min.size
        if "CHANNEL" in [c.upper() for c in eh.columns.names]:
            channel = np.asarray(ed["CHANNEL"], int)
        else:
            channel = np.arange(n_chan) + int(eh.header.get("TLMIN1", 1))
        detchans = int(mh.header.get("DETCHANS", n_chan))
        if detchans != n_chan:
            raise ValueError(f"{Path(path).name}: DETCHANS = {detchans} but EBOUNDS has {n_chan} channels")
        names = [c.upper() for c in mh.columns.names]
        fcol = names.index("F_CHAN") + 1
        tlmin = mh.header.get(f"TLMIN{fcol}")
        first = int(tlmin) if tlmin is not None else (int(channel[0]) if channel.size else 1)
        md = mh.data
        lo = np.asarray(md["ENERG_LO"], float)
        hi = np.asarray(md["ENERG_HI"], float)
        matrix = np.zeros((lo.size, n_chan))
        ngrp = np.asarray(md["N_GRP"], int) if "N_GRP" in names else None
        fch, nch, mat = md["F_CHAN"], md["N_CHAN"], md["MATRIX"]
        for i in range(lo.size):
            f = _row_values(fch[i]).astype(int)
            n = _row_values(nch[i]).astype(int)
            m = _row_values(mat[i]).astype(float)
            g = int(ngrp[i]) if ngrp is not None else f.size
            pos = 0
            for k in range(min(g, f.size)):
                c0, nk = f[k] - first, n[k]
                if nk <= 0:
                    continue
                if c0 < 0 or c0 + nk > n_chan or pos + nk > m.size:
                    raise ValueError(f"{Path(path).name}: row {i} group {k} (F_CHAN {f[k]}, N_CHAN {nk}) "
                                     f"is outside the {n_chan} channels / its MATRIX")
                matrix[i, c0:c0 + nk] = m[pos:pos + nk]
                pos += nk
        return RMF(lo, hi, matrix, channel, e_min, e_max, mh.header.copy(), Path(path))


def _column_or_key(h, name, n, default, row):
    """A per-channel array from a column, else a keyword broadcast, else ``default``."""
    names = [c.upper() for c in h.columns.names]
    if name in names:
        v = np.asarray(h.data[name])
        return np.asarray(v[row] if v.ndim == 2 else v, dtype=float)
    return np.full(n, float(h.header.get(name, default)))


def _resolve_companion(pha_path: Path, value):
    """Path of a RESPFILE/ANCRFILE entry, relative to the PHA's folder; None for NONE/empty."""
    if value is None:
        return None
    s = str(value).strip()
    if not s or s.upper() in ("NONE", "NULL"):
        return None
    s = s.split("[")[0]  # drop an extension specifier such as file.rmf[1]
    p = Path(s)
    if not p.is_absolute():
        p = pha_path.parent / p
    return p


def read_spectrum(pha, arf=None, rmf=None, *, row: int = 0) -> SpectrumData:
    """Read a PHA spectrum and its response.

    Parameters
    ----------
    pha : str or pathlib.Path
        PHA file (type I; for a type II file, ``row`` selects the spectrum).
    arf, rmf : str, pathlib.Path, ARF or RMF, optional
        Responses. When None they are taken from the ``ANCRFILE`` / ``RESPFILE`` keywords,
        relative to the PHA's folder; an RSP (``HDUCLAS3 = FULL``) needs no ARF.
    row : int, optional
        Spectrum row of a type II file. Default 0.

    Returns
    -------
    SpectrumData

    Raises
    ------
    FileNotFoundError
        A file, or a RESPFILE/ANCRFILE named in the header, is missing.
    ValueError
        The file is not a PHA spectrum, or the ARF and RMF grids disagree.
    """
    pha = Path(pha)
    with _open(pha) as hdul:
        h = _find_hdu(hdul, _SPECTRUM_NAMES, _SPECTRUM_OSA, {"SPECTRUM"}, ("RATE|COUNTS",), "spectrum (SPECTRUM)", pha)
        hdr = h.header.copy()
        names = [c.upper() for c in h.columns.names]
        d = h.data
        if "RATE" in names:
            kind = "RATE"
        elif "COUNTS" in names:
            kind = "COUNTS"
        else:
            raise ValueError(f"{pha.name}: spectrum has neither a RATE nor a COUNTS column")
        values = np.asarray(d[kind])
        type2 = values.ndim == 2
        if type2 and not 0 <= row < values.shape[0]:
            raise ValueError(f"{pha.name}: row {row} out of range (type II file with {values.shape[0]} spectra)")
        values = np.asarray(values[row] if type2 else values, dtype=float)
        n = values.size
        if "CHANNEL" in names:
            ch = np.asarray(d["CHANNEL"])
            channel = np.asarray(ch[row] if ch.ndim == 2 else ch, dtype=int)
        else:
            channel = np.arange(n) + int(hdr.get("TLMIN1", 1 if kind == "COUNTS" else 0))
        if type2 and "EXPOSURE" in names:
            exposure = float(np.asarray(d["EXPOSURE"])[row])
        else:
            exposure = float(hdr.get("EXPOSURE", 0.0) or 0.0)
        poisserr = bool(hdr.get("POISSERR", False))
        has_err = "STAT_ERR" in names
        err = _column_or_key(h, "STAT_ERR", n, 0.0, row) if has_err else None
        if kind == "COUNTS":
            if exposure <= 0:
                raise ValueError(f"{pha.name}: a COUNTS spectrum needs EXPOSURE > 0")
            counts = values
            rate = counts / exposure
            poisson = poisserr or not has_err
            stat_err = err / exposure if has_err else np.sqrt(np.maximum(counts, 1.0)) / exposure
        else:
            rate = values
            poisson = poisserr and not has_err
            counts = rate * exposure if poisson else None
            if has_err:
                stat_err = err
            elif poisserr and exposure > 0:
                stat_err = np.sqrt(np.maximum(counts, 1.0)) / exposure
            else:
                raise ValueError(f"{pha.name}: RATE spectrum without STAT_ERR and POISSERR is not T")
        sys_err = _column_or_key(h, "SYS_ERR", n, 0.0, row)
        quality = _column_or_key(h, "QUALITY", n, 0, row).astype(int)
        grouping = _column_or_key(h, "GROUPING", n, 0, row).astype(int)
        backscal = _column_or_key(h, "BACKSCAL", n, 1.0, row)
        areascal = _column_or_key(h, "AREASCAL", n, 1.0, row)
    backscal = float(backscal[0]) if np.all(backscal == backscal[0]) else backscal
    areascal = float(areascal[0]) if np.all(areascal == areascal[0]) else areascal

    if rmf is None:
        p = _resolve_companion(pha, hdr.get("RESPFILE"))
        rmf = read_rmf(p) if p is not None else None
    elif not isinstance(rmf, RMF):
        rmf = read_rmf(rmf)
    if arf is None:
        p = _resolve_companion(pha, hdr.get("ANCRFILE"))
        arf = read_arf(p) if p is not None else None
    elif not isinstance(arf, ARF):
        arf = read_arf(arf)
    if arf is not None and rmf is not None and (
            arf.energ_lo.size != rmf.energ_lo.size or not np.allclose(arf.energ_lo, rmf.energ_lo, rtol=1e-4)):
        raise ValueError(f"ARF ({arf.energ_lo.size} bins) and RMF ({rmf.energ_lo.size} bins) true-energy grids differ")
    spec = SpectrumData(channel=channel, rate=rate, stat_err=np.asarray(stat_err, float), sys_err=sys_err,
                        quality=quality, grouping=grouping, exposure=exposure, counts=counts, poisson=poisson,
                        backscal=backscal, areascal=areascal, header=hdr, arf=arf, rmf=rmf, path=pha)
    if rmf is not None:
        spec.response_columns()  # fail now, with the file names, rather than in the fit
    return spec


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------
def _apply_header(hdr: fits.Header, extra) -> None:
    """Copy ``extra`` cards (dict or Header) into ``hdr``; long strings become CONTINUE cards."""
    if not extra:
        return
    items = extra.items() if not isinstance(extra, fits.Header) else ((c.keyword, c.value) for c in extra.cards)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)  # HIERARCH for keys > 8 chars
        for k, v in items:
            if k in ("COMMENT", "HISTORY"):
                hdr.add_comment(str(v)) if k == "COMMENT" else hdr.add_history(str(v))
            elif isinstance(v, (bool, int, float, str, np.integer, np.floating, np.bool_)) or v is None:
                hdr[k] = v.item() if isinstance(v, np.generic) else v
            else:
                hdr[k] = str(v)


def _base_keys(hdr, extra):
    for k, v in _DEFAULT_KEYS.items():
        if not extra or k not in extra:
            hdr[k] = v


def _ebounds_hdu(e_min, e_max, first_channel, extra=None) -> fits.BinTableHDU:
    n = len(e_min)
    hdu = fits.BinTableHDU.from_columns([
        fits.Column("CHANNEL", "J", array=np.arange(n) + first_channel),
        fits.Column("E_MIN", "E", unit="keV", array=np.asarray(e_min, float)),
        fits.Column("E_MAX", "E", unit="keV", array=np.asarray(e_max, float)),
    ], name="EBOUNDS")
    h = hdu.header
    h["TLMIN1"], h["TLMAX1"] = first_channel, first_channel + n - 1
    h["HDUCLASS"], h["HDUCLAS1"], h["HDUCLAS2"] = "OGIP", "RESPONSE", "EBOUNDS"
    h["HDUVERS"] = "1.2.0"
    h["CHANTYPE"], h["DETCHANS"] = "PI", n
    _base_keys(h, extra)
    _apply_header(h, extra)
    return hdu


def write_pha(path, channel, rate, stat_err, exposure, *, sys_err=None, quality=None, grouping=None,
              respfile=None, ancrfile=None, header=None, ebounds=None, poisson=False,
              backscal=1.0, areascal=1.0, backfile=None, overwrite=True) -> Path:
    """Write an OGIP PHA type I spectrum.

    Parameters
    ----------
    path : str or pathlib.Path
    channel : array_like of int
        Channel numbers (``TLMIN``/``TLMAX`` and ``DETCHANS`` follow from them).
    rate : array_like
        Net source rate [counts/s].
    stat_err : array_like or None
        1σ statistical error of ``rate`` [counts/s] (ignored when ``poisson``).
    exposure : float
        Exposure [s].
    sys_err : array_like or float, optional
        Fractional systematic error per channel (``SYS_ERR`` column; default 0).
    quality : array_like, optional
        0 good, 5 bad… (``QUALITY`` column; default all 0).
    grouping : array_like, optional
        1 / −1 / 0 (``GROUPING`` column; default: no grouping, keyword 0).
    respfile, ancrfile : str, optional
        Names written to ``RESPFILE`` / ``ANCRFILE`` (relative to the PHA's folder).
    header : dict or astropy.io.fits.Header, optional
        Extra cards for the ``SPECTRUM`` header (e.g. the query; long strings are fine).
        They override the defaults (``TELESCOP = INTEGRAL`` …).
    ebounds : (array_like, array_like), optional
        ``(e_min, e_max)`` [keV]: also write an ``EBOUNDS`` extension into the PHA, which
        gammapy's OGIP reader takes its energy axis from.
    poisson : bool, optional
        Write a ``COUNTS`` column (``round(rate × exposure)``), ``POISSERR = T`` and no
        ``STAT_ERR``: for Poisson (not background-subtracted) spectra. Default False: ``RATE``.
    backscal, areascal : float, optional
        ``BACKSCAL`` (written as a column, as gammapy requires) and ``AREASCAL`` (keyword).
    backfile : str, optional
        Background spectrum (``BACKFILE``); by default no card (net spectra).
    overwrite : bool, optional

    Returns
    -------
    pathlib.Path
    """
    channel = np.asarray(channel, dtype=np.int32)
    n = channel.size
    rate = np.asarray(rate, float)
    if rate.shape != (n,):
        raise ValueError(f"rate has shape {rate.shape}, expected ({n},)")
    if exposure is None or not exposure > 0:
        raise ValueError("exposure must be > 0 s")
    cols = [fits.Column("CHANNEL", "J", array=channel)]
    if poisson:
        cols.append(fits.Column("COUNTS", "J", unit="count", array=np.round(rate * exposure).astype(np.int32)))
    else:
        if stat_err is None:
            raise ValueError("stat_err is required for a RATE spectrum (or poisson=True)")
        cols += [fits.Column("RATE", "E", unit="count/s", array=rate),
                 fits.Column("STAT_ERR", "E", unit="count/s", array=np.broadcast_to(np.asarray(stat_err, float), n))]
    cols.append(fits.Column("SYS_ERR", "E", array=np.broadcast_to(
        np.asarray(0.0 if sys_err is None else sys_err, float), n)))
    cols.append(fits.Column("QUALITY", "I", array=np.broadcast_to(
        np.asarray(0 if quality is None else quality, np.int16), n)))
    if grouping is not None:
        cols.append(fits.Column("GROUPING", "I", array=np.broadcast_to(np.asarray(grouping, np.int16), n)))
    cols.append(fits.Column("BACKSCAL", "E", array=np.broadcast_to(np.asarray(backscal, float), n)))
    hdu = fits.BinTableHDU.from_columns(cols, name="SPECTRUM")
    h = hdu.header
    first = int(channel.min()) if n else 0
    h["TLMIN1"], h["TLMAX1"] = first, int(channel.max()) if n else 0
    h["HDUCLASS"], h["HDUCLAS1"], h["HDUCLAS2"] = "OGIP", "SPECTRUM", "NET" if not poisson else "TOTAL"
    h["HDUCLAS3"] = "COUNT" if poisson else "RATE"
    h["HDUCLAS4"] = "TYPE:I"
    h["HDUVERS"] = "1.2.1"
    _base_keys(h, header)
    h["EXPOSURE"] = (float(exposure), "exposure [s]")
    h["AREASCAL"] = float(areascal)
    # No BACKFILE card unless there is one: gammapy tries to open whatever it names ("NONE"
    # included), and XSPEC and sherpa treat a missing card as no background.
    if backfile:
        h["BACKFILE"] = backfile
    h["RESPFILE"] = respfile or "NONE"
    h["ANCRFILE"] = ancrfile or "NONE"
    h["CHANTYPE"], h["DETCHANS"] = "PI", n
    h["POISSERR"] = bool(poisson)
    if grouping is None:
        h["GROUPING"] = 0
    h["OBS_ID"] = 0  # gammapy names datasets after it
    _apply_header(h, header)
    hdus = [fits.PrimaryHDU(), hdu]
    if ebounds is not None:
        hdus.append(_ebounds_hdu(ebounds[0], ebounds[1], first, header))
    path = Path(path)
    fits.HDUList(hdus).writeto(path, overwrite=overwrite)
    return path


def write_arf(path, energ_lo, energ_hi, specresp, header=None, *, overwrite=True) -> Path:
    """Write an OGIP ARF (``SPECRESP`` extension, area in cm²).

    Parameters
    ----------
    path : str or pathlib.Path
    energ_lo, energ_hi : array_like
        True-energy bin edges [keV].
    specresp : array_like
        Effective area [cm²] (written as given, negative values included).
    header : dict or astropy.io.fits.Header, optional
        Extra cards.
    overwrite : bool, optional

    Returns
    -------
    pathlib.Path
    """
    lo, hi, a = (np.asarray(x, float) for x in (energ_lo, energ_hi, specresp))
    if not lo.shape == hi.shape == a.shape:
        raise ValueError("energ_lo, energ_hi and specresp must have the same length")
    hdu = fits.BinTableHDU.from_columns([
        fits.Column("ENERG_LO", "E", unit="keV", array=lo),
        fits.Column("ENERG_HI", "E", unit="keV", array=hi),
        fits.Column("SPECRESP", "E", unit="cm**2", array=a),
    ], name="SPECRESP")
    h = hdu.header
    h["HDUCLASS"], h["HDUCLAS1"], h["HDUCLAS2"] = "OGIP", "RESPONSE", "SPECRESP"
    h["HDUVERS"] = "1.1.0"
    _base_keys(h, header)
    _apply_header(h, header)
    path = Path(path)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=overwrite)
    return path


def write_rmf(path, energ_lo, energ_hi, matrix, e_min, e_max, header=None, *, first_channel=0,
              threshold=0.0, overwrite=True) -> Path:
    """Write an OGIP RMF: compressed ``MATRIX`` extension plus ``EBOUNDS``.

    Each row stores only its runs of channels above ``threshold`` (``N_GRP`` groups, with
    variable-length ``F_CHAN``, ``N_CHAN``, ``MATRIX`` columns), as OGIP CAL/GEN/92-002
    describes.

    Parameters
    ----------
    path : str or pathlib.Path
    energ_lo, energ_hi : array_like
        True-energy bin edges [keV], ``n_true`` each.
    matrix : array_like
        ``[n_true, n_channels]`` redistribution probabilities.
    e_min, e_max : array_like
        Channel bounds [keV].
    header : dict or astropy.io.fits.Header, optional
        Extra cards (both extensions).
    first_channel : int, optional
        Number of the first channel (``TLMIN`` of ``F_CHAN``). Default 0, as in OSA's ISGRI
        files and as gammapy's reader assumes.
    threshold : float, optional
        Elements with ``|value| ≤ threshold`` are dropped (``LO_THRES``). Default 0: only exact
        zeros, so small negative elements of real OSA matrices survive a round trip.
    overwrite : bool, optional

    Returns
    -------
    pathlib.Path
    """
    lo, hi = np.asarray(energ_lo, float), np.asarray(energ_hi, float)
    m = np.asarray(matrix, float)
    n_true, n_chan = m.shape
    if lo.size != n_true or hi.size != n_true:
        raise ValueError(f"matrix has {n_true} rows but {lo.size} true-energy bins")
    if len(e_min) != n_chan or len(e_max) != n_chan:
        raise ValueError(f"matrix has {n_chan} channels but EBOUNDS has {len(e_min)}")
    ngrp = np.zeros(n_true, np.int16)
    fch, nch, vals = [], [], []
    keep = np.abs(m) > threshold  # negative elements (real OSA matrices have some) are kept
    for i in range(n_true):
        k = np.flatnonzero(keep[i])
        if k.size == 0:
            fch.append(np.zeros(0, np.int32)); nch.append(np.zeros(0, np.int32)); vals.append(np.zeros(0, np.float32))
            continue
        breaks = np.flatnonzero(np.diff(k) > 1)
        starts = np.concatenate([[k[0]], k[breaks + 1]])
        ends = np.concatenate([k[breaks], [k[-1]]]) + 1
        ngrp[i] = starts.size
        fch.append((starts + first_channel).astype(np.int32))
        nch.append((ends - starts).astype(np.int32))
        vals.append(np.concatenate([m[i, a:b] for a, b in zip(starts, ends)]).astype(np.float32))
    obj = lambda xs: np.array(xs + [None], dtype=object)[:-1]
    hdu = fits.BinTableHDU.from_columns([
        fits.Column("ENERG_LO", "E", unit="keV", array=lo),
        fits.Column("ENERG_HI", "E", unit="keV", array=hi),
        fits.Column("N_GRP", "I", array=ngrp),
        fits.Column("F_CHAN", "PJ()", array=obj(fch)),
        fits.Column("N_CHAN", "PJ()", array=obj(nch)),
        fits.Column("MATRIX", "PE()", array=obj(vals)),
    ], name="MATRIX")
    h = hdu.header
    fcol = 4
    h[f"TLMIN{fcol}"], h[f"TLMAX{fcol}"] = first_channel, first_channel + n_chan - 1
    h["HDUCLASS"], h["HDUCLAS1"], h["HDUCLAS2"] = "OGIP", "RESPONSE", "RSP_MATRIX"
    h["HDUCLAS3"] = "REDIST"
    h["HDUVERS"] = "1.3.0"
    h["CHANTYPE"], h["DETCHANS"] = "PI", n_chan
    h["LO_THRES"] = float(threshold)
    h["NUMGRP"], h["NUMELT"] = int(ngrp.sum()), int(sum(v.size for v in vals))
    _base_keys(h, header)
    _apply_header(h, header)
    path = Path(path)
    fits.HDUList([fits.PrimaryHDU(), hdu, _ebounds_hdu(e_min, e_max, first_channel, header)]).writeto(
        path, overwrite=overwrite)
    return path
