"""Helpers of `train.py`: atomic checkpoints, the GRU baseline, fine-tuning the text encoder, plots, the model card."""
