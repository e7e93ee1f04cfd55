"""Sync-TVA for Hugging Face transformers: importing this package registers it with the Auto classes and registers
the `emotion-recognition-in-conversation` pipeline task."""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForTokenClassification, AutoProcessor

from .configuration_synctva import SyncTVAConfig
from .feature_extraction_synctva import SyncTVAFeatureExtractor
from .modeling_synctva import SyncTVAForEmotionClassification, SyncTVAModel, SyncTVAPreTrainedModel
from .pipeline_synctva import EmotionRecognitionInConversationPipeline
from .processing_synctva import SyncTVAProcessor

AutoConfig.register(SyncTVAConfig.model_type, SyncTVAConfig)
AutoModel.register(SyncTVAConfig, SyncTVAModel)
AutoModelForTokenClassification.register(SyncTVAConfig, SyncTVAForEmotionClassification)
AutoProcessor.register(SyncTVAConfig, SyncTVAProcessor)
AutoFeatureExtractor.register(SyncTVAConfig, SyncTVAFeatureExtractor)
SyncTVAConfig.register_for_auto_class()
SyncTVAModel.register_for_auto_class("AutoModel")
SyncTVAForEmotionClassification.register_for_auto_class("AutoModelForTokenClassification")

__all__ = [
    "EmotionRecognitionInConversationPipeline",
    "SyncTVAConfig",
    "SyncTVAModel",
    "SyncTVAForEmotionClassification",
    "SyncTVAPreTrainedModel",
    "SyncTVAProcessor",
    "SyncTVAFeatureExtractor",
]
