"""setup.py: the extension module knn._knn, with libknn linked in statically.

The library is built by the project's Makefile (`make build/libknn.a`, position-independent
objects), which holds the per-file flags of the SIMD kernels (-mavx2 -mfma for
src/kernels/avx2.c, -mavx2 -mfma -mavxvnni for avxvnni.c, -mavx512f -mavx512bw -mavx512vnni
for src/kernels/avx512.c); the kernels
are chosen at run time, so the module runs on any x86-64. The module links the archive with
stb, zlib, libm and OpenMP, and where the ONNX runner is built in OpenCV's dnn and libstdc++
(`make print-ldlibs` says which). Package metadata is in pyproject.toml.
"""
import os
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
LIBKNN = os.path.join("build", "libknn.a")
LIBRARIES = ["stb", "turbojpeg", "z", "m"]  # replaced by `make print-ldlibs` once make has run


class BuildExtWithLibknn(build_ext):
    """build_ext that first brings build/libknn.a up to date with make, then links what the
    archive needs (make print-ldlibs: OpenCV's dnn and libstdc++ where knn runs ONNX)."""

    def run(self):
        jobs = str(os.cpu_count() or 1)
        subprocess.run(["make", "--no-print-directory", "-j", jobs, LIBKNN], cwd=ROOT,
                       check=True)
        ldlibs = subprocess.run(["make", "--no-print-directory", "-s", "print-ldlibs"], cwd=ROOT,
                                check=True, capture_output=True, text=True).stdout
        libs = [w[2:] for w in ldlibs.split() if w.startswith("-l")]
        for ext in self.extensions:
            ext.libraries = libs
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
            libraries=LIBRARIES,
            extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Wshadow"],
            extra_link_args=["-fopenmp"],
        )
    ],
    cmdclass={"build_ext": BuildExtWithLibknn},
)
