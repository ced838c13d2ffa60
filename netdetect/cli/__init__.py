"""Command line: one module per subcommand, registered on the `netdetect` group in main.py."""

import os

# netdetect does no linear algebra, and OpenBLAS starting a thread per core at numpy import costs
# ~50 ms of CPU per run. Set before numpy loads; an explicit setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
