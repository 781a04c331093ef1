"""The measuring engine: hooks, recorder, liveness, costs, device rules, traces. It knows no model."""
