"""The fast evaluator against the numpy reference evaluator and against RNN.run."""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnncirc as rc
from rnncirc.errors import InputError, OptionError, RnncircError
from rnncirc.eval.fast import Evaluator, evaluate_fast, get_schedule
from rnncirc.eval.isa import AFFINE, STREAMED, STRIDED
from rnncirc.eval.schedule import ScheduleOptions
from rnncirc.ir.ops import ARITY, LIBM_OPS, LIBM_ULPS, Op
from rnncirc.ir.reference import evaluate_reference

from ..conftest import example
from ..models import LINEAR
from .circuits import GATE_OPS, circuits, make_circuit

EXAMPLES = ["elman", "gru", "lstm", "mamba", "linear_attention", "parity"]
BATCHES = [1, 3, 8, 17]
#: options that tile even the small circuits of these tests
TILED = ScheduleOptions(tile_when_wider=16, tile_gates=8)


def random_inputs(model, n, batch, seed=0):
    rng = np.random.default_rng(seed)
    if model.alphabet:
        return rng.integers(0, model.alphabet, size=(batch, n))
    return rng.normal(size=(batch, n, model.input_size))


def assert_close(got, expected, rtol=1e-9):
    scale = max(1.0, float(np.nanmax(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale)


# -- every example, every batch shape, both topologies ------------------------------------------
@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("topology", ["sequential", "auto"])
def test_examples_match_reference_and_run(name, topology):
    model = example(name)
    for n in (1, 6):
        circuit = rc.compile(model, n, topology=topology)
        for batch in BATCHES:
            xs = random_inputs(model, n, batch, seed=batch)
            values, _ = circuit.check_inputs(xs)
            fast = evaluate_fast(circuit, values)
            np.testing.assert_array_equal(fast.shape, (batch,) + circuit.outputs.shape)
            assert_close(fast, evaluate_reference(circuit, values))
            assert_close(circuit.evaluate(xs), model.run(xs))
        assert_close(circuit.evaluate(xs[0]), model.run(xs[0]))  # unbatched


@pytest.mark.parametrize("name", sorted(LINEAR))
def test_linear_kinds_every_topology(name):
    model = LINEAR[name][0]
    xs = random_inputs(model, 9, 5, seed=3)
    expected = model.run(xs)
    for topology in ("sequential", "sklansky", "brent-kung", "ladner-fischer", "kogge-stone",
                     "han-carlson"):
        for outputs in ("all", "last"):
            circuit = rc.compile(model, 9, topology=topology, outputs=outputs)
            got = circuit.evaluate(xs)
            assert_close(got, expected if outputs == "all" else expected[:, -1])
            assert_close(got, circuit.evaluate(xs, method="reference"))


def test_outputs_last_shapes():
    model = example("elman")
    circuit = rc.compile(model, 5, outputs="last")
    xs = random_inputs(model, 5, 3)
    assert circuit.evaluate(xs).shape == (3,) + model.state_shape
    assert circuit.evaluate(xs[0]).shape == model.state_shape
    assert_close(circuit.evaluate(xs), model.run(xs)[:, -1])


def test_single_level_circuit_and_leaf_outputs():
    # h_t = 2 x_t + 1: one level; h_0 never read; outputs of n = 1 at level 1
    @rc.rnn(state=2, inputs=2)
    def affine_in_x(h, x):
        return 2.0 * x + 1.0

    for n in (1, 4):
        circuit = rc.compile(affine_in_x, n, topology="sequential")
        xs = random_inputs(affine_in_x, n, 3)
        assert circuit.depth <= 2
        assert_close(circuit.evaluate(xs), affine_in_x.run(xs))

    # passthrough state: the outputs are inputs and constants (depth 0, no gates at all)
    @rc.rnn(state=2, inputs=1, init=np.array([5.0, 7.0]))
    def shift(h, x):
        return rc.concat([x, h[:1]])

    circuit = rc.compile(shift, 1)
    assert circuit.size == 0
    xs = random_inputs(shift, 1, 4)
    np.testing.assert_array_equal(circuit.evaluate(xs), shift.run(xs))


# -- random circuits -----------------------------------------------------------------------------
@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(circuit=circuits(), batch=st.sampled_from([1, 2, 3, 8, 9]), seed=st.integers(0, 99))
def test_random_circuits_match_reference(circuit, batch, seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(batch, circuit.inputs.size)) * 2
    with np.errstate(all="ignore"):
        ref = evaluate_reference(circuit, values)
    got = evaluate_fast(circuit, values)
    assert got.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(ref)], ref[~finite & ~np.isnan(ref)])
    np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-9, atol=1e-12)


SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, np.inf, -np.inf, np.nan, 1e-310, 700.0,
                    -700.0, 1e308, 40.0, -40.0, 3.0])


@pytest.mark.parametrize("op", GATE_OPS, ids=lambda op: op.name.lower())
def test_op_semantics_on_special_values(op):
    """Each op on every pair of special values equals the numpy semantics: bit for bit for the
    ops IEEE arithmetic defines exactly, within `LIBM_ULPS` for those a math library computes
    (numpy's SIMD exp on AVX-512 and libm's differ in the last bit), and exactly wherever a
    result is NaN, infinite or zero."""
    x, y = np.meshgrid(SPECIAL, SPECIAL)
    triples = np.stack([x.ravel(), y.ravel(), np.roll(x.ravel(), 5)], axis=1)
    gates = [(op, 3 * i, 3 * i + 1, 3 * i + 2) for i in range(len(triples))]
    n_in = triples.size
    circuit = make_circuit([], len(triples), 3, gates, n_in + np.arange(len(gates)))
    for batch in (1, 3, 8):
        values = np.stack([np.roll(triples.ravel(), 3 * j) for j in range(batch)])
        with np.errstate(all="ignore"):
            ref = evaluate_reference(circuit, values)
        got = evaluate_fast(circuit, values)
        assert_same_op_results(op, got, ref)


def assert_same_op_results(op, got, ref):
    """`got` equals `ref` as two evaluations of `op` must (see `ops.LIBM_OPS`)."""
    if op not in LIBM_OPS:
        same = (got.view(np.int64) == ref.view(np.int64)) | (np.isnan(got) & np.isnan(ref))
        assert same.all(), (got[~same], ref[~same])
        return
    assert_within_ulps(got, ref, LIBM_ULPS)


@pytest.mark.parametrize("op", LIBM_OPS, ids=lambda op: op.name.lower())
def test_library_ops_within_the_stated_ulps(op):
    """The kernels' math-library ops agree with numpy's within `LIBM_ULPS` over the whole
    range, overflow and underflow boundaries included, in float64."""
    rng = np.random.default_rng(int(op))
    x = np.concatenate([rng.normal(size=4000) * scale for scale in (1e-3, 1.0, 10.0, 100.0)]
                       + [rng.uniform(-746.0, 710.0, 4000),
                          np.nextafter(709.782712893384, [-np.inf, np.inf]),
                          [-745.1332191019412, -745.1332191019411, -708.4, 708.4, 1e-310]])
    if op == Op.LOG:
        x = np.abs(x)
    circuit = make_circuit([], len(x), 1, [(op, i, i, i) for i in range(len(x))],
                           len(x) + np.arange(len(x)))
    with np.errstate(all="ignore"):
        ref = evaluate_reference(circuit, x[None, :])
    for batch in (1, 8):
        got = evaluate_fast(circuit, np.repeat(x[None, :], batch, axis=0))
        assert_within_ulps(got, np.repeat(ref, batch, axis=0), LIBM_ULPS)


def test_the_ulp_check_fails_beyond_its_bound():
    ref = np.array([1.0, 3e-300, -2.5e10, 0.0, np.inf, np.nan])
    assert_within_ulps(ref.copy(), ref, 0)
    off = ref.copy()
    off[:3] = [np.nextafter(v, np.inf) for v in ref[:3]]
    assert_within_ulps(off, ref, 1)
    for i in range(3):
        far = ref.copy()
        far[i] += (LIBM_ULPS + 1) * np.spacing(ref[i])
        with pytest.raises(AssertionError, match="ulps"):
            assert_within_ulps(far, ref, LIBM_ULPS)
    for special in (-0.0, -np.inf, 1.0):
        wrong = ref.copy()
        wrong[3 if special == -0.0 else 4] = special
        with pytest.raises(AssertionError, match="special"):
            assert_within_ulps(wrong, ref, LIBM_ULPS)


def assert_within_ulps(got, ref, ulps: int):
    """Finite non-zero results within `ulps` units in the last place of the larger; NaN,
    infinities and zeros (with their sign) exactly where `ref` has them."""
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape
    special = ~np.isfinite(ref) | ~np.isfinite(got) | (ref == 0) | (got == 0)
    same = (got.view(np.int64) == ref.view(np.int64)) | (np.isnan(got) & np.isnan(ref))
    assert same[special].all(), ("special values differ", got[special & ~same],
                                 ref[special & ~same])
    g, r = got[~special], ref[~special]
    distance = np.abs(g - r) / np.spacing(np.maximum(np.abs(g), np.abs(r)))
    worst = int(np.argmax(distance)) if distance.size else 0
    assert (np.sign(g) == np.sign(r)).all() and (distance <= ulps).all(), \
        (f"{distance[worst]:.0f} ulps apart (bound {ulps})", g[worst], r[worst])


# -- dtypes ---------------------------------------------------------------------------------
def test_float32_close_to_float64():
    for name in ("gru", "mamba"):
        model = example(name)
        circuit = rc.compile(model, 20)
        xs = random_inputs(model, 20, 8)
        got = circuit.evaluate(xs, dtype="float32")
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, circuit.evaluate(xs), rtol=1e-3, atol=1e-4)


def test_bad_options():
    circuit = rc.compile(example("elman"), 3)
    xs = random_inputs(example("elman"), 3, 2)
    with pytest.raises(OptionError, match="dtype"):
        circuit.evaluate(xs, dtype="float16")
    with pytest.raises(RnncircError, match="unknown evaluation method"):
        circuit.evaluate(xs, method="magic")
    with pytest.raises(RnncircError, match="float64 only"):
        circuit.evaluate(xs, method="reference", dtype="float32")
    with pytest.raises(InputError):
        circuit.evaluate(xs[:, :2])


# -- threads: the three modes give the same numbers ------------------------------------------
def test_modes_serial_lanes_wide_agree():
    model = LINEAR["diagonal"][0]
    circuit = rc.compile(model, 64, topology="brent-kung")
    xs = random_inputs(model, 64, 40)
    values, _ = circuit.check_inputs(xs)
    ref = evaluate_reference(circuit, values)
    threads = numba.get_num_threads()
    results = {}
    for threshold in (1 << 40, 1):  # never wide / every level wide
        for batch in (8, 40):  # one lane chunk / several
            evaluator = Evaluator(circuit, wide_threshold=threshold)
            mode, _, _ = evaluator.plan(batch)
            out = evaluator.run(np.ascontiguousarray(values[:batch].T))
            results[(mode, batch)] = out
            np.testing.assert_allclose(out.T, ref[:batch].reshape(batch, -1), rtol=1e-12)
    if threads > 1:
        assert {mode for mode, _ in results} == {"serial", "lanes", "levels"}


def test_time_major_and_batch_major_layouts_agree():
    model = example("mamba")
    circuit = rc.compile(model, 16)
    xs = random_inputs(model, 16, 8)
    values, _ = circuit.check_inputs(xs)
    evaluator = Evaluator(circuit, dtype="float32")
    X = values.astype(np.float32)
    a = evaluator.run(np.ascontiguousarray(X.T))  # time-major: vector copies
    b = evaluator.run(X.T)  # the caller's (batch, slots) array, read in place
    out = np.empty((8, a.shape[0]), dtype=np.float32)
    evaluator.run(X.T, out.T)  # preallocated output in the caller's layout
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, out.T)


def test_progress_callback_reaches_the_end():
    model = example("gru")
    circuit = rc.compile(model, 12)
    xs = random_inputs(model, 12, 2)
    values, _ = circuit.check_inputs(xs)
    calls = []
    got = evaluate_fast(circuit, values, progress=lambda done, total: calls.append((done, total)),
                        segment_gates=5000)
    assert len(calls) > 1
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1][0] == calls[-1][1] == get_schedule(circuit).n_gates
    assert_close(got, evaluate_reference(circuit, values))


# -- memory ----------------------------------------------------------------------------------------
def test_register_file_follows_live_values_not_circuit_size():
    model = example("gru")
    short, long = rc.compile(model, 20), rc.compile(model, 200)
    s_short, s_long = get_schedule(short), get_schedule(long)
    assert s_long.n_regs < 1.2 * s_short.n_regs  # flat in n
    stats = Evaluator(long).stats(8)
    assert stats.peak_bytes == s_long.n_regs * 8 * 8
    assert stats.peak_bytes * 20 < stats.naive_bytes


def test_register_count_is_the_peak_of_live_values():
    """n_regs equals the most values alive at once for the placement the schedule used,
    recounted here from first principles (for both placements one must match); inputs and
    outputs have rows of their own and take no register."""
    from rnncirc.eval.schedule import build_schedule

    model = example("lstm")
    circuit = rc.compile(model, 5)
    s = build_schedule(circuit, fuse=False)  # fused trees keep their inner values off it
    counts = []
    for late in (False, True):
        counts.append(_peak_live(circuit, late))
    assert s.n_regs in counts
    assert s.n_regs == min(counts)
    assert get_schedule(circuit).n_regs <= s.n_regs


def _peak_live(circuit, late: bool) -> int:
    from rnncirc.eval.schedule.tiling import late_levels
    from rnncirc.ir.levels import live_mask

    out = circuit.outputs.reshape(-1).astype(np.int32)
    live = live_mask(circuit.op, circuit.a, circuit.b, circuit.c, ARITY, out)
    level = circuit.levels.astype(np.int32)
    if late:
        level = late_levels(circuit.op, circuit.a, circuit.b, circuit.c, ARITY, level, live,
                            out)
    n = circuit.num_nodes
    last = np.full(n, -1)
    for g in np.flatnonzero(live & (ARITY[circuit.op] > 0)):
        for u in (circuit.a[g], circuit.b[g], circuit.c[g])[:ARITY[circuit.op[g]]]:
            last[u] = max(last[u], level[g])
    birth = level
    death = np.maximum(last, birth)
    consts = int(np.count_nonzero(live & (circuit.op == Op.CONST)))
    temporary = live & (ARITY[circuit.op] > 0)
    temporary[out] = False
    values = np.flatnonzero(temporary)
    alive = np.zeros(level.max() + 2, dtype=np.int64)
    np.add.at(alive, birth[values], 1)
    np.add.at(alive, death[values] + 1, -1)
    return consts + int(np.cumsum(alive).max(initial=0))


def test_time_tiled_schedule():
    """Wide circuits run tile by tile along time: same values, far fewer live registers, and
    every gate on a later step than its operands."""
    model = LINEAR["diagonal"][0]
    xs = random_inputs(model, 64, 3)
    plain = rc.compile(model, 64, topology="ladner-fischer")
    plain_regs = get_schedule(plain).n_regs
    assert get_schedule(plain).placement.endswith("levels")
    tiled = rc.compile(model, 64, topology="ladner-fischer")
    s = get_schedule(tiled, TILED)
    assert s.placement.startswith("tiles")
    assert s.n_regs < plain_regs
    values, _ = tiled.check_inputs(xs)
    assert_close(evaluate_fast(tiled, values, options=TILED), model.run(xs))
    np.testing.assert_array_equal(evaluate_fast(tiled, values, options=TILED),
                                  evaluate_fast(plain, values))
    from rnncirc.eval.schedule.tiling import last_time, tile_levels
    from rnncirc.ir.levels import live_mask

    live = live_mask(tiled.op, tiled.a, tiled.b, tiled.c, ARITY,
                     tiled.outputs.reshape(-1).astype(np.int32))
    last = last_time(tiled.op, tiled.a, tiled.b, tiled.c, ARITY,
                     tiled.inputs.reshape(-1).astype(np.int32), tiled.inputs.shape[1])
    steps, _ = tile_levels(tiled.op, ARITY, tiled.levels, live, last, 4)
    gates = np.flatnonzero(live & (ARITY[tiled.op] > 0))
    for column, need in ((tiled.a, 1), (tiled.b, 2)):
        used = gates[ARITY[tiled.op[gates]] >= need]
        assert np.all(steps[column[used]] < steps[used])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuit=circuits())
def test_peak_live_counts_values_from_their_step_to_their_last_reader(circuit):
    from rnncirc.eval.schedule.tiling import peak_live

    out = circuit.outputs.reshape(-1).astype(np.int32)
    live = np.zeros(circuit.num_nodes, dtype=bool)
    live[out] = True
    for g in range(circuit.num_nodes - 1, -1, -1):  # (operands precede their readers)
        if live[g]:
            live[[circuit.a[g], circuit.b[g], circuit.c[g]][:ARITY[circuit.op[g]]]] = True
    gates = live & (ARITY[circuit.op] > 0)
    step = circuit.levels.astype(np.int32)
    n_steps = int(step.max(initial=0)) + 1
    alive = np.zeros(n_steps, dtype=np.int64)
    for g in np.flatnonzero(gates):
        readers = [r for r in np.flatnonzero(gates)
                   if g in (circuit.a[r], circuit.b[r], circuit.c[r])[:ARITY[circuit.op[r]]]]
        alive[step[g]:max([step[g]] + [step[r] for r in readers]) + 1] += 1
    assert peak_live(circuit.op, circuit.a, circuit.b, circuit.c, ARITY, step, gates, gates,
                     n_steps) == alive.max(initial=0)


def test_tiles_are_halved_while_the_registers_shrink():
    """`choose_tiles` starts from `tile_size` and halves while the peak of live values is
    above `tile_registers` and each halving cuts it by `tile_halving_gain` percent; the last
    halving it declined would not have."""
    from rnncirc.eval.schedule import tiling
    from rnncirc.ir.levels import live_mask

    model = LINEAR["diagonal"][0]
    circuit = rc.compile(model, 256, topology="brent-kung")
    args = (circuit.op, circuit.a, circuit.b, circuit.c)
    live = live_mask(*args, ARITY, circuit.outputs.reshape(-1).astype(np.int32))
    in_rows = circuit.inputs.reshape(-1).astype(np.int32)
    k = circuit.inputs.shape[1]
    last = tiling.last_time(*args, ARITY, in_rows, k)

    def peak(tile):
        steps, n_steps = tiling.tile_levels(circuit.op, ARITY, circuit.levels, live, last,
                                            tile)
        return tiling.peak_live(*args, ARITY, steps, live, live, n_steps)

    options = ScheduleOptions(tile_registers=0)
    windowed = tiling.choose_tiles(*args, circuit.levels, live, in_rows, k, 4, options)[0]
    options = dataclasses.replace(options, tile_try_part=1)  # (tries on the whole time axis)
    assert tiling.choose_tiles(*args, circuit.levels, live, in_rows, k, 4, options)[0] == windowed
    for gain in (0, 10, 1000):
        options = dataclasses.replace(options, tile_halving_gain=gain)
        tile, steps, _ = tiling.choose_tiles(*args, circuit.levels, live, in_rows, k, 64,
                                             options)
        np.testing.assert_array_equal(
            steps, tiling.tile_levels(circuit.op, ARITY, circuit.levels, live, last, tile)[0])
        t = 64
        while t > tile:
            assert 100 * (peak(t) - peak(t // 2)) >= gain * peak(t)
            t //= 2
        assert tile == 1 or 100 * (peak(tile) - peak(tile // 2)) < gain * peak(tile)
    assert peak(64) > peak(4)  # (the diagonal's registers do shrink with its tiles)
    options = dataclasses.replace(options, tile_halving_gain=0, tile_registers=peak(8))
    assert tiling.choose_tiles(*args, circuit.levels, live, in_rows, k, 64,
                               options)[0] == 8  # in budget


@settings(max_examples=60, deadline=None)
@given(reads=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 3)), min_size=1,
                      max_size=60, unique_by=lambda r: r[0]),
       work=st.lists(st.integers(0, 40), min_size=4, max_size=4),
       ahead=st.sampled_from([1, 8, 64, 4096]))
def test_prefetch_lists_ask_for_every_row_once_before_its_step(reads, work, ahead):
    """Each input row read is asked for exactly once, on an earlier step than the one that
    first reads it (on step 0 when that is step 0), in blocks of consecutive rows."""
    from rnncirc.eval.schedule.layout import prefetch_lists

    row = np.array([r for r, _ in reads], dtype=np.int32)
    step = np.array([s for _, s in reads], dtype=np.int32)
    level_work = np.array(work, dtype=np.int64)
    pf_row, pf_len, ptr = prefetch_lists(step, row, level_work, ahead)
    assert ptr[0] == 0 and ptr[-1] == len(pf_row) and np.all(np.diff(ptr) >= 0)
    assert len(ptr) == len(level_work) + 1 and np.all(pf_len >= 1)
    asked = {}
    for lv in range(len(level_work)):
        blocks = sorted(zip(pf_row[ptr[lv]:ptr[lv + 1]], pf_len[ptr[lv]:ptr[lv + 1]],
                            strict=True))
        for (r0, n0), (r1, _) in zip(blocks[:-1], blocks[1:], strict=True):
            assert r0 + n0 < r1  # separate blocks: not touching, not overlapping
        for r0, n0 in blocks:
            for r in range(r0, r0 + n0):
                assert r not in asked
                asked[r] = lv
    assert sorted(asked) == sorted(row.tolist())
    for r, s in zip(row.tolist(), step.tolist(), strict=True):
        assert asked[r] < s or asked[r] == s == 0
    assert len(prefetch_lists(step, row, level_work, 0)[0]) == 0  # 0: no prefetching


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tiled_schedules_prefetch_their_inputs(dtype):
    """A tiled schedule prefetches every input row (an untiled one none); prefetching is a
    hint: with or without it the outputs are the same, bit for bit."""
    model = LINEAR["diagonal"][0]
    xs = random_inputs(model, 64, 17)
    plain = get_schedule(rc.compile(model, 64, topology="brent-kung"))
    assert plain.placement.endswith("levels") and len(plain.pf_row) == 0
    options = dataclasses.replace(TILED, prefetch_gates=32)
    circuit = rc.compile(model, 64, topology="brent-kung")
    s = get_schedule(circuit, options)
    assert s.placement.startswith("tiles")
    asked = np.concatenate([np.arange(r, r + k) for r, k in zip(s.pf_row, s.pf_len, strict=True)])
    np.testing.assert_array_equal(np.sort(asked), np.sort(s.slot_row))
    assert np.count_nonzero(np.diff(s.level_pf_ptr)) > 4  # spread over the steps
    values, _ = circuit.check_inputs(xs)
    expected = model.run(xs)
    for batch in (1, 17):  # serial; lanes when there are 2 threads or more
        X = np.ascontiguousarray(values[:batch].T.astype(dtype))
        outputs = []
        for prefetch in (True, False):
            evaluator = Evaluator(circuit, dtype=dtype, options=options)
            evaluator.prefetch = prefetch
            outputs.append(evaluator.run(X).copy())
        np.testing.assert_array_equal(outputs[0], outputs[1])
        got = outputs[0].T.reshape((batch,) + circuit.outputs.shape)
        assert_close(got, expected[:batch], rtol=1e-5 if dtype == "float32" else 1e-9)


@rc.rnn(state=4, inputs=8)
def gated_sum(h, x):  # a diagonal scan in + and * only: exact modulo p too
    return x[:4] * h + x[4:]


@pytest.mark.parametrize("tiled", [False, True])
def test_outputs_nothing_reads_back_are_streamed(tiled):
    """STREAMED affine segments store past the caches: each of their gates writes the row of
    an output that no live gate reads and no other output position copies. Streamed or not,
    the outputs are the same bit for bit in every mode and dtype, and exact modulo p."""
    from rnncirc.ir.levels import live_mask

    from .circuits import exact_oracle

    options = dataclasses.replace(TILED if tiled else ScheduleOptions(), stream_outputs=0,
                                  min_affine=2)  # (4 gates a step)
    circuit = rc.compile(gated_sum, 64, topology="brent-kung")
    s = get_schedule(circuit, options)
    assert s.placement.startswith("tiles") == tiled
    streamed = np.flatnonzero(s.run_kind == STREAMED)
    assert len(streamed) > 0
    out_flat = circuit.outputs.reshape(-1).astype(np.int32)
    live = live_mask(circuit.op, circuit.a, circuit.b, circuit.c, ARITY, out_flat)
    read = np.zeros(circuit.num_nodes, dtype=bool)
    for column, need in ((circuit.a, 1), (circuit.b, 2), (circuit.c, 3)):
        read[column[np.flatnonzero(live & (ARITY[circuit.op] >= need))]] = True
    named = np.bincount(out_flat, minlength=circuit.num_nodes)
    for q in streamed:
        rows = s.run_base[q, 3] + np.arange(s.run_ptr[q + 1] - s.run_ptr[q])
        nodes = out_flat[rows - s.out_base]
        assert s.run_stride[q, 3] == 1 and ARITY[circuit.op[nodes]].min() > 0
        assert not read[nodes].any() and np.all(named[nodes] == 1)

    xs = random_inputs(gated_sum, 64, 17, seed=3)
    values, _ = circuit.check_inputs(xs)
    not_streamed = dataclasses.replace(options, stream_outputs=1 << 60)
    plain = rc.compile(gated_sum, 64, topology="brent-kung")
    assert not np.any(get_schedule(plain, not_streamed).run_kind == STREAMED)
    for dtype in ("float32", "float64"):
        for threshold in (1 << 40, 1):  # serial/lanes, and every step split over threads
            for batch in (1, 8, 17):
                X = np.ascontiguousarray(values[:batch].T.astype(dtype))
                got = Evaluator(circuit, dtype=dtype, wide_threshold=threshold,
                                options=options).run(X)
                want = Evaluator(plain, dtype=dtype, wide_threshold=threshold,
                                 options=not_streamed).run(X)
                np.testing.assert_array_equal(got, want)
    assert_close(evaluate_fast(circuit, values, options=options), gated_sum.run(xs))
    ints = np.random.default_rng(1).integers(-1000, 1000, size=(8, circuit.inputs.size))
    got = evaluate_fast(circuit, ints, modulus=10007, options=options)
    np.testing.assert_array_equal(got.reshape(8, -1), exact_oracle(circuit, ints, 10007))


@pytest.mark.parametrize("name", ["dense", "dplr", "permutation", "gated_matrix"])
def test_strided_and_affine_segments_every_mode(name):
    """With tiny minimum lengths most gates fall into strided/affine segments: evaluated as
    blocks, strided gate loops or (lane-split) rows, they must equal the indexed path."""
    model = LINEAR[name][0]
    xs = random_inputs(model, 24, 40, seed=5)
    expected = model.run(xs)
    options = ScheduleOptions(min_affine=2, min_strided=2)
    circuit = rc.compile(model, 24, topology="sklansky")
    s = get_schedule(circuit, options)
    assert {AFFINE, STRIDED} <= set(np.unique(s.run_kind).tolist())
    values, _ = circuit.check_inputs(xs)
    for threshold in (1 << 40, 1):
        for batch in (1, 8, 40):
            evaluator = Evaluator(circuit, wide_threshold=threshold, options=options)
            out = evaluator.run(np.ascontiguousarray(values[:batch].T))
            assert_close(out.T.reshape(expected[:batch].shape), expected[:batch])


def test_batch_zero_and_no_inputs():
    circuit = make_circuit([2.0, 3.0], 1, 0, [(Op.MUL, 0, 1, 0)], [2, 0])
    got = evaluate_fast(circuit, np.zeros((4, 0)))
    np.testing.assert_array_equal(got, np.tile([[6.0, 2.0]], (4, 1)).reshape(4, 1, 2))
    assert evaluate_fast(circuit, np.zeros((0, 0))).shape == (0, 1, 2)
