"""ISGRI imaging: per-ScW decoding, mosaics, source detection."""
