"""HTTP client of the INTEGRAL ODA JSON API (``/api/v1``): plain ``urllib`` and astropy.

Examples
--------
>>> from integral_client import Client                                   # doctest: +SKIP
>>> client = Client("http://127.0.0.1:8050")                             # doctest: +SKIP
>>> product = client.get_product(src_name="Crab", T1="2003-03-15", T2="2003-04-15",
...                              product_type="image", max_pointings=4)   # doctest: +SKIP
>>> product.table()["NAME", "DETSIG"]                                    # doctest: +SKIP
>>> product.save("crab")                                                 # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

__all__ = ["Client", "Product", "ClientError", "RequestError", "AuthError", "NotFound", "ServerError",
           "JobFailed", "JobCancelled", "TimeoutError_"]

_RETRY_STATUS = (500, 502, 503, 504)


class ClientError(Exception):
    """Base of the client's errors; ``status`` and the server's JSON ``body`` when there is one."""

    def __init__(self, message: str, status: int | None = None, body: dict | None = None):
        super().__init__(message)
        self.status = status
        self.body = body or {}
        self.field = self.body.get("field")
        self.allowed = self.body.get("allowed")
        self.message = self.body.get("message", message)


class RequestError(ClientError):
    """HTTP 400: a parameter is wrong; ``field`` and ``allowed`` say which and what is allowed."""


class AuthError(ClientError):
    """HTTP 403: a token is needed (private data, large requests) or was refused."""


class NotFound(ClientError):
    """HTTP 404: no such job, product or file."""


class ServerError(ClientError):
    """5xx or no connection after all retries."""


class JobFailed(ClientError):
    """The job ended in failure; ``record`` is the job record (message says why)."""

    def __init__(self, record: dict):
        err = record.get("error") or {}
        super().__init__(f"job {record.get('job_id')} failed: {record.get('message') or 'no reason given'}",
                         body=dict(err, message=record.get("message", "")))
        self.record = record


class JobCancelled(ClientError):
    def __init__(self, record: dict):
        super().__init__(f"job {record.get('job_id')} was cancelled")
        self.record = record


class TimeoutError_(ClientError):
    """``wait`` ran out of time (the job goes on on the server)."""


class Client:
    """Talks to one INTEGRAL ODA server.

    Parameters
    ----------
    url : str
        Base URL of the service (the page's address), e.g. ``http://127.0.0.1:8050``.
    token : str, optional
        JWT for private data or large requests (default: ``$ODA_TOKEN``).
    timeout : float
        Seconds per HTTP request.
    retries : int
        Extra attempts after connection errors and 5xx answers (exponential backoff with jitter).
    backoff : float
        First retry delay in seconds (doubled each time, at most 30 s).
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0, retries: int = 4,
                 backoff: float = 0.5):
        self.url = url.rstrip("/")
        self.token = token if token is not None else (os.environ.get("ODA_TOKEN") or None)
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)

    # -- transport ----------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict | None = None, *, raw: bool = False,
                 params: dict | None = None):
        url = path if path.startswith("http") else f"{self.url}{path}"
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        data = None
        headers = {"Accept": "application/json", "User-Agent": "integral-client/1.0"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        delay = self.backoff
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    payload = resp.read()
                    return payload if raw else json.loads(payload or b"{}")
            except urllib.error.HTTPError as exc:
                payload = exc.read()
                try:
                    err = json.loads(payload)
                except ValueError:
                    err = {"error": payload[:200].decode("utf-8", "replace")}
                msg = err.get("error") or f"HTTP {exc.code}"
                if exc.code in _RETRY_STATUS and attempt < self.retries:
                    pass  # retried below
                elif exc.code == 400:
                    raise RequestError(msg, 400, err) from None
                elif exc.code in (401, 403):
                    raise AuthError(msg, exc.code, err) from None
                elif exc.code == 404:
                    raise NotFound(msg, 404, err) from None
                elif exc.code >= 500:
                    raise ServerError(msg, exc.code, err) from None
                else:
                    raise ClientError(msg, exc.code, err) from None
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
                if attempt >= self.retries:
                    raise ServerError(f"cannot reach {self.url}: {getattr(exc, 'reason', exc)}") from None
            time.sleep(min(30.0, delay) * (0.8 + 0.4 * random.random()))
            delay *= 2
        raise ServerError(f"no answer from {self.url}")  # pragma: no cover

    # -- jobs ---------------------------------------------------------------------------------
    def instruments(self) -> dict:
        """Instruments, their products and every parameter's range."""
        return self._request("GET", "/api/v1/instruments")

    def validate(self, **params) -> dict:
        """Check a query without running it (raises :class:`RequestError` naming the field)."""
        return self._request("POST", "/api/v1/validate", params)

    def submit(self, **params) -> dict:
        """Start a job (or find it done already); returns its record (``job_id``, ``status``...)."""
        return self._request("POST", "/api/v1/jobs", params)

    def status(self, job) -> dict:
        return self._request("GET", f"/api/v1/jobs/{_job_id(job)}")

    def cancel(self, job) -> dict:
        return self._request("DELETE", f"/api/v1/jobs/{_job_id(job)}")

    def wait(self, job, progress: bool = True, poll: float = 1.0, timeout: float | None = None,
             stream=None) -> dict:
        """Poll until the job is done; print a progress bar with per-ScW counts.

        Raises :class:`JobFailed`, :class:`JobCancelled` or :class:`TimeoutError_`.
        """
        stream = stream or sys.stderr
        rec = job if isinstance(job, dict) else self.status(job)
        t0 = time.monotonic()
        last_line = ""
        while True:
            if progress:
                line = _progress_line(rec, time.monotonic() - t0)
                if line != last_line:
                    stream.write("\r" + line.ljust(len(last_line)))
                    stream.flush()
                    last_line = line
            if rec["status"] == "done":
                break
            if rec["status"] == "failed":
                if progress:
                    stream.write("\n")
                raise JobFailed(rec)
            if rec["status"] == "cancelled":
                if progress:
                    stream.write("\n")
                raise JobCancelled(rec)
            if timeout is not None and time.monotonic() - t0 > timeout:
                if progress:
                    stream.write("\n")
                raise TimeoutError_(f"job {rec['job_id']} still {rec['status']} after {timeout:g} s")
            time.sleep(poll)
            rec = self.status(rec["job_id"])
        if progress:
            stream.write("\n")
            stream.flush()
        return rec

    def product(self, product_id: str) -> "Product":
        """A finished product by id."""
        return Product(self, self._request("GET", f"/api/v1/products/{_job_id(product_id)}"))

    def get_product(self, progress: bool = True, timeout: float | None = None, **params) -> "Product":
        """Submit, wait and return the :class:`Product` (parameters as on the page / ODA)."""
        rec = self.submit(**params)
        rec = self.wait(rec, progress=progress, timeout=timeout)
        return self.product(rec["job_id"])

    def download(self, url: str) -> bytes:
        return self._request("GET", url, raw=True)


def _job_id(job) -> str:
    jid = job.get("job_id") if isinstance(job, dict) else job
    return urllib.parse.quote(str(jid), safe="")


def _progress_line(rec: dict, elapsed: float, width: int = 30) -> str:
    n = rec.get("n_total") or len(rec.get("scws") or []) or 0
    done = rec.get("n_done") or 0
    if rec.get("status") == "done":
        done = n
    counts: dict[str, int] = {}
    for s in rec.get("scws") or []:
        st = str(s.get("status", ""))
        key = "failed" if st.startswith("failed") else st
        counts[key] = counts.get(key, 0) + 1
    frac = done / n if n else (1.0 if rec.get("status") == "done" else 0.0)
    bar = "#" * int(round(frac * width))
    parts = [f"{counts.get(k, 0)} {k}" for k in ("calculated", "restored from cache", "failed") if counts.get(k)]
    detail = ", ".join(parts) or rec.get("status", "")
    return f"[{bar:<{width}}] {done}/{n} ScWs ({detail}) {rec.get('status')} {elapsed:4.0f} s"


class Product:
    """A finished product: summary, files as astropy objects, save to a directory.

    Attributes
    ----------
    product_id, product_type, query, summary, scws : as the server describes them
    files : dict
        File name → URL.
    """

    def __init__(self, client: Client, record: dict):
        self._client = client
        self.record = record
        self.product_id = record["product_id"]
        self.product_type = record["product_type"]
        self.query = record.get("query", {})
        self.summary = record.get("summary", {})
        self.scws = record.get("scws", [])
        self.files = record.get("files", {})
        self._cache: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"<Product {self.product_type} {self.product_id}: {', '.join(self.files)}>"

    def read(self, name: str) -> bytes:
        """Bytes of one file of the product."""
        if name not in self.files:
            raise NotFound(f"no file {name!r} in this product (files: {', '.join(self.files)})", 404)
        if name not in self._cache:
            self._cache[name] = self._client.download(self.files[name])
        return self._cache[name]

    def _default_fits(self) -> str:
        order = {"image": ["mosaic.fits"], "spectrum": [".pha"], "lc": ["lc_"], "spectral_fit": [".fits", ".pha"]}
        for pattern in order.get(self.product_type, []):
            for n in self.files:
                if (n == pattern or pattern in n) and n.endswith((".fits", ".pha", ".arf", ".rmf")):
                    return n
        for n in self.files:
            if n.endswith((".fits", ".pha")):
                return n
        raise NotFound("this product has no FITS file")

    def hdulist(self, name: str | None = None):
        """A FITS file of the product as an ``astropy.io.fits.HDUList`` (default: the main one)."""
        from astropy.io import fits

        return fits.open(io.BytesIO(self.read(name or self._default_fits())))

    def table(self, name: str | None = None):
        """The product as an astropy ``Table``.

        Image: the source catalogue (ISGR-SRCL-RES columns). Spectrum: one row per source
        (rates with units). Light curve: the light curve of ``name`` (a source; default the
        first). Spectral fit: the fitted parameters.
        """
        from astropy.table import Table

        if self.product_type == "image":
            return Table.read(io.BytesIO(self.read("catalog.ecsv")).read().decode(), format="ascii.ecsv")
        if self.product_type == "lc":
            src = self._source(name)
            t = Table()
            for col, unit in (("time", "d"), ("rate", "ct/s"), ("error", "ct/s"), ("fracexp", None)):
                if col in src:
                    t[col.upper()] = _column(src[col], unit)
            t.meta.update({k: v for k, v in src.items() if not isinstance(v, (list, dict))})
            return t
        if self.product_type == "spectrum":
            rows = self._sources()
            keys = [k for k in ("name", "ra", "dec", "rate", "rate_err", "exposure") if any(k in r for r in rows)]
            t = Table(rows=[[r.get(k) for k in keys] for r in rows], names=keys)
            for k, unit in (("ra", "deg"), ("dec", "deg"), ("rate", "ct/s"), ("rate_err", "ct/s"), ("exposure", "s")):
                if k in t.colnames:
                    t[k].unit = unit
            return t
        params = self._params()
        if isinstance(params, dict):
            params = [dict(v, name=k) if isinstance(v, dict) else {"name": k, "value": v} for k, v in params.items()]
        keys = []
        for p in params:
            for k, v in p.items():
                if k not in keys and not isinstance(v, (list, dict)):
                    keys.append(k)
        return Table(rows=[[p.get(k) for k in keys] for p in params], names=keys) if params else Table()

    def _params(self):
        return self.summary.get("params") or (self.summary.get("fit") or {}).get("parameters") or []

    def _sources(self) -> list[dict]:
        src = self.summary.get("sources") or []
        if isinstance(src, dict):
            return [dict(v, name=k) for k, v in src.items()]
        return list(src)

    def _source(self, name: str | None) -> dict:
        rows = self._sources()
        if not rows:
            raise NotFound("this product has no sources")
        if name is None:
            return rows[0]
        for r in rows:
            if r.get("name") == name:
                return r
        raise NotFound(f"no source {name!r} (sources: {', '.join(str(r.get('name')) for r in rows)})")

    @property
    def quantities(self) -> dict:
        """Numbers of the summary as astropy Quantities where their unit is known."""
        import astropy.units as u

        if self.product_type == "image":
            return {"e1": self.summary.get("e1") * u.keV, "e2": self.summary.get("e2") * u.keV,
                    "n_sources": self.summary.get("n_sources")}
        if self.product_type == "lc":
            out = {}
            for s in self._sources():
                out[s.get("name")] = {k: _column(s[k], unit) for k, unit in (
                    ("time", "d"), ("rate", "ct/s"), ("error", "ct/s"), ("timedel", "s")) if k in s}
            return out
        if self.product_type == "spectrum":
            out = {}
            for s in self._sources():
                out[s.get("name")] = {k: _column(s[k], unit) for k, unit in (
                    ("e_min", "keV"), ("e_max", "keV"), ("rate", "ct/s"), ("rate_err", "ct/s"),
                    ("exposure", "s")) if k in s}
            return out
        out = {}
        params = self._params()
        if isinstance(params, dict):
            params = [dict(v, name=k) if isinstance(v, dict) else {"name": k, "value": v} for k, v in params.items()]
        for p in params:
            unit = p.get("unit") or ""
            try:
                out[p["name"]] = p["value"] * u.Unit(unit) if unit else p["value"] * u.dimensionless_unscaled
            except (ValueError, TypeError, KeyError):
                out[p.get("name")] = p.get("value")
        return out

    def png(self, source: str | None = None) -> bytes:
        """The publication figure (PNG bytes)."""
        url = f"{self._client.url}/products/{self.product_id}/figure.png"
        if source:
            url += "?" + urllib.parse.urlencode({"source": source})
        return self._client.download(url)

    def save(self, directory: str | os.PathLike, figure: bool = False) -> list[Path]:
        """Write every file (and ``product.json``) into ``directory``; returns the paths."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in self.files:
            safe = Path(name).name
            path = out / safe
            path.write_bytes(self.read(name))
            written.append(path)
        meta = out / "product.json"
        meta.write_text(json.dumps({k: v for k, v in self.record.items() if k != "snippets"}, indent=1))
        written.append(meta)
        if figure:
            path = out / "figure.png"
            path.write_bytes(self.png())
            written.append(path)
        return written


def _column(values, unit):
    import numpy as np

    arr = np.array([np.nan if v is None else v for v in values], dtype=float) if isinstance(values, list) else values
    if unit is None:
        return arr
    import astropy.units as u

    return arr * u.Unit(unit)
