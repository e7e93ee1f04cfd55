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
"""The training checkpoint: a crash at any moment leaves the previous complete state.

The checkpoint folder `<out>/checkpoints/last` holds what `Accelerator.save_state` writes (model, optimizer,
scheduler, RNG states of every process), `training_state.json` (epoch, best metric, history, the arguments) and
`best_model.safetensors` (the weights of the best epoch so far). It is written as `last.tmp`, then swapped in by
renames; a run killed during the swap leaves `last.old`, which `find_last_checkpoint` then uses.
"""

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

TRAINING_STATE = "training_state.json"
BEST_WEIGHTS = "best_model.safetensors"


def replace_directory(source: Path, target: Path) -> None:
    """Move the complete folder `source` onto `target`: `target` becomes `target.old`, `source` becomes `target`,
    then `target.old` is removed. At every moment one complete folder is at `target` or at `target.old`."""
    previous = target.with_name(target.name + ".old")
    if previous.exists():
        shutil.rmtree(previous)
    if target.exists():
        os.rename(target, previous)
    os.rename(source, target)
    if previous.exists():
        shutil.rmtree(previous)


def find_last_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The complete last checkpoint: `last`, else `last.old` (left by a crash during the swap), else None."""
    for name in ("last", "last.old"):
        candidate = checkpoints_dir / name
        if (candidate / TRAINING_STATE).is_file():
            return candidate
    return None


def save_checkpoint(
    accelerator,
    checkpoints_dir: Path,
    training_state: dict,
    best_weights: dict[str, torch.Tensor] | None,
) -> Path:
    """Save the whole training state to `<checkpoints_dir>/last`, atomically. Every process must call this.

    Args:
        accelerator: the `Accelerator` that prepared the model, optimizer and scheduler.
        training_state: JSON-able epoch, best metric, history and arguments.
        best_weights: the new best model's state dict when this epoch improved, else None (the best weights of the
            previous checkpoint are carried over).
    """
    temporary = checkpoints_dir / "last.tmp"
    if accelerator.is_main_process and temporary.exists():
        shutil.rmtree(temporary)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temporary))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if best_weights is not None:
            save_file({k: v.detach().cpu().contiguous() for k, v in best_weights.items()}, temporary / BEST_WEIGHTS)
        else:
            previous = find_last_checkpoint(checkpoints_dir)
            if previous is None or not (previous / BEST_WEIGHTS).is_file():
                raise RuntimeError(f"no best weights to carry over from {checkpoints_dir}")
            shutil.copy2(previous / BEST_WEIGHTS, temporary / BEST_WEIGHTS)
        (temporary / TRAINING_STATE).write_text(json.dumps(training_state, indent=2) + "\n", encoding="utf-8")
        replace_directory(temporary, checkpoints_dir / "last")
    accelerator.wait_for_everyone()
    return checkpoints_dir / "last"


def read_training_state(checkpoint: Path) -> dict:
    """The `training_state.json` of a checkpoint folder."""
    return json.loads((checkpoint / TRAINING_STATE).read_text(encoding="utf-8"))


def load_best_weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    """The best model weights stored in a checkpoint folder."""
    return load_file(checkpoint / BEST_WEIGHTS)
