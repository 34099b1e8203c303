"""Evaluation, above the compiler: the Numba level kernels and their scheduler for arithmetic
circuits (`fast`, `schedule`, `kernels`) and the bit-parallel evaluator of boolean circuits
(`boolean`). The reference evaluator, the oracle they are tested against, is `ir.reference`."""
