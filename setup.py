"""setup.py: the extension module knn._knn, with libknn linked in statically.

The library is built by the project's Makefile (`make build/libknn.a`, position-independent
objects), which holds the per-file flags of the SIMD kernels (-mavx2 -mfma for
src/kernels/avx2.c; -mavx512f -mavx512bw -mavx512vnni for src/kernels/avx512.c); the kernels
are chosen at run time, so the module runs on any x86-64. The module links the archive with
stb, zlib, libm and OpenMP. Package metadata is in pyproject.toml.
"""
import os
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
LIBKNN = os.path.join("build", "libknn.a")


class BuildExtWithLibknn(build_ext):
    """build_ext that first brings build/libknn.a up to date with make."""

    def run(self):
        jobs = str(os.cpu_count() or 1)
        subprocess.run(["make", "--no-print-directory", "-j", jobs, LIBKNN], cwd=ROOT,
                       check=True)
        super().run()


setup(
    package_dir={"": "python"},
    packages=["knn"],
    include_package_data=False,
    ext_modules=[
        Extension(
            "knn._knn",
            sources=["python/knn/_knn.c"],
            include_dirs=["include"],
            depends=[LIBKNN, "include/knn.h"],
            extra_objects=[LIBKNN],
            libraries=["stb", "z", "m"],
            extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Wshadow"],
            extra_link_args=["-fopenmp"],
        )
    ],
    cmdclass={"build_ext": BuildExtWithLibknn},
)
