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
"""A plain context baseline for the comparison with Sync-TVA: a bidirectional GRU over the dialogue's utterances.

It reads the same features and is trained by the same loop and loss as Sync-TVA, so the difference in scores is
the difference between a graph over modalities and a recurrent pass over concatenated features.
"""

import torch
from torch import nn
from transformers.modeling_outputs import TokenClassifierOutput

from modeling_synctva.configuration_synctva import MODALITIES, SyncTVAConfig
from modeling_synctva.modeling_synctva import emotion_classification_loss


class BiGRUContextClassifier(nn.Module):
    r"""Concatenated modality features, a projection, a bidirectional GRU over the utterances, a classifier.

    .. math::
        \mathbf{h}_i = \mathrm{ReLU}(\mathbf{W} \mathrm{Dropout}_f[\mathbf{x}^t_i ; \mathbf{x}^a_i ; \mathbf{x}^v_i]), \quad
        \mathbf{u}_i = \mathrm{BiGRU}(\mathbf{h}_1, \dots, \mathbf{h}_N)_i, \quad
        \mathbf{y}_i = \mathbf{W}_c \mathbf{u}_i

    :math:`\mathrm{Dropout}_f` is Sync-TVA's feature dropout (`config.feature_dropout_prob`), so both models are
    regularised alike. An absent modality contributes zeros. Each GRU direction has `hidden_size / 2` units, so the context states
    have Sync-TVA's hidden size. Speakers are not used. Loss and label handling are Sync-TVA's
    (`emotion_classification_loss`, reading `loss_type`, `class_weights` and `focal_gamma` from `config`).

    Shapes:
        features (B, N, F_m) per modality, attention_mask (B, N), labels (B, N) -> logits (B, N, num_labels)
    """

    def __init__(self, config: SyncTVAConfig):
        super().__init__()
        if config.hidden_size % 2:
            raise ValueError(f"the GRU baseline needs an even `hidden_size`, got {config.hidden_size}")
        self.config = config
        input_size = sum(getattr(config, f"{modality}_feature_size") for modality in config.modalities)
        self.feature_dropout = nn.Dropout(config.feature_dropout_prob)
        self.projection = nn.Linear(input_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.context = nn.GRU(config.hidden_size, config.hidden_size // 2, batch_first=True, bidirectional=True)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(
        self,
        attention_mask: torch.Tensor,
        modality_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **inputs,
    ) -> TokenClassifierOutput:
        parts = []
        for index, modality in enumerate(MODALITIES):
            if modality not in self.config.modalities:
                continue
            features = inputs[f"{modality}_features"]
            if modality_mask is not None:
                features = features * modality_mask[..., index : index + 1].to(features.dtype)
            parts.append(features)
        states = self.dropout(torch.relu(self.projection(self.feature_dropout(torch.cat(parts, dim=-1)))))
        lengths = attention_mask.sum(dim=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(states, lengths, batch_first=True, enforce_sorted=False)
        context, _ = self.context(packed)
        context, _ = nn.utils.rnn.pad_packed_sequence(context, batch_first=True, total_length=states.shape[1])
        logits = self.classifier(self.dropout(context))
        loss = emotion_classification_loss(logits, labels, self.config) if labels is not None else None
        return TokenClassifierOutput(loss=loss, logits=logits)
