"""Model profiles: what the engine needs to know about a model, and nothing more."""
