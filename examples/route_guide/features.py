"""The example's map: a dozen made-up places on an imaginary coast, and the geometry on it.

Shared by server.py (its database) and client.py (to know what answers to expect).
"""

from __future__ import annotations

import math

import generate

pb2, _ = generate.load()

COORD_FACTOR = 1e7  # Point stores degrees * 10^7
EARTH_RADIUS_M = 6_371_000

# (name, latitude, longitude) in degrees: a harbour town, a trail inland, a coast path south.
PLACES = (
    ("Harbour lighthouse", 44.1012, -68.3520),
    ("Fish market steps", 44.1035, -68.3571),
    ("Old customs house", 44.1050, -68.3544),
    ("Chapel on the hill", 44.1123, -68.3608),
    ("Windmill meadow", 44.1198, -68.3702),
    ("Quarry pond", 44.1250, -68.3811),
    ("Beech wood clearing", 44.1302, -68.3900),
    ("Fire lookout tower", 44.1417, -68.3996),
    ("Ferry slipway", 44.0950, -68.3405),
    ("Seal rocks", 44.0874, -68.3321),
    ("Shipwreck cove", 44.0801, -68.3256),
    ("Salt marsh boardwalk", 44.0733, -68.3150),
)


def point(latitude: float, longitude: float):
    """A Point from degrees."""
    return pb2.Point(latitude=round(latitude * COORD_FACTOR),
                     longitude=round(longitude * COORD_FACTOR))


def all_features() -> list:
    """Every place as a Feature."""
    return [pb2.Feature(name=name, location=point(lat, lon)) for name, lat, lon in PLACES]


def describe(p) -> str:
    """A Point as "(lat, lon)" in degrees."""
    return f"({p.latitude / COORD_FACTOR:.4f}, {p.longitude / COORD_FACTOR:.4f})"


def inside(p, rectangle) -> bool:
    """Whether p lies in the rectangle, edges included; its corners may come in any order."""
    lo, hi = rectangle.lo, rectangle.hi
    return (min(lo.latitude, hi.latitude) <= p.latitude <= max(lo.latitude, hi.latitude)
            and min(lo.longitude, hi.longitude) <= p.longitude <= max(lo.longitude, hi.longitude))


def distance_m(a, b) -> float:
    """Great-circle distance between two Points in metres (haversine)."""
    lat1, lon1, lat2, lon2 = (math.radians(v / COORD_FACTOR)
                              for v in (a.latitude, a.longitude, b.latitude, b.longitude))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))
