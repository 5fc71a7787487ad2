"""Base models, adapters and inference for LoRA Playground."""
