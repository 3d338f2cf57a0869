"""Component ids, in one place (layouts and callbacks both import them: no typo can hide)."""

from __future__ import annotations

#: Product types and their tab labels.
PRODUCT_LABELS = {"image": "Sky image", "spectrum": "Spectrum", "lc": "Light curve", "spectral_fit": "Spectral fit"}

URL = "url"
PAGE = "page-root"
AUTORUN = "autorun"
QUERY = "query-store"            # validated query parameters (small JSON)
SUBMIT = "submit"
CANCEL = "cancel"
FORM_STATUS = "form-status"
RESOLVED = "resolved-coords"
RESOLVE_NOTE = "resolve-note"
JOB_REQUEST = "job-request"      # {params, job_id, nonce}
JOB_RECORD = "job-record"        # the job registry's record (per-ScW rows: small)
JOB_PANEL = "job-panel"
JOB_STATUS = "job-status"
JOB_TABLE = "job-table"
JOB_BAR = "job-bar"
ELAPSED = "job-elapsed"
TICK = "job-tick"
TABS = "product-tabs"
SHARE_BOX = "share-url"
PRESET_REV = "preset-rev"
PRESET_REV_GO = "preset-rev-go"
PRESET_V404 = "preset-v404"
PRESET_LAST = "preset-last"
PRESET_ERR = "preset-err"
E_RANGE = "e-range-note"

# image
IMG_GRAPH = "img-graph"
IMG_ZMIN = "img-zmin"
IMG_ZMAX = "img-zmax"
IMG_LOG = "img-log"
IMG_LABELS = "img-labels"
CAT_TABLE = "cat-table"
CAT_ADD_NAME = "cat-add-name"
CAT_ADD_RA = "cat-add-ra"
CAT_ADD_DEC = "cat-add-dec"
CAT_ADD = "cat-add"
CAT_ADD_TARGET = "cat-add-target"
CAT_UPLOAD = "cat-upload"
CAT_MSG = "cat-msg"
CAT_SELECTED_NOTE = "cat-selected-note"
# spectrum / lc / fit
SPEC_GRAPH = "spec-graph"
SPEC_SOURCE = "spec-source"
SPEC_E2F = "spec-e2f"
SPEC_TABLE = "spec-table"
LC_GRAPH = "lc-graph"
LC_SOURCE = "lc-source"
LC_TIMEFMT = "lc-timefmt"
LC_OPTIONS = "lc-options"
LC_STATS = "lc-stats"
FIT_GRAPH = "fit-graph"
FIT_TABLE = "fit-table"
FIT_STATS = "fit-stats"


def field(name: str) -> str:
    """Id of the query form's input for parameter ``name``."""
    return f"q-{name}"


def field_error(name: str) -> str:
    return f"q-{name}-error"


def ref(product: str) -> str:
    """Store holding ``{"job_id", "product_type"}`` of the product shown for ``product``."""
    return f"ref-{product}"


def meta(product: str) -> str:
    """Container of a product's downloads, share URL, API code, parameters and log."""
    return f"meta-{product}"


def panel(product: str) -> str:
    return f"panel-{product}"


# added for the astronomer's page (issue 16)
FIT_VIEW = "fit-view"            # counts | E²F unfolded (keV or erg)
FIT_SOURCE = "fit-source"        # another catalogue source to fit
FIT_GO = "fit-go"
FIT_NOTE = "fit-note"
FIT_BAND_NOTE = "fit-band-note"  # under the band fields: what a fit will use
T_FORMAT_PREV = "t-format-prev"  # the time format the T1/T2 fields are written in
HISTORY = "product-history"      # session store: [{job_id, product_type, label, t}]
HISTORY_LIST = "history-list"
PARTIAL = "partial-image"        # {job_id, scws: [finished ids]} of the running image job
PARTIAL_NOTE = "partial-note"
FINISHED = "finished-scws"       # {job_id, state, scws, n_total}: changes only when a ScW finishes


def holder(product: str) -> str:
    """Wrapper of a product's graph: shows a placeholder until there is a product."""
    return f"holder-{product}"


def history_item(job_id: str) -> dict:
    """Pattern-matching id of a product-history entry."""
    return {"type": "history-item", "job_id": job_id}


def field_hint(name: str) -> str:
    """Id of the hint under the query form's input for parameter ``name``."""
    return f"q-{name}-hint"
