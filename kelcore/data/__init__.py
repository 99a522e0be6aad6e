"""Dataset-agnostic helpers for dataset plugins, split by responsibility:

* :mod:`kelcore.data.parallel` -- ``parallel_map`` across processes with progress;
* :mod:`kelcore.data.cache` -- the content-keyed feature cache;
* :mod:`kelcore.data.splits` -- leak-free seeded splits and training-split normalisation;
* :mod:`kelcore.data.indexed` -- ``Track`` / ``Extracted`` / ``IndexedDataset``: index -> cached parallel
  extraction -> split -> normalisation, every unusable row counted;
* :mod:`kelcore.data.store` -- the packed feature store a preparation streams its sequences into (read back as
  read-only views; memory-mapped from a file past 32 MiB);
* :mod:`kelcore.io` -- the atomic writer and digests.

Plugins import these names from :mod:`kelcore.api`; ``kelcore.data.X`` keeps working for existing code.
"""
from ..components import Dataset, DatasetProblem, PreparedData, RunContext, Sequence, ValidationReport  # noqa: F401
from ..io import atomic_write, config_digest, file_digest, write_json_atomic, write_text_atomic  # noqa: F401
from .cache import FeatureCache, UnsafeCacheEntry, cache_dir_of, default_cache_dir, feature_cache_key  # noqa: F401
from .indexed import (STORE_NAME, Extracted, FeatureWidthError, IndexedDataset, Track,  # noqa: F401
                      check_produced_widths, extract_tracks, iter_extracted, load_or_draw_split, prepare_dataset,
                      split_problem, validate_tracks)
from .indexed import _cache_key, _extract_one  # noqa: F401 - used by tests and benchmarks
from .parallel import default_workers, parallel_map  # noqa: F401
from .splits import apply_normalization, fit_normalization, split_by_group, standardiser  # noqa: F401
from .store import PackedStore, PackedWriter, TornStore, open_store  # noqa: F401
