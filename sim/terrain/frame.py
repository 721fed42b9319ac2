"""The geographic frame: local km coordinates tied to longitude and latitude (pyproj).

Why: places, lines and agents live in a local frame (x east, y north, km from an origin, by
default Makhmour town) because "3 km NE of town" reads better than degrees; researchers lay the
results over satellite images and district maps, which need longitude/latitude. The local frame
is a transverse Mercator projection centred on the origin (scale 1 there, so a km in the model
is a km on the ground to within 0.1 % over the 65 km of the map), with kilometre units, on WGS84.
Every layer, incident and agent position converts through :class:`Frame`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from pyproj import CRS, Transformer

WGS84 = "EPSG:4326"


def local_crs(origin_latlon: Any, units: str = "km") -> CRS:
    """The local frame's CRS: transverse Mercator at ``(lat, lon)``, WGS84 datum.

    ``units="m"`` gives the same projection in metres (rasters: every GIS tool reads metres).
    """
    lat, lon = (float(v) for v in origin_latlon)
    return CRS.from_proj4(
        f"+proj=tmerc +lat_0={lat!r} +lon_0={lon!r} +k_0=1 +x_0=0 +y_0=0 "
        f"+datum=WGS84 +units={units} +no_defs +type=crs"
    )


@dataclass(frozen=True)
class Frame:
    """Conversions between the local km frame and other coordinate reference systems.

    Attributes:
        crs_wkt: the local frame's CRS as WKT (what a GeoPackage or GeoTIFF stores).
    """

    crs_wkt: str

    @classmethod
    def at(cls, origin_latlon: Any) -> Frame:
        """The frame whose origin is at ``(lat, lon)`` degrees."""
        return cls(local_crs(origin_latlon).to_wkt())

    @cached_property
    def crs(self) -> CRS:
        return CRS.from_wkt(self.crs_wkt)

    @property
    def origin_latlon(self) -> tuple[float, float]:
        """``(lat, lon)`` of the frame's origin, degrees."""
        params = {p.name: p.value for p in self.crs.coordinate_operation.params}
        return params["Latitude of natural origin"], params["Longitude of natural origin"]

    def transformer_to(self, crs: Any) -> Transformer:
        """Local km -> ``crs`` (anything pyproj accepts), x/y in the traditional GIS order."""
        return Transformer.from_crs(self.crs, CRS.from_user_input(crs), always_xy=True)

    def to_lonlat(self, x_km: Any, y_km: Any) -> tuple[Any, Any]:
        """Longitude and latitude (degrees, WGS84) of local km coordinates."""
        lon, lat = self.transformer_to(WGS84).transform(np.asarray(x_km), np.asarray(y_km))
        return _scalar(lon), _scalar(lat)

    def from_lonlat(self, lon: Any, lat: Any) -> tuple[Any, Any]:
        """Local km coordinates of longitudes and latitudes (degrees, WGS84)."""
        back = Transformer.from_crs(WGS84, self.crs, always_xy=True)
        x, y = back.transform(np.asarray(lon), np.asarray(lat))
        return _scalar(x), _scalar(y)


def _scalar(a: Any) -> Any:
    arr = np.asarray(a, dtype=float)
    return float(arr) if arr.ndim == 0 else arr
