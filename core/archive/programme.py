"""The observing programme: which field INTEGRAL looks at in each revolution.

A deterministic stand-in for the real mission planning: Galactic Centre and plane deep
fields (most of the time in the GC visibility seasons), yearly Crab calibrations, the
benchmark observations at their real epochs, and a broad mix of other fields. Fields are
only scheduled when the solar-aspect constraint allows it (Sun 50°–130° from the
pointing axis), which produces the real seasonal visibility windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Field", "FIELDS", "FIXED_BLOCKS", "Block", "GX51_REVOLUTIONS", "GX51_FIELD", "CRAB_CALIBRATION_REVOLUTIONS"]


@dataclass(frozen=True)
class Field:
    """A pointing target: name, centre (deg), dither pattern, ScW duration range (s)."""

    name: str
    ra: float
    dec: float
    pattern: str = "5x5"  # "5x5", "hex", "staring", "gps" (Galactic-plane scan)
    scw_seconds: tuple[float, float] = (1800.0, 3600.0)
    weight: float = 1.0  # relative share of the free time


@dataclass(frozen=True)
class Block:
    """A fixed observation at a real epoch (UTC ISO times), overriding the planner."""

    field: Field
    start: str
    stop: str
    note: str = ""
    revolutions: tuple[int, ...] = field(default=())


# Coordinates: SIMBAD (J2000). Weights: rough shares of the INTEGRAL core/open programme
# (Winkler et al. 2011: about half the time on the Galactic plane and centre).
GC = Field("Galactic Centre", 266.4168, -29.0078, "5x5", (1800.0, 2200.0), 10.0)
GX51_FIELD = Field("GX 5-1 region", 268.0, -27.5, "5x5", (1750.0, 1950.0), 0.0)
CRAB = Field("Crab", 83.6331, 22.0145, "5x5", (1800.0, 3600.0), 0.0)

FIELDS: tuple[Field, ...] = (
    GC,
    Field("Galactic plane scan", 0.0, 0.0, "gps", (1800.0, 2200.0), 6.0),
    Field("Cyg X-1", 299.5903, 35.2016, "5x5", (1800.0, 3600.0), 3.0),
    Field("Vela region", 135.5286, -40.5547, "5x5", (1800.0, 3600.0), 2.0),
    Field("Norma arm", 250.0, -47.0, "5x5", (1800.0, 3600.0), 2.0),
    Field("Crux / GX 301-2", 186.6567, -62.7706, "5x5", (1800.0, 3600.0), 1.5),
    Field("Sco X-1", 244.9794, -15.6402, "hex", (1800.0, 3600.0), 0.7),
    Field("GRS 1915+105", 288.7983, 10.9458, "5x5", (1800.0, 3600.0), 1.5),
    Field("Cen A", 201.3651, -43.0191, "5x5", (1800.0, 3600.0), 1.0),
    Field("Coma cluster", 194.9531, 27.9807, "5x5", (1800.0, 3600.0), 0.6),
    Field("3C 273 / Virgo", 187.2779, 2.0524, "5x5", (1800.0, 3600.0), 0.8),
    Field("NGC 4151", 182.6357, 39.4057, "5x5", (1800.0, 3600.0), 0.6),
    Field("NGC 2110", 88.0474, -7.4562, "5x5", (1800.0, 3600.0), 0.5),
    Field("GX 339-4", 255.7058, -48.7897, "hex", (1800.0, 3600.0), 0.6),
    Field("4U 0115+63 / Cas A", 19.6329, 63.7401, "5x5", (1800.0, 3600.0), 0.6),
    Field("A 0535+26", 84.7274, 26.3158, "5x5", (1800.0, 3600.0), 0.4),
    Field("Her X-1", 254.4576, 35.3424, "hex", (1800.0, 3600.0), 0.4),
    Field("Perseus cluster", 49.9507, 41.5117, "5x5", (1800.0, 3600.0), 0.4),
    Field("LMC", 80.8939, -69.7561, "5x5", (1800.0, 3600.0), 0.5),
    Field("SMC", 13.1866, -72.8286, "5x5", (1800.0, 3600.0), 0.4),
    Field("Carina / Eta Car", 161.2648, -59.6844, "5x5", (1800.0, 3600.0), 0.5),
    Field("Cas A / Tycho", 350.8500, 58.8150, "5x5", (1800.0, 3600.0), 0.4),
    Field("Aql X-1", 287.8168, 0.5849, "hex", (1800.0, 3600.0), 0.4),
    Field("Mrk 421", 166.1138, 38.2088, "hex", (1800.0, 3600.0), 0.3),
    Field("3C 454.3", 343.4906, 16.1482, "hex", (1800.0, 3600.0), 0.3),
    Field("Ophiuchus", 258.1, -23.4, "5x5", (1800.0, 3600.0), 0.8),
    Field("SGR 1935+2154", 293.7320, 21.8970, "hex", (1800.0, 3600.0), 0.3),
    Field("M82 / NGC 3079", 149.0, 60.0, "5x5", (1800.0, 3600.0), 0.2),
    Field("South Ecliptic Pole", 90.0, -66.56, "5x5", (1800.0, 3600.0), 0.2),
    Field("North Ecliptic Pole", 270.0, 66.56, "5x5", (1800.0, 3600.0), 0.2),
)

#: Revolutions whose pointings include the 44 real ScWs of ``list_osa10.txt`` (GX 5-1, 2003).
GX51_REVOLUTIONS: tuple[int, ...] = (56, 59, 61, 62, 63, 119, 120, 121, 122)

#: Crab calibration revolution of ODA's own examples (the Crab imaged in ScW 066500220010).
CRAB_CALIBRATION_REVOLUTIONS: tuple[int, ...] = (665,)

FIXED_BLOCKS: tuple[Block, ...] = (
    # Galactic Centre deep exposure of 2003 that holds the ScWs of the ODA GX 5-1 benchmark.
    *(Block(GX51_FIELD, "", "", "GCDE 2003 (list_osa10.txt)", (r,)) for r in GX51_REVOLUTIONS),
    *(Block(CRAB, "", "", "Crab calibration (ODA example ScW 066500220010)", (r,)) for r in CRAB_CALIBRATION_REVOLUTIONS),
    # A 0535+26 outburst of April 2010 with the Crab 4.4° away in the field (ODA benchmark
    # notebook Crab_spectra_lc: both sources' spectra over 2010-04-03..06, light curves to 04-21).
    Block(Field("A 0535+26", 84.7274, 26.3158, "hex", (1800.0, 3600.0), 0.0),
          "2010-04-02T00:00:00", "2010-04-08T00:00:00", "A 0535+26 outburst 2010 (Crab in the field)"),
    # V404 Cyg ToO, 2015 June outburst (ATel 7702; Rodriguez et al. 2015): revs 1555-1557.
    Block(Field("V404 Cyg", 306.0159, 33.8672, "hex", (1800.0, 3600.0), 0.0),
          "2015-06-20T15:49:59", "2015-06-25T04:05:59", "V404 Cyg ToO (ATel 7702)"),
    Block(Field("V404 Cyg", 306.0159, 33.8672, "hex", (1800.0, 3600.0), 0.0),
          "2015-12-24T00:00:00", "2015-12-31T00:00:00", "V404 Cyg December 2015 ToO"),
    # 3C 279 flare (Bottacini et al. 2016, ApJ 832, 17): 2015-06-15T15:56:45 - 06-16T06:13:10.
    Block(Field("3C 279", 194.0465, -5.7893, "hex", (1800.0, 3600.0), 0.0),
          "2015-06-15T15:56:45", "2015-06-16T06:13:10", "3C 279 ToO (Bottacini+2016)"),
    # 3C 279 / 3C 273 Virgo deep field (2003 and later key programmes).
    Block(Field("3C 279", 194.0465, -5.7893, "5x5", (1800.0, 3600.0), 0.0),
          "2003-06-15T00:00:00", "2003-06-27T00:00:00", "Virgo region 2003"),
    Block(Field("3C 279", 194.0465, -5.7893, "5x5", (1800.0, 3600.0), 0.0),
          "2010-06-10T00:00:00", "2010-06-16T00:00:00", "3C 279 monitoring"),
    # NGC 2110 (Ursini et al. 2019 used ~1.7 Ms of ISGRI data between 2003 and 2018).
    *(Block(Field("NGC 2110", 88.0474, -7.4562, "5x5", (1800.0, 3600.0), 0.0), f"{y}-03-{d:02d}T00:00:00",
            f"{y}-03-{d + 3:02d}T00:00:00", "NGC 2110 field")
      for y, d in ((2004, 5), (2006, 8), (2008, 3), (2010, 12), (2012, 6), (2014, 9), (2016, 4), (2018, 7))),
)
