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
"""Batches of examples of similar length, so that padding costs little: for the text encoder's strings and for the
dialogues Sync-TVA trains on."""

import torch
from torch.utils.data import Sampler

DIALOGUE_POOL_BATCHES = 8
"""Batches per pool when batching dialogues: few enough that batches still mix, enough to pad little."""


def length_pooled_batches(lengths: list[int], batch_size: int, generator: torch.Generator, pool_batches: int = 50) -> list[list[int]]:
    """One epoch's batches of examples of similar length, in random order.

    A random permutation is cut into pools of `pool_batches * batch_size` examples; each pool is sorted by length and
    cut into batches, and the batches of all pools are shuffled. A batch is padded to its longest example, so this
    pads far less than plain random batches while every epoch still draws different batches.
    """
    order = torch.randperm(len(lengths), generator=generator).tolist()
    pool_size = pool_batches * batch_size
    batches = []
    for start in range(0, len(order), pool_size):
        pool = sorted(order[start : start + pool_size], key=lambda i: lengths[i])
        batches += [pool[i : i + batch_size] for i in range(0, len(pool), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


class LengthPooledSampler(Sampler):
    """The indices of `length_pooled_batches`, batch after batch, for a `DataLoader` with the same `batch_size`.

    The order depends only on (seed, epoch), so a resumed run sees the same batches. Only the last pool can leave a
    batch short; it comes last, so the loader, cutting the indices every `batch_size`, gives exactly the pooled
    batches.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, pool_batches: int = DIALOGUE_POOL_BATCHES):
        self.lengths, self.batch_size, self.seed, self.pool_batches, self.epoch = lengths, batch_size, seed, pool_batches, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 10_000 + self.epoch)
        batches = length_pooled_batches(self.lengths, self.batch_size, generator, self.pool_batches)
        batches.sort(key=lambda batch: len(batch) < self.batch_size)  # stable: the full batches keep their order
        return iter([index for batch in batches for index in batch])

    def __len__(self) -> int:
        return len(self.lengths)
