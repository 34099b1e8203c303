"""`rc.imm_program`: the 4-layer RWKV-7 program of Thm 10 that computes 3x3 iterated matrix
products over the integers (Merrill et al. 2026, App. C.3; PNC1-hardness of DPLR LRNNs).

Where this sits: the front end, beside `automata`. It builds an ordinary `rc.program` whose
four `rc.scan` layers are RWKV-7 heads in the paper's row convention,
S_t = S_{t-1} (diag(w_t) - kappa_t (a_t * kappa_t)^T) + v_t k_t^T, every parameter a
position-wise function of the layer's input; the router is layers, not precomputed inputs.

The input is one integer per position: matrix entries, 9 per matrix, row-major. At t = 9N the
output (9 values) is vec(A_1 A_2 ... A_N).

* Layer 1, the clock: a 3-dimensional time-invariant head, w = (-1, 0, 1),
  kappa = (0, 1, 1), a = (0, -1, 3): the sign (-1)^t, and a rank-one perturbation of
  diag(0, 1) with characteristic polynomial x^2 + x + 1, an integer rotation of order 3. A
  position-wise readout turns them into t mod 2 and t mod 3 (one-hot: the 3 states project
  to -1, 0, 1, read by Lagrange polynomials with the dyadic constant 1/2).
* Layer 2, the slow clock: the same rotation, applied only where t mod 3 = 0 (w, a gated by
  that bit): floor(t / 3) mod 3. With layer 1 it gives t mod 9, and t mod 18 by the Chinese
  remainder theorem (Peng et al.'s t mod 2m with m = 9, here with integer rotations: a
  rational rotation of order 9 or 18 does not exist in 2 dimensions, and the order-18 DPLR
  matrices need non-integer entries).
* Layer 3, the window: 18 slots, token t overwrites slot t mod 18 (w = 1 - e_(t mod 18),
  a = 0, v k^T = x_t e_(t mod 18): a diagonal head, which the lowering combines elementwise);
  the finite-window lookup of Peng et al. Lemma 7. Its h_0 holds vec(I) as the "block
  before the first", so the first block multiplies by I.
* Layer 4, the arithmetic: an 18-dimensional row state [x^(0) | x^(1)], h_0 = [vec(I) | 0].
  During block N (offset o = (t - 1) mod 9, (i, j) = divmod(o, 3), active half
  b = ((t - 1) mod 18) // 9) the overwrite U(dst; c) of Lemma 5 (w = 1, a = e_dst,
  kappa = e_dst - c) writes x^(1-b)[3i + j] = sum_k x^(b)[3i + k] A_(N-1)[k, j]: nine
  overwrites a block apply B(A_(N-1)) one block late, the previous matrix read from the
  window.
* Readout at t = 9N: the completion with the block just read, vec(P_(N-1) A_N) (0 elsewhere).

Every layer is log n deep on a prefix circuit (Thm 3), against the unrolled circuit's linear
depth. Layer 1 reads no input and folds to constants; the position-wise readouts between the
layers are built per position as gates, so layers 2 and 3 are circuits too, small beside
layer 4, whose 18 x 18 products are most of the size.
"""

from __future__ import annotations

import numpy as np

from rnncirc.frontend.functions import concat
from rnncirc.frontend.model import rnn
from rnncirc.frontend.program import Program, program, scan

#: the order-3 integer rotation diag(0, 1) - 1 c^T and its start, chosen so that the orbit
#: projects to -1, 0, 1 under PROJECT
ROTATION_DIAG = np.array([0.0, 1.0])
ROTATION_C = np.array([-1.0, 3.0])
ROTATION_START = np.array([0.0, 1.0])
PROJECT = np.array([-2.0, -1.0])
PERIOD = 18


def _third(state):
    """One-hot of the rotation's phase k (0, 1, 2) from its state: s = k - 1."""
    s = state @ PROJECT
    return concat([(s * (s - 1) * 0.5).reshape(1), (1 - s * s).reshape(1),
                   (s * (s + 1) * 0.5).reshape(1)])


def _tables():
    """Per phase k = t mod 18: the overwrite's dst (one-hot), the window slots that c reads,
    and the half and window slots the readout reads."""
    dst = np.zeros((PERIOD, 18))
    c_from = np.zeros((PERIOD, 18, 18))  # c = C[k] @ window
    half = np.zeros((PERIOD, 9, 18))  # the finished half at a block end
    block = np.zeros((PERIOD, 9, 18))  # vec of the block just read, from the window
    for k in range(PERIOD):
        m = (k - 1) % PERIOD
        b, o = divmod(m, 9)
        i, j = divmod(o, 3)
        dst[k, 9 * (1 - b) + 3 * i + j] = 1.0
        for kk in range(3):  # A_prev[kk, j] was token t - o - 9 + 3 kk + j
            c_from[k, 9 * b + 3 * i + kk, (k - o - 9 + 3 * kk + j) % PERIOD] = 1.0
        if o == 8:  # t = 9N: the product so far is in half 1 - b, A_N is in the window
            for e in range(9):
                half[k, e, 9 * (1 - b) + e] = 1.0
                block[k, e, (k - 8 + e) % PERIOD] = 1.0
    return dst, c_from, half, block


def imm_program(*, name: str = "rwkv7_imm") -> Program:
    """The 4-layer RWKV-7 program of Thm 10: 3x3 iterated matrix products.

    Returns
    -------
    A `Program` with one real input per position (matrix entries, row-major, 9 per matrix)
    and 9 outputs per position: at t = 9N, vec(A_1 ... A_N) (0 at other positions).
    Integer entries give integer products, exact in float64 below 2^53 and exactly modulo a
    prime with ``Circuit.evaluate(xs, modulus=p)``.

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> imm = rc.imm_program()
    >>> mats = np.array([[[1, 1, 0], [0, 1, 0], [0, 0, 1]], [[1, 0, 0], [2, 1, 0], [0, 0, 1]]])
    >>> out = imm.run(mats.reshape(-1, 1).astype(float))
    >>> out[17].reshape(3, 3).astype(int).tolist()  # A_1 A_2
    [[3, 1, 0], [2, 1, 0], [0, 0, 1]]
    >>> [cls.kind for _, cls in rc.classify(imm).layers]
    ['dplr', 'dplr', 'diagonal', 'dplr']
    """
    dst_of, c_from, half_of, block_of = _tables()
    kappa_clock = np.array([0.0, 1.0, 1.0])
    a_clock = np.concatenate([[0.0], ROTATION_C])
    window_start = np.zeros(PERIOD)
    window_start[[(e - 8) % PERIOD for e in range(9)]] = np.eye(3).ravel()
    arithmetic_start = np.concatenate([np.eye(3).ravel(), np.zeros(9)])

    @rnn(state=3, inputs=1, init=np.concatenate([[1.0], ROTATION_START]), name="clock")
    def clock(h, x):
        w = np.concatenate([[-1.0], ROTATION_DIAG]) + 0.0 * x
        return h * w - (h @ kappa_clock) * (a_clock * kappa_clock)

    @rnn(state=2, inputs=1, init=ROTATION_START, name="slow_clock")
    def slow_clock(h, g):
        w = g * ROTATION_DIAG + (1 - g)
        kappa = np.ones(2)
        return h * w - (h @ kappa) * (g * ROTATION_C * kappa)

    @rnn(state=PERIOD, inputs=PERIOD + 1, init=window_start, name="window")
    def window(h, u):
        slot, x = u[:PERIOD], u[PERIOD]
        return h * (1 - slot) + x * slot  # w = 1 - e_slot, no removal term: diagonal

    @rnn(state=18, inputs=36, init=arithmetic_start, name="arithmetic")
    def arithmetic(h, u):
        dst, c = u[:18], u[18:]
        kappa = dst - c
        return h - (h @ kappa) * (dst * kappa)

    @program(inputs=1, name=name)
    def imm(x):
        fast = scan(clock, x)
        parity = concat([(0.5 + 0.5 * fast[0]).reshape(1), (0.5 - 0.5 * fast[0]).reshape(1)])
        third = _third(fast[1:])
        slow = _third(scan(slow_clock, third[0].reshape(1)))
        ninth = (slow.reshape(3, 1) * third.reshape(1, 3)).reshape(9)
        phase = concat([(parity[k % 2] * ninth[k % 9]).reshape(1) for k in range(PERIOD)])
        seen = scan(window, concat([phase, x]))
        dst = phase @ dst_of
        c = phase @ (c_from @ seen)
        state = scan(arithmetic, concat([dst, c]))
        product = (phase @ (half_of @ state)).reshape(3, 3)
        last = (phase @ (block_of @ seen)).reshape(3, 3)
        return (product @ last).reshape(9)

    return imm
