"""Circuit evaluation: the numpy reference evaluator (and, later, fast kernels)."""
