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
"""Utterances per second of feature extraction: MiniLM text features on real MELD text, and openSMILE eGeMAPSv02
audio features on espeak-ng speech of MELD utterances (file decoding and resampling 22050 -> 16000 Hz included).

Wall-clock rates depend on what else runs on the machine, so the report also gives utterances per CPU second of this
process and the load average around the run.

    python bench/extract_speed.py --text-utterances 2000 --audio-utterances 100
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

import soundfile
import torch

from datasets_scripts import load_meld
from datasets_scripts.extract_features import encode_texts, load_text_encoder
from modeling_synctva.feature_extraction_synctva import SyncTVAFeatureExtractor, load_waveform
from modeling_synctva.processing_synctva import default_text_encoder


def meld_utterances(count: int) -> list[str]:
    """The first `count` utterances of MELD's training split, in dialogue order."""
    texts = [text for row in load_meld()["train"]["utterances"] for text in row]
    return texts[:count]


def bench_text(texts: list[str], batch_size: int, max_length: int) -> dict:
    """Mean-pooled MiniLM features of `texts` (one warm-up batch first); utterances per second."""
    tokenizer, model = load_text_encoder(default_text_encoder(), "cpu")
    encode_texts(texts[:batch_size], tokenizer, model, batch_size, max_length, "warm-up")
    start, cpu_start = time.perf_counter(), time.process_time()
    encode_texts(texts, tokenizer, model, batch_size, max_length, "text")
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "utterances": len(texts),
        "batch_size": batch_size,
        "seconds": seconds,
        "per_second": len(texts) / seconds,
        "cpu_seconds": cpu_seconds,
        "per_cpu_second": len(texts) / cpu_seconds,
    }


def bench_audio(texts: list[str]) -> dict:
    """eGeMAPSv02 features of espeak-ng renderings of `texts`, read from wav files; utterances per second and
    seconds of speech per second."""
    extractor = SyncTVAFeatureExtractor()
    with tempfile.TemporaryDirectory() as folder:
        clips = []
        for index, text in enumerate(texts):
            clips.append(os.path.join(folder, f"{index}.wav"))
            subprocess.run(["espeak-ng", "-w", clips[-1], text], check=True, capture_output=True)
        speech = sum(soundfile.info(clip).duration for clip in clips)
        extractor.encode([extractor.prepare_waveform(*load_waveform(clips[0]))])  # warm-up
        start, cpu_start = time.perf_counter(), time.process_time()
        for clip in clips:
            extractor.encode([extractor.prepare_waveform(*load_waveform(clip))])
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "utterances": len(clips),
        "speech_seconds": speech,
        "seconds": seconds,
        "per_second": len(clips) / seconds,
        "speech_seconds_per_second": speech / seconds,
        "cpu_seconds": cpu_seconds,
        "per_cpu_second": len(clips) / cpu_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text-utterances", type=int, default=2000)
    parser.add_argument("--audio-utterances", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()

    texts = meld_utterances(max(args.text_utterances, args.audio_utterances))
    report = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_before": os.getloadavg(),
        "text_minilm": bench_text(texts[: args.text_utterances], args.batch_size, args.max_length),
    }
    if shutil.which("espeak-ng"):
        report["audio_egemaps"] = bench_audio(texts[: args.audio_utterances])
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
