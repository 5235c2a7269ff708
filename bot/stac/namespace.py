"""Publishing a dataset under another id: a pull request's preview (``pr-<n>-<id>``).

Why a separate, pure step: the publish pipeline names everything it writes
after the dataset id it is given (STAC collection and item, pygeoapi
resource, object keys), but the curated ``collection.jsonnet`` spells its own
id and its data links (``data_base_url/<id>/...``).  A preview publishes the
folder ``datasets/<id>`` as ``pr-<n>-<id>`` (see ``bot/events/preview.py``),
so the rendered collection must follow, or it would land on the production
collection.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def rename_collection(collection: Mapping[str, Any], new_id: str, old_base: str, new_base: str) -> dict[str, Any]:
    """``collection`` with id ``new_id``; links below ``old_base/`` re-pointed below ``new_base/``.

    ``old_base`` is where the curated links put the dataset's published files
    (``data_base_url/<curated id>``), ``new_base`` where they are now.  Other
    links are kept as curated.
    """
    out = copy.deepcopy(dict(collection))
    out["id"] = new_id
    old, new = old_base.rstrip("/") + "/", new_base.rstrip("/") + "/"
    links = []
    for link in out.get("links") or []:
        href = str(link.get("href") or "") if isinstance(link, Mapping) else ""
        if old_base and href.startswith(old):
            link = {**link, "href": new + href[len(old) :]}
        links.append(link)
    if "links" in out:
        out["links"] = links
    return out
