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
"""Sync-TVA model configuration"""

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec
from transformers.utils import auto_docstring

MODALITIES = ("text", "audio", "visual")
MELD_EMOTIONS = ("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger")
GRAPH_IMPLEMENTATIONS = ("window", "pyg")
"""The values of `graph_implementation`: the keys of the modeling file's `GRAPH_ATTENTION_IMPLEMENTATIONS`."""


def edge_relation_count(speaker_aware: bool, num_distance_buckets: int) -> int:
    """Relations between two nodes: the same utterance, or earlier / later times same / other speaker (one relation
    for both when not `speaker_aware`) times distance buckets."""
    return 1 + 2 * (2 if speaker_aware else 1) * num_distance_buckets


@auto_docstring(checkpoint="synctva-meld")
@strict
class SyncTVAConfig(PreTrainedConfig):
    r"""
    text_feature_size (`int`, *optional*, defaults to 384):
        Size of one utterance's text feature vector (the pooled output of the text encoder).
    audio_feature_size (`int`, *optional*, defaults to 88):
        Size of one utterance's audio feature vector (88 for openSMILE eGeMAPSv02 functionals).
    visual_feature_size (`int`, *optional*, defaults to 342):
        Size of one utterance's visual feature vector.
    modalities (`list[str]`, *optional*, defaults to `["text", "audio", "visual"]`):
        The modalities the model reads, a subset of `text`, `audio`, `visual`. Features of any other modality
        are refused.
    graph_layers (`int`, *optional*, defaults to 2):
        Number of attention layers over the heterogeneous cross-modal utterance graph.
    past_window (`int`, *optional*, defaults to 3):
        Each node receives edges from the utterances up to this many steps earlier in the dialogue.
    future_window (`int`, *optional*, defaults to 3):
        Each node receives edges from the utterances up to this many steps later. With 0 the model is causal:
        an utterance's output never depends on a later utterance, so it can run online.
    speaker_aware_edges (`bool`, *optional*, defaults to `True`):
        Whether edges between different utterances are typed by same speaker / other speaker, besides direction.
    distance_buckets (`list[int]`, *optional*, defaults to `[1]`):
        Edges between different utterances are also typed by how far apart the two are: bucket `k` holds the
        distances `d` with `distance_buckets[k] <= d < distance_buckets[k + 1]`. Increasing, starting at 1; `[1]`
        types every distance alike, `[1, 2, 4, 8]` tells neighbours, near and far utterances apart (for windows
        that reach far).
    graph_implementation (`str`, *optional*, defaults to `"window"`):
        How the graph attention runs, with the same weights either way (a key of `GRAPH_ATTENTION_IMPLEMENTATIONS`
        in the modeling file): `"window"`, the fast kernel over each utterance's window of `past_window` /
        `future_window` utterances; `"pyg"`, a PyTorch Geometric `MessagePassing` layer over an edge list, for any
        graph: the window, the whole dialogue (`whole_dialogue_graph`) and extra edges given to `forward`
        (`extra_edge_index`).
    whole_dialogue_graph (`bool`, *optional*, defaults to `False`):
        Whether every utterance of a dialogue sends to every utterance of it, however far (`past_window` and
        `future_window` then no longer cap the graph; `distance_buckets` still type the edges). Needs
        `graph_implementation="pyg"`.
    hidden_dropout_prob (`float`, *optional*, defaults to 0.1):
        Dropout on hidden states.
    attention_dropout_prob (`float`, *optional*, defaults to 0.1):
        Dropout on graph and fusion attention weights.
    feature_dropout_prob (`float`, *optional*, defaults to 0.0):
        Dropout on each modality's input feature vectors, before their projection: frozen encoder features are
        few per utterance and easy to memorise, and dropping their dimensions regularises the projection.
    modality_dropout_prob (`float`, *optional*, defaults to 0.0):
        During training, the probability of hiding one modality of an utterance (never its last one), so that the
        model learns not to lean on a single modality.
    hidden_act (`str`, *optional*, defaults to `"gelu"`):
        Activation of the feed-forward blocks (a key of `transformers.activations.ACT2FN`).
    graph_attention_negative_slope (`float`, *optional*, defaults to 0.2):
        Negative slope of the LeakyReLU in the graph attention's scores.
    loss_type (`str`, *optional*, defaults to `"cross_entropy"`):
        `"cross_entropy"` (weighted by `class_weights` when given) or `"focal"`.
    class_weights (`list[float]`, *optional*):
        One weight per label for the loss, e.g. inverse class frequencies for imbalanced data.
    focal_gamma (`float`, *optional*, defaults to 2.0):
        Focusing parameter of the focal loss.
    class_priors (`list[float]`, *optional*):
        The training split's label frequencies, for `logit_adjustment`.
    logit_adjustment (`float`, *optional*, defaults to 0.0):
        Logit-adjusted loss (Menon et al., 2021): the loss scores `logits + logit_adjustment * log(class_priors)`,
        while predictions use the plain logits, so frequent classes must win by a margin and rare ones are
        predicted more often. 0 turns it off; 1 aims at a balanced error.
    enhancement_residual (`str`, *optional*, defaults to `"utterance"`):
        What the enhancement's gated update is added to: `"utterance"`, the utterance's own projected features (the
        recurrent context is the gated update), or `"context"`, the recurrent context (the utterance's own
        projection is the gated update, and the recurrence reads dropped-out inputs).
    use_modality_enhancement (`bool`, *optional*, defaults to `True`):
        Whether the modality-specific dynamic enhancement (the paper's MSDE) runs. Off: a projection only.
    use_cross_modal_graph (`bool`, *optional*, defaults to `True`):
        Whether the graph attention layers run. Off: utterances see no context beyond the enhancement summary.
    use_cross_attention_fusion (`bool`, *optional*, defaults to `True`):
        Whether modalities exchange information by cross-attention before the gated combination. Off: the mean
        of the present modalities.
    text_encoder_config (`dict` or `PreTrainedConfig`, *optional*):
        Configuration of a text encoder held by the model, so that it runs from tokens (`input_ids`).
    freeze_text_encoder (`bool`, *optional*, defaults to `True`):
        Whether the held text encoder's weights stay fixed during training.

    Example:

    ```python
    >>> from modeling_synctva import SyncTVAConfig, SyncTVAForEmotionClassification

    >>> configuration = SyncTVAConfig(modalities=["text", "audio"])
    >>> model = SyncTVAForEmotionClassification(configuration)
    ```"""

    model_type = "synctva"
    sub_configs_defaults = {
        "text_encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="bert", optional=True),
    }

    text_feature_size: int = 384
    audio_feature_size: int = 88
    visual_feature_size: int = 342
    modalities: list[str] | tuple[str, ...] = MODALITIES
    hidden_size: int = 128
    intermediate_size: int = 256
    num_attention_heads: int = 4
    graph_layers: int = 2
    past_window: int = 3
    future_window: int = 3
    speaker_aware_edges: bool = True
    distance_buckets: list[int] | tuple[int, ...] = (1,)
    graph_implementation: str = "window"
    whole_dialogue_graph: bool = False
    hidden_dropout_prob: float = 0.1
    attention_dropout_prob: float = 0.1
    feature_dropout_prob: float = 0.0
    enhancement_residual: Literal["utterance", "context"] = "utterance"
    modality_dropout_prob: float = 0.0
    layer_norm_eps: float = 1e-5
    hidden_act: str = "gelu"
    graph_attention_negative_slope: float = 0.2
    initializer_range: float = 0.02
    loss_type: Literal["cross_entropy", "focal"] = "cross_entropy"
    class_weights: list[float] | None = None
    focal_gamma: float = 2.0
    class_priors: list[float] | None = None
    logit_adjustment: float = 0.0
    use_modality_enhancement: bool = True
    use_cross_modal_graph: bool = True
    use_cross_attention_fusion: bool = True
    text_encoder_config: dict | PreTrainedConfig | None = None
    freeze_text_encoder: bool = True

    def __post_init__(self, **kwargs):
        if self.id2label is None and "num_labels" not in kwargs:
            self.id2label = dict(enumerate(MELD_EMOTIONS))
        super().__post_init__(**kwargs)
        if set(self.modalities) - set(MODALITIES) or not self.modalities:
            raise ValueError(f"`modalities` must be a non-empty subset of {MODALITIES}, got {self.modalities}")
        self.modalities = [m for m in MODALITIES if m in self.modalities]
        if self.label2id is None:
            self.label2id = {label: int(index) for index, label in self.id2label.items()}
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"`hidden_size` ({self.hidden_size}) must be divisible by `num_attention_heads` "
                f"({self.num_attention_heads})"
            )
        if self.past_window < 0 or self.future_window < 0:
            raise ValueError(f"windows must be >= 0, got past {self.past_window}, future {self.future_window}")
        for name in ("class_weights", "class_priors"):
            values = getattr(self, name)
            if values is not None and len(values) != self.num_labels:
                raise ValueError(f"`{name}` has {len(values)} entries but there are {self.num_labels} labels")
        if self.logit_adjustment and (self.class_priors is None or min(self.class_priors) <= 0):
            raise ValueError("`logit_adjustment` needs `class_priors`, one positive frequency per label")
        self.distance_buckets = list(self.distance_buckets)
        buckets = self.distance_buckets
        if not buckets or buckets[0] != 1 or any(b >= c for b, c in zip(buckets, buckets[1:])):
            raise ValueError(f"`distance_buckets` must increase strictly from 1, got {buckets}")
        if self.graph_implementation not in GRAPH_IMPLEMENTATIONS:
            raise ValueError(
                f"`graph_implementation` must be one of {GRAPH_IMPLEMENTATIONS}, got {self.graph_implementation!r}"
            )
        if self.whole_dialogue_graph and self.graph_implementation == "window":
            raise ValueError(
                "`whole_dialogue_graph=True` needs `graph_implementation=\"pyg\"`: the window kernel only reaches "
                f"{self.past_window} utterances back and {self.future_window} ahead"
            )
        if self.text_encoder_config is not None:
            self.text_feature_size = self.text_encoder_config.hidden_size

    @property
    def num_edge_relations(self) -> int:
        """Relations between two nodes (see `edge_relation_count`)."""
        return edge_relation_count(self.speaker_aware_edges, len(self.distance_buckets))

    @property
    def num_edge_types(self) -> int:
        """Edge types: (source modality, target modality) pairs times relations."""
        return len(MODALITIES) ** 2 * self.num_edge_relations

    @property
    def is_causal(self) -> bool:
        """Whether no utterance's output depends on a later utterance (`future_window=0`, window graph)."""
        return self.future_window == 0 and not self.whole_dialogue_graph


__all__ = ["SyncTVAConfig", "edge_relation_count"]
