"""Great-circle geometry on arrays: distances and nearest neighbours, vectorised.

The one home of the Earth radius and the haversine formula: the demo generator, the coverage
KPIs, the wallet's spatial neighbours, the recommendations and the rep assignment use it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.spatial import cKDTree

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EARTH_KM = 6371.0088


def unit_xyz(lat: FloatArray, lon: FloatArray) -> FloatArray:
    """Points on the unit sphere (n × 3) for latitudes and longitudes in degrees."""
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    lam = np.radians(np.asarray(lon, dtype=np.float64))
    cos_phi = np.cos(phi)
    return np.column_stack([cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)])


def chord_km(chord: FloatArray) -> FloatArray:
    """Great-circle distance (km) of a chord length on the unit sphere."""
    half = np.clip(np.asarray(chord, dtype=np.float64) / 2.0, 0.0, 1.0)
    return np.asarray(2.0 * EARTH_KM * np.arcsin(half), dtype=np.float64)


def haversine_km(
    lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray
) -> FloatArray:
    """Great-circle distance (km) between paired points; NaN where a coordinate is missing."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    return haversine_rad_km(p2 - p1, dl, np.cos(p1), np.cos(p2))


def haversine_rad_km(
    dlat: FloatArray, dlon: FloatArray, cos_lat1: FloatArray, cos_lat2: FloatArray
) -> FloatArray:
    """Great-circle distance (km) from the differences of latitude and longitude (radians) and
    the cosines of both latitudes: for callers that keep radians and cosines of many points."""
    a = np.sin(dlat / 2) ** 2 + cos_lat1 * cos_lat2 * np.sin(dlon / 2) ** 2
    return np.asarray(2.0 * EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), np.float64)


def haversine_expr(lat1: pl.Expr, lon1: pl.Expr, lat2: pl.Expr, lon2: pl.Expr) -> pl.Expr:
    """Great-circle distance (km) between two points as a Polars expression."""
    p1, p2 = lat1.radians(), lat2.radians()
    dl = (lon2 - lon1).radians()
    a = ((p2 - p1) / 2).sin().pow(2) + p1.cos() * p2.cos() * (dl / 2).sin().pow(2)
    return 2.0 * EARTH_KM * a.clip(0.0, 1.0).sqrt().arcsin()


class NeighbourIndex:
    """k-nearest-neighbour queries in great-circle distance over a fixed set of points."""

    def __init__(self, lat: FloatArray, lon: FloatArray) -> None:
        self.size = len(lat)
        self._tree = cKDTree(unit_xyz(lat, lon)) if self.size else None

    def query(
        self, lat: FloatArray, lon: FloatArray, k: int, *, exclude_self: bool = False
    ) -> tuple[FloatArray, IntArray]:
        """Distances (km) and indices of the ``k`` nearest points of the index for each query.

        With ``exclude_self`` the queries are the indexed points themselves, and each point's
        own entry is left out. Missing neighbours (fewer points than ``k``) have distance
        ``inf`` and index ``-1``.
        """
        n = len(lat)
        extra = 1 if exclude_self else 0
        kk = min(k + extra, self.size)
        if self._tree is None or kk == 0 or n == 0:
            return np.full((n, k), np.inf), np.full((n, k), -1, dtype=np.int64)
        chord, idx = self._tree.query(unit_xyz(lat, lon), k=kk)
        chord = np.asarray(chord, dtype=np.float64).reshape(n, kk)
        idx = np.asarray(idx, dtype=np.int64).reshape(n, kk)
        if exclude_self:
            own = idx == np.arange(n)[:, None]
            # drop each row's own entry (or its last one when the row is not among its hits)
            drop = np.where(own.any(axis=1), own.argmax(axis=1), kk - 1)
            keep = np.ones_like(own)
            keep[np.arange(n), drop] = False
            chord = chord[keep].reshape(n, kk - 1)
            idx = idx[keep].reshape(n, kk - 1)
        missing = idx >= self.size
        km = chord_km(np.where(missing, 0.0, chord))
        km[missing] = np.inf
        idx[missing] = -1
        width = km.shape[1]
        if width < k:
            km = np.hstack([km, np.full((n, k - width), np.inf)])
            idx = np.hstack([idx, np.full((n, k - width), -1, dtype=np.int64)])
        return km, idx
