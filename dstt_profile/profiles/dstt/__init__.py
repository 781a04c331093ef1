"""The DSTT profile: stage map, formulas, seed table, checkpoints."""
