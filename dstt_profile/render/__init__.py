"""Renderers: records in, text out. None of them sees the model."""
