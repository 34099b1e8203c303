"""Evaluation, above the compiler: the scheduler (`schedule`, one module per concern, tuned
by `ScheduleOptions`), the instruction set it writes and the kernels read (`isa`), the Numba
level kernels (`kernels`), the `Evaluator` (`fast`), and the bit-parallel evaluator of boolean
circuits (`boolean`). The reference evaluator, the oracle they are tested against, is
`ir.reference`."""
