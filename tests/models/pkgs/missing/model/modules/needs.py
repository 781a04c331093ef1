import dstt_test_absent_dependency  # noqa: F401  (installed nowhere)
