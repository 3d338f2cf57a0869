"""The content-addressed product store: round trip, atomicity, corruption, privacy, bound."""

import os

import numpy as np
import pytest

from core.products.store import ProductStore, content_key


def test_round_trip_and_no_pickle(tmp_path):
    st = ProductStore(tmp_path / "store")
    key = content_key("scw-image", "005600620010.001", 20.0, 40.0)
    assert len(key) == 32 and not st.has(key)
    a = {"intensity": np.arange(12, dtype=np.float32).reshape(3, 4), "mask": np.array([True, False])}
    st.put(key, arrays=a, meta={"scw_id": "005600620010.001"}, files={"x.txt": b"hello"})
    arrays, meta = st.get(key)
    assert np.array_equal(arrays["intensity"], a["intensity"]) and meta == {"scw_id": "005600620010.001"}
    assert st.file(key, "x.txt").read_bytes() == b"hello"
    assert oct(st.root.stat().st_mode & 0o777) == "0o700"
    assert oct(st.path(key).stat().st_mode & 0o777) == "0o700"
    with pytest.raises(ValueError):  # object arrays would need pickle: refused
        st.put(content_key("obj"), arrays={"o": np.array([{"a": 1}], dtype=object)})
    assert not st.has(content_key("obj"))
    assert not any(p.name.startswith(".tmp") for p in st.path(key).parent.iterdir())


@pytest.mark.parametrize("victim", ["arrays.npz", "x.txt", "meta.json"])
def test_corrupt_entry_is_detected_and_dropped(tmp_path, victim):
    st = ProductStore(tmp_path / "s")
    key = content_key("k", victim)
    st.put(key, arrays={"a": np.ones(1000)}, meta={"m": 1}, files={"x.txt": b"abc" * 100})
    p = st.path(key) / victim
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])  # truncated write
    assert st.get(key) is None and not st.has(key)
    st.put(key, arrays={"a": np.ones(1000)}, meta={"m": 1}, files={"x.txt": b"abc" * 100})
    assert st.get(key)[1] == {"m": 1}


def test_invalid_keys_never_reach_the_filesystem(tmp_path):
    st = ProductStore(tmp_path / "s")
    for bad in ("../../etc/passwd", "ABC", "", "0" * 8, "g" * 32):
        with pytest.raises(ValueError):
            st.path(bad)


def test_size_bound_evicts_oldest(tmp_path):
    st = ProductStore(tmp_path / "s", max_bytes=600_000)
    keys = [content_key("e", i) for i in range(6)]
    for i, k in enumerate(keys):
        st.put(k, arrays={"a": np.zeros(25_000)})  # ~200 kB each
        os.utime(st.path(k), (1000 + i, 1000 + i))
    st._enforce_bound()
    assert st.size_bytes() <= 600_000
    assert st.has(keys[-1]) and not st.has(keys[0])
