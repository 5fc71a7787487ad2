"""Offline developer tools; not imported by the app or the ``finetune`` runtime package."""
