"""The evaluator's instruction set: what a `Schedule` holds and the kernels execute.

Where this sits: between the scheduler (`rnncirc.eval.schedule`), which writes these
opcodes, segment kinds and instruction fields into its arrays, and the kernels
(`rnncirc.eval.kernels`), which read them. Both import this module and nothing of each other,
so the contract between them is written down once, here, and the kernels stay independent of
how a schedule is built. Tuning choices of the scheduler live elsewhere
(`rnncirc.eval.schedule.options.ScheduleOptions`); everything here is a fact both sides must
agree on.

Numba freezes these constants into the compiled code; the kernels' on-disk cache is keyed by
this file too (`rnncirc.ir.kernel_cache`), so a change here recompiles them.
"""

from __future__ import annotations

import numpy as np

from rnncirc.ir.ops import ARITY, N_OPS, Op

# -- the circuit's gate ops as the kernels test them -------------------------------------------
#: plain ints, which Numba compiles as constants
ADD, SUB, MUL, DIV = int(Op.ADD), int(Op.SUB), int(Op.MUL), int(Op.DIV)
MAX, MIN = int(Op.MAX), int(Op.MIN)
LT, LE, GT, GE, EQ, NE = int(Op.LT), int(Op.LE), int(Op.GT), int(Op.GE), int(Op.EQ), int(Op.NE)
NEG, TANH, SIGMOID, RELU = int(Op.NEG), int(Op.TANH), int(Op.SIGMOID), int(Op.RELU)
EXP, LOG, SQRT, ABS = int(Op.EXP), int(Op.LOG), int(Op.SQRT), int(Op.ABS)
SOFTPLUS, SILU, SELECT = int(Op.SOFTPLUS), int(Op.SILU), int(Op.SELECT)
#: ops the modulo-p kernels implement (`rnncirc.eval.fast` refuses a circuit with others)
MODP_OPS = frozenset({ADD, SUB, MUL, NEG})

# -- opcodes beyond the circuit's gate ops -----------------------------------------------------
#: a fused tree of one instruction ``a*b + c``: a gate of arity 3, which can sit in affine and
#: strided segments like any gate (`rnncirc.eval.schedule.fusion`)
MULADD = N_OPS
#: a fused tree of several instructions: scheduled as one gate, run as a program
PROGRAM = N_OPS + 1
#: ops a schedule's gates may have (``run_op``): the circuit's, MULADD and PROGRAM
N_EVAL_OPS = N_OPS + 2
#: arity of every op a schedule's gates may have (a program reads its own list of leaves)
EVAL_ARITY = np.concatenate([ARITY, np.array([3, 0], dtype=ARITY.dtype)])
#: program instructions beyond ADD, SUB, MUL and MULADD: the balanced sums of products
#: ``a*b + c*d`` and ``(a*b + c*d) + (e*f + g*h)``, each op rounded as in the circuit
DOT2 = N_OPS + 2
DOT4 = N_OPS + 3
#: the deepest balanced sum of products one instruction evaluates (fold 3: DOT4, 4 products)
MAX_FOLD = 3

# -- segments: the runs of one op a step is cut into (``run_kind``) ----------------------------
#: each gate reads its operand and result rows from the index arrays ``ga, gb, gc, go``
INDEXED = 0
#: operands and results are contiguous blocks of rows: one long vector loop, no indices
AFFINE = 1
#: every row moves by a constant stride per operand from gate to gate: computed, no indices
STRIDED = 2
#: a run of groups of fused-tree programs (``run_idx``: its first group)
PROGRAMS = 3
#: an affine segment whose results are outputs nothing reads back: stored past the caches
STREAMED = 4
#: columns of ``run_base`` and ``run_stride`` (a strided or affine segment's first rows and
#: their strides): the operands a, b, c and the result
SEG_A, SEG_B, SEG_C, SEG_OUT = 0, 1, 2, 3
#: ops whose affine segments may be STREAMED (the kernels have non-temporal forms of these)
STREAMABLE = np.zeros(N_EVAL_OPS, dtype=np.bool_)
STREAMABLE[[int(Op.ADD), int(Op.SUB), int(Op.MUL), MULADD]] = True

# -- instructions of fused trees ---------------------------------------------------------------
#: fields of an instruction (a row of ``fi``): up to 8 operand rows, then the result's
N_FIELDS = 9
OUT = 8
#: columns of a group (a row of ``grp``): its first group instruction and its size G
GRP_FIRST, GRP_SIZE = 0, 1
#: columns of a group instruction (a row of ``gi``): its op; 1 when its rows are read from
#: index rows of ``fi`` (one per program), 0 when they are first row + program * stride; bit f
#: set when field f is a scratch row (moved per task); its first index row; then N_FIELDS
#: first rows and N_FIELDS strides
GI_OP, GI_INDEXED, GI_SCRATCH, GI_ROW = 0, 1, 2, 3
GI_FIRST = 4
GI_STRIDE = GI_FIRST + N_FIELDS
GI_COLUMNS = GI_STRIDE + N_FIELDS
