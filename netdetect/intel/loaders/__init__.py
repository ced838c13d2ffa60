"""Feed loaders, registered by format name. Importing this package registers them all."""

from netdetect.intel.loaders import csvfile, misp, pack, stix, text, zeek  # noqa: F401  (registration)
from netdetect.intel.loaders.base import (
    LOADERS,
    Loader,
    LoadResult,
    PackInfo,
    Problems,
    load_path,
    sniff_format,
)

__all__ = ["LOADERS", "LoadResult", "Loader", "PackInfo", "Problems", "load_path", "sniff_format"]
