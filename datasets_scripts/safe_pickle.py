# Copyright 2026 The synctva authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Load the pickles of published ERC releases without running code hidden in them.

`pickle.load` imports and calls whatever a file names, so a doctored feature file could run
`os.system`. `restricted_load` resolves only the handful of globals these releases need and refuses
every other one before it is imported, so nothing from a hostile file ever runs.
"""

import codecs
import os
import pickle
from typing import BinaryIO

import numpy as np


try:
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy < 2 has no numpy._core
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric


def _numpy_globals():
    # Files written under numpy 1 name numpy.core, files written under numpy 2 name numpy._core;
    # both resolve to the same function here, without importing the deprecated numpy.core shim.
    allowed = {
        ("numpy", "dtype"): np.dtype,  # dtype of every array and numpy scalar
        ("numpy", "ndarray"): np.ndarray,  # array type, passed to _reconstruct
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "scalar")] = _multiarray.scalar  # numpy scalars, e.g. int32 one-hots
        allowed[(f"{package}.multiarray", "_reconstruct")] = _multiarray._reconstruct  # arrays, protocol <= 4
        allowed[(f"{package}.numeric", "_frombuffer")] = _numeric._frombuffer  # arrays, protocol 5
    return allowed


ALLOWED_GLOBALS = {
    # Lists, dicts, tuples, str, int and float need no global at all; sets do.
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    # Python 3 writes bytes (such as an array's buffer) at protocol 2 as _codecs.encode(text, 'latin1').
    ("_codecs", "encode"): codecs.encode,
    **_numpy_globals(),
}
"""The only globals a pickle may name, as (module, name) -> the object it resolves to."""


class RefusedGlobalError(pickle.UnpicklingError):
    """A pickle named a global outside `ALLOWED_GLOBALS`; nothing of it was imported or run."""


class RestrictedUnpickler(pickle.Unpickler):
    """A `pickle.Unpickler` that resolves only `ALLOWED_GLOBALS` and refuses every other global."""

    def find_class(self, module, name):
        # Python 2 pickles name the builtins module __builtin__.
        key = ("builtins" if module == "__builtin__" else module, name)
        if key not in ALLOWED_GLOBALS:
            raise RefusedGlobalError(
                f"refused to load global '{module}.{name}': this pickle may only use containers, numpy arrays "
                f"and numpy scalars, so it is either not an ERC release file or it was tampered with"
            )
        return ALLOWED_GLOBALS[key]


def restricted_load(path_or_file: str | os.PathLike | BinaryIO):
    """Unpickle a file through `RestrictedUnpickler`.

    Python 2 strings are decoded as latin-1, as the published releases need (and as numpy requires for
    Python 2 arrays); Python 3 pickles are unaffected.

    Args:
        path_or_file: a path, or a binary file object open for reading.

    Returns:
        The unpickled object (for the ERC releases, a list of dicts and id lists).

    Raises:
        RefusedGlobalError: the pickle names a global outside `ALLOWED_GLOBALS`.
        pickle.UnpicklingError: the file is truncated or otherwise not a pickle.
        FileNotFoundError: the path does not exist.
    """
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, "rb") as file:
            return _load(file, os.fspath(path_or_file))
    return _load(path_or_file, getattr(path_or_file, "name", "<stream>"))


def _load(file: BinaryIO, name: str):
    try:
        return RestrictedUnpickler(file, encoding="latin1").load()
    except RefusedGlobalError as error:
        raise RefusedGlobalError(f"{name}: {error}") from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError, KeyError, OverflowError) as error:
        raise pickle.UnpicklingError(
            f"{name} could not be unpickled: the file is truncated or corrupt ({type(error).__name__}: {error})"
        ) from error
