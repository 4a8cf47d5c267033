"""Column data of one delivery before formatting: numbers stay numpy arrays until written.

A :data:`Frame` maps contract column names to numpy arrays (identifiers, codes, day numbers,
amounts in cents; ``-1`` means an empty optional value), :class:`Cat` (text codes) or a plain
string (the same value in every row, e.g. the period). :mod:`sdwh.synth.files` turns it into
text the way the contract says; defects work on the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class Cat:
    """Text codes as small integers into ``labels``."""

    codes: np.ndarray
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.codes)

    def take(self, idx: np.ndarray) -> Cat:
        return Cat(self.codes[idx], self.labels)


Value = np.ndarray | Cat | pa.Array | str
Frame = dict[str, Value]


def frame_rows(frame: Frame) -> int:
    return next(len(v) for v in frame.values() if not isinstance(v, str))


def take(frame: Frame, idx: np.ndarray) -> Frame:
    """Rows ``idx`` of every column (constants stay constants)."""
    return {k: v if isinstance(v, str) else v[idx] if isinstance(v, np.ndarray) else v.take(idx)
            for k, v in frame.items()}


def cat(values: np.ndarray, labels: tuple[str, ...]) -> Cat:
    return Cat(values.astype(np.int8), labels)
