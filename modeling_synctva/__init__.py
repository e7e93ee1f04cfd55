"""Sync-TVA for Hugging Face transformers: importing this package registers it with the Auto classes."""

from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification

from .configuration_synctva import SyncTVAConfig
from .modeling_synctva import SyncTVAForEmotionClassification, SyncTVAModel, SyncTVAPreTrainedModel

AutoConfig.register(SyncTVAConfig.model_type, SyncTVAConfig)
AutoModel.register(SyncTVAConfig, SyncTVAModel)
AutoModelForTokenClassification.register(SyncTVAConfig, SyncTVAForEmotionClassification)
SyncTVAConfig.register_for_auto_class()
SyncTVAModel.register_for_auto_class("AutoModel")
SyncTVAForEmotionClassification.register_for_auto_class("AutoModelForTokenClassification")

__all__ = ["SyncTVAConfig", "SyncTVAModel", "SyncTVAForEmotionClassification", "SyncTVAPreTrainedModel"]
