"""Helpers of `train.py`: atomic checkpoints, the GRU baseline, the ERC metrics, fine-tuning the text encoder, plots, the model card."""
