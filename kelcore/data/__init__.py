"""Dataset-agnostic helpers for dataset plugins, split by responsibility:

* :mod:`kelcore.data.parallel` -- ``parallel_map`` across processes with progress;
* :mod:`kelcore.data.cache` -- the content-keyed feature cache;
* :mod:`kelcore.data.splits` -- leak-free seeded splits and training-split normalisation;
* :mod:`kelcore.data.indexed` -- ``Track`` / ``Extracted`` / ``IndexedDataset``: index -> cached parallel
  extraction -> split -> normalisation, every unusable row counted;
* :mod:`kelcore.io` -- the atomic writer and digests.

Plugins import these names from :mod:`kelcore.api`; ``kelcore.data.X`` keeps working for existing code.
"""
from ..components import Dataset, DatasetProblem, PreparedData, RunContext, Sequence, ValidationReport  # noqa: F401
from ..io import atomic_write, config_digest, file_digest, write_json_atomic, write_text_atomic  # noqa: F401
from .cache import FeatureCache, UnsafeCacheEntry, cache_dir_of, default_cache_dir  # noqa: F401
from .indexed import (Extracted, FeatureWidthError, IndexedDataset, Track, check_produced_widths,  # noqa: F401
                      extract_tracks, load_or_draw_split, prepare_dataset, split_problem, validate_tracks)
from .indexed import _cache_key, _extract_one  # noqa: F401 - used by tests and benchmarks
from .parallel import default_workers, parallel_map  # noqa: F401
from .splits import apply_normalization, fit_normalization, split_by_group  # noqa: F401
