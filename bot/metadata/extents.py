"""Where a dataset's published extents come from when its data has none.

Why a module: the data's extents win everywhere (check-extents, harvest
merges), but some valid data has no spatial extent to offer -- a grid whose
x/y dimensions carry no coordinate values, or coordinates that are all
missing.  Such a dataset is published with the bbox of its datapackage (the
metadata record's, marked ``"source": "record"``, when a harvest put it
there) instead of failing; the datacube dimensions that have no values of
their own take that bbox too, so the STAC item stays valid.  Pure: data in,
data out.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

# The text bot.metadata.datadriven.check_extents uses for "no bbox at all".
NO_SPATIAL_EXTENT = "no spatial extent could be determined"


def curated_bbox(datapackage: dict[str, Any] | None) -> list[float] | None:
    """The datapackage's ``spatial.bbox`` when it is four numbers."""
    spatial = (datapackage or {}).get("spatial")
    bbox = spatial.get("bbox") if isinstance(spatial, dict) else None
    if isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox):
        return [float(v) for v in bbox]
    return None


def extent_fallback(problems: Sequence[str], datapackage: dict[str, Any] | None) -> tuple[list[str], str | None]:
    """The extent problems that still stop a publish, and a note when the datapackage's bbox stands in.

    Only "no spatial extent" is forgiven, and only when the datapackage has
    a bbox; empty data and impossible coordinates still stop the publish.
    """
    bbox = curated_bbox(datapackage)
    if bbox is None or not any(p.startswith(NO_SPATIAL_EXTENT) for p in problems):
        return list(problems), None
    spatial = (datapackage or {}).get("spatial") or {}
    origin = "the metadata record" if spatial.get("source") == "record" else "datapackage.json"
    note = f"the data has no spatial extent: using the bbox {bbox} from {origin}"
    return [p for p in problems if not p.startswith(NO_SPATIAL_EXTENT)], note


def fill_datacube_extents(datacube: dict[str, Any] | None, bbox: list[float] | None) -> dict[str, Any] | None:
    """``cube:dimensions`` whose horizontal dimensions lack values get the bbox's range (a copy)."""
    if not datacube or bbox is None:
        return datacube
    out = copy.deepcopy(datacube)
    ranges = {"x": [bbox[0], bbox[2]], "y": [bbox[1], bbox[3]]}
    for dim in (out.get("cube:dimensions") or {}).values():
        axis = dim.get("axis")
        if dim.get("type") == "spatial" and axis in ranges and None in (dim.get("extent") or [None]):
            dim["extent"] = ranges[axis]
    return out
