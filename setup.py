"""Build steps pyproject.toml cannot declare: the compiled core and the bundled signatures.

Every `netdetect/**/*.c` file is one extension module named after its path (netdetect/flows_c.c ->
netdetect.flows_c). They are optional: where no C compiler is at hand the install still succeeds and
netdetect runs its numpy/Python path, which gives the same results more slowly (see docs/speed.md).
`NETDETECT_REQUIRE_NATIVE=1` makes a build failure fatal (CI sets it, so a broken core cannot pass).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
REQUIRED = os.environ.get("NETDETECT_REQUIRE_NATIVE") == "1"


def native_extensions() -> list[Extension]:
    return [
        Extension(
            ".".join(source.with_suffix("").parts),
            [source.as_posix()],
            depends=["netdetect/_native.h", "netdetect/decode/_tables.h"],
            optional=not REQUIRED,
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
        for source in sorted(Path("netdetect").rglob("*.c"))
    ]


class BuildPyWithSignatures(build_py):
    """Ship signatures/ inside the package as netdetect/_signatures (bundled_signatures_dir looks there)."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "netdetect" / "_signatures"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(HERE / "signatures", target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(ext_modules=native_extensions(), cmdclass={"build_py": BuildPyWithSignatures})
