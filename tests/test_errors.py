"""Messages shown to users never carry the service's paths."""

from __future__ import annotations

from core.config import get_settings
from core.errors import public_message
from core.products.scw_runner import failure as _failure


def test_configured_directories_and_other_paths_are_hidden():
    s = get_settings()
    exc = OSError(2, "No such file or directory", f"{s.archive_dir}/scw/0045/004500230010.001/swg.fits")
    text = public_message(exc)
    assert str(s.archive_dir) not in text and "<archive>/scw/0045" in text
    assert public_message(ValueError("cannot read /srv/secret/place/file.fits now")) == \
        "cannot read file.fits now"
    assert public_message(ValueError("1/2 of the band")) == "1/2 of the band"
    assert _failure(OSError(f"{s.cache_dir}/ab/cd broken")).startswith("failed: <cache>/ab/cd")
    assert len(public_message(ValueError("x" * 500))) == 200
