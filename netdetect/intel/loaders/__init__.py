"""Feed loaders, registered by format name; each format's module is imported when first needed."""

from netdetect.intel.loaders.base import (
    LOADER_MODULES,
    LOADERS,
    Loader,
    LoadResult,
    PackInfo,
    Problems,
    all_loaders,
    load_path,
    loader_class,
    sniff_format,
)

__all__ = [
    "LOADERS",
    "LOADER_MODULES",
    "LoadResult",
    "Loader",
    "PackInfo",
    "Problems",
    "all_loaders",
    "load_path",
    "loader_class",
    "sniff_format",
]
