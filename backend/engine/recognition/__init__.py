"""Recognition: which catalogue item *is* the artwork in the photo, where it is, or that it
is not in the collection at all.

Two-stage instance retrieval, as in Revisited Oxford/Paris and Google Landmarks v2:
candidates come from two routes, the global embedding's shortlist (the search service's
FAISS search) and local features voting through visual words over the whole catalogue;
each candidate is then verified geometrically against the photo (ORB matches, one
homography by MAGSAC++), and an open-set decision calibrated on held-out snaps says
whether the best verified candidate is the artwork photographed. The homography also
gives the artwork's outline in the photo.

Modules, in the order a photo meets them:

* :mod:`.local_features` -- ORB keypoints and descriptors of a catalogue image or a photo;
* :mod:`.feature_store` -- every catalogue item's features, saved at ingest in segments
  beside the FAISS indexes, memory-mapped by readers;
* :mod:`.visual_words` -- the vocabulary tree and the inverted index (the second route);
* :mod:`.verification` -- matching and the homography, with its evidence;
* :mod:`.decision` -- the calibrated "is it this artwork?" rule;
* :mod:`.recogniser` -- shortlist, verify, decide, set aside, look again (several artworks).
"""

from __future__ import annotations

from .decision import Evidence
from .feature_store import CollectionFeatures, FeatureStore, backfill_command
from .local_features import (
    LocalFeatures,
    extract_catalogue_features,
    extract_query_features,
    extract_tilted_features,
    extract_view_features,
)
from .recogniser import Recogniser, Recognition, interleave

__all__ = [
    "CollectionFeatures",
    "Evidence",
    "FeatureStore",
    "LocalFeatures",
    "Recognition",
    "Recogniser",
    "backfill_command",
    "extract_catalogue_features",
    "extract_query_features",
    "extract_tilted_features",
    "extract_view_features",
    "interleave",
]
