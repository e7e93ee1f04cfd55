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
"""Publish a trained folder as a Hub model repository: the files that would go up, checked before any network call.

`upload_file_list` is exactly what `HfApi.upload_folder` sends (every file but `UPLOAD_IGNORE`, through the same
pattern filter); `check_upload` refuses a folder that would not work as a Hub model (no card with a `model-index`,
no `config.json` with an `auto_map`, a code file named by the `auto_map` or the `custom_pipelines` missing).
`push_folder` uploads; offline, without a token or with a token that may not write, it raises `HubUploadError` with
one line that says what to do.
"""

import json
import os
from pathlib import Path

import httpx
from huggingface_hub import CommitInfo, HfApi, metadata_load
from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled
from huggingface_hub.utils import filter_repo_objects

UPLOAD_IGNORE = ["checkpoints/*", "processes/*"]
"""Training state and per-process records: needed to resume, not to use the model."""
COMMIT_MESSAGE = "Upload Sync-TVA trained with train.py"


class HubUploadError(RuntimeError):
    """A folder that cannot be published, or a Hub that cannot be reached or written; the message is one line."""


def upload_file_list(folder: str | os.PathLike) -> list[str]:
    """The paths (relative, `/`-separated, sorted) of the files of `folder` that `push_folder` uploads."""
    folder = Path(folder)
    files = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    return list(filter_repo_objects(files, ignore_patterns=UPLOAD_IGNORE))


def check_upload(folder: str | os.PathLike) -> list[str]:
    """`upload_file_list(folder)`, after checking that the folder is a usable Hub model repository.

    Raises:
        HubUploadError: `README.md` has no `model-index`, `config.json` has no `auto_map`, or a module the
            `auto_map` or `custom_pipelines` name is not uploaded.
    """
    folder = Path(folder)
    files = upload_file_list(folder)
    for needed in ("README.md", "config.json"):
        if needed not in files:
            raise HubUploadError(f"{folder} has no {needed}: only a Sync-TVA folder that train.py finished can be published")
    if "model-index" not in (metadata_load(folder / "README.md") or {}):
        raise HubUploadError(f"{folder / 'README.md'} has no model-index in its YAML header")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if not config.get("auto_map"):
        raise HubUploadError(f"{folder / 'config.json'} has no auto_map: the Hub could not load its remote code")
    references = [r for r in config["auto_map"].values() if isinstance(r, str)]
    references += [task["impl"] for task in config.get("custom_pipelines", {}).values()]
    missing = sorted({reference.split(".")[0] + ".py" for reference in references} - set(files))
    if missing:
        raise HubUploadError(f"{folder} lacks {', '.join(missing)}, named by the auto_map or custom_pipelines of its config.json")
    return files


def push_folder(folder: str | os.PathLike, repo_id: str, api: HfApi | None = None) -> CommitInfo:
    """Upload `check_upload(folder)` to the Hub model repository `repo_id` (created when missing).

    Raises:
        HubUploadError: the folder is not publishable (see `check_upload`), the Hub is offline or unreachable, or
            the token is missing or may not write to `repo_id`.
    """
    check_upload(folder)
    api = api or HfApi()
    retry = f"the folder stays complete: upload it later with `hf upload {repo_id} {folder}`"
    try:
        api.create_repo(repo_id, repo_type="model", exist_ok=True)
        return api.upload_folder(
            folder_path=str(folder), repo_id=repo_id, repo_type="model", ignore_patterns=UPLOAD_IGNORE,
            commit_message=COMMIT_MESSAGE,
        )
    except OfflineModeIsEnabled:
        raise HubUploadError(f"cannot push to {repo_id}: HF_HUB_OFFLINE is set; {retry}") from None
    except LocalTokenNotFoundError:
        raise HubUploadError(f"cannot push to {repo_id}: not logged in (`hf auth login` or HF_TOKEN); {retry}") from None
    except HfHubHTTPError as error:
        status = getattr(error.response, "status_code", None)
        if status in (401, 403):
            raise HubUploadError(
                f"cannot push to {repo_id}: the Hub refused the token (HTTP {status}); log in with a token that may "
                f"write there (`hf auth login` or HF_TOKEN); {retry}"
            ) from None
        raise HubUploadError(f"cannot push to {repo_id}: {str(error).splitlines()[0]}; {retry}") from None
    except (httpx.TransportError, OSError) as error:
        raise HubUploadError(f"cannot push to {repo_id}: the Hub is unreachable ({type(error).__name__}); {retry}") from None
