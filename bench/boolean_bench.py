"""Boolean-circuit figures: size and AND-depth against n, ABC's balance, evaluator throughput.

    python bench/boolean_bench.py                       # everything, writes boolean_bench.json
    python bench/boolean_bench.py --sections scaling --lengths 16,64,256,1024 --models small

Sections (each a key of the JSON written to --out):

- scaling: a diagonal LRNN and an Elman RNN at w = 8 (frac_bits 3), n = 16 .. 1024: AND and
  XOR counts, depth, AND-depth (XOR free), and the AIG form (each XOR = 3 ANDs). The LRNN is
  compiled with its minimum-depth prefix network, Elman is unrolled; AND-depth should grow like
  log n for the first and like n for the second. --models small: D = 4, K = 2 (defined here);
  gallery: examples/mamba.py (D = 16) and examples/elman.py (D = 64).
- abc_balance: ABC's ``strash`` depth of our AIGs, then after ``balance`` and (AIGs up to
  --rewrite-limit ANDs) after ``balance; rewrite; refactor; balance``: how much depth ABC can
  still remove.
- throughput: input vectors per second of the bit-parallel Numba evaluator (1 thread and all
  threads) against py-aiger's simulation of the same AIG (its ``AIG.__call__``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import rnncirc as rc  # noqa: E402
from rnncirc.export.boolean import write_circuit  # noqa: E402
from rnncirc.frontend.loader import load_models  # noqa: E402
from rnncirc.lower.boolean import to_boolean  # noqa: E402

WIDTH, FRAC = 8, 3


def small_models():
    rng = np.random.default_rng(0)
    d, k = 4, 2
    wa, wb = rng.normal(size=(d, k)), rng.normal(size=(d, k))
    w, u, b = rng.normal(size=(d, d)) / 2, rng.normal(size=(d, k)), 0.1 * rng.normal(size=d)

    @rc.rnn(state=d, inputs=k)
    def diagonal_lrnn(h, x):
        return rc.sigmoid(wa @ x) * h + wb @ x

    @rc.rnn(state=d, inputs=k)
    def elman_small(h, x):
        return rc.tanh(w @ h + u @ x + b)

    return {"diagonal LRNN (D=4)": diagonal_lrnn, "Elman (D=4)": elman_small}


def gallery_models():
    def one(name):
        return next(iter(load_models(os.path.join(ROOT, "examples", f"{name}.py")).values()))

    return {"mamba (diagonal, D=16)": one("mamba"), "elman (D=64)": one("elman")}


def scaling(models: dict, lengths: list[int], aig_limit: int) -> list[dict]:
    rows = []
    for label, model in models.items():
        for n in lengths:
            start = time.perf_counter()
            circuit = rc.compile(model, n)
            compiled = time.perf_counter()
            bc = to_boolean(circuit, WIDTH, frac_bits=FRAC)
            lowered = time.perf_counter()
            row = {"model": label, "length": n, "topology": circuit.topology,
                   "arith_gates": circuit.size, "arith_depth": circuit.depth,
                   "and": bc.and_count, "xor": bc.xor_count, "depth": bc.depth,
                   "and_depth": bc.and_depth,
                   "widest_and_level": int(bc.ands_per_and_level.max(initial=0)),
                   "compile_s": round(compiled - start, 3), "lower_s": round(lowered - compiled, 3)}
            if bc.and_count + 3 * bc.xor_count <= aig_limit:
                aig = bc.aig()
                row.update(aig_and=aig.and_count, aig_depth=aig.depth)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def abc_binary() -> str | None:
    return shutil.which("berkeley-abc") or shutil.which("abc")


_STATS = re.compile(r"and\s*=\s*(\d+)\s+lev\s*=\s*(\d+)")


def abc_balance(cases: dict, rewrite_limit: int) -> list[dict]:
    """strash / balance depths for every case; rewrite+refactor only up to `rewrite_limit`
    ANDs (ABC's rewriting takes seconds per 100k ANDs, minutes for millions)."""
    abc = abc_binary()
    if abc is None:
        print("abc_balance: Berkeley ABC not found, skipped", file=sys.stderr)
        return []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, bc in cases.items():
            write_circuit(bc, os.path.join(tmp, "c.aig"))
            deep = bc.aig().and_count <= rewrite_limit
            script = "read c.aig; strash; print_stats; balance; print_stats" + \
                ("; rewrite; refactor; balance; print_stats" if deep else "")
            start = time.perf_counter()
            out = subprocess.run([abc, "-c", script], cwd=tmp, capture_output=True, text=True,
                                 check=True, timeout=1800).stdout
            found = [(int(a), int(lev)) for a, lev in
                     _STATS.findall(re.sub(r"\x1b\[[0-9;]*m", "", out))]
            (and0, lev0), (and1, lev1) = found[:2]
            assert (and0, lev0) == (bc.aig().and_count, bc.aig().depth), label
            row = {"circuit": label, "and_depth": bc.and_depth, "aig_and": and0,
                   "strash_lev": lev0, "balance_and": and1, "balance_lev": lev1,
                   "depth_removed_by_balance": round(1 - lev1 / lev0, 4) if lev0 else 0.0}
            if deep:
                and2, lev2 = found[2]
                row.update(rewrite_refactor_balance_and=and2, rewrite_refactor_balance_lev=lev2,
                           depth_removed_by_rewriting=round(1 - lev2 / lev0, 4) if lev0 else 0.0)
            row["abc_s"] = round(time.perf_counter() - start, 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def throughput(cases: dict, vectors: int, aiger_vectors: int) -> list[dict]:
    import numba

    from rnncirc.eval.boolean import pack_bits, simulate_packed

    try:
        import aiger
    except ImportError:
        aiger = None
        print("throughput: py-aiger not installed, its column is skipped", file=sys.stderr)
    rows = []
    for label, bc in cases.items():
        aig = bc.aig()
        rng = np.random.default_rng(0)
        words = pack_bits(rng.integers(0, 2, size=(vectors, aig.num_inputs), dtype=np.uint8))
        simulate_packed(aig, words[:, :1])  # compile
        row = {"circuit": label, "aig_and": aig.and_count, "vectors": vectors}
        threads = numba.get_num_threads()
        for count in sorted({1, threads}):
            numba.set_num_threads(count)
            start = time.perf_counter()
            simulate_packed(aig, words)
            seconds = time.perf_counter() - start
            row[f"rnncirc_vectors_per_s_{count}_threads"] = vectors / seconds
            row[f"rnncirc_gate_evals_per_s_{count}_threads"] = vectors * aig.and_count / seconds
        numba.set_num_threads(threads)
        if aiger is not None:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "c.aag")
                write_circuit(bc, path)
                loaded = aiger.load(path)
            names = sorted(loaded.inputs)
            inputs = [dict(zip(names, map(bool, rng.integers(0, 2, len(names))), strict=True))
                      for _ in range(aiger_vectors)]
            start = time.perf_counter()
            for vector in inputs:
                loaded(vector)
            seconds = time.perf_counter() - start
            row["py_aiger_vectors"] = aiger_vectors
            row["py_aiger_vectors_per_s"] = aiger_vectors / seconds
            row["speedup_1_thread"] = row["rnncirc_vectors_per_s_1_threads"] / (
                aiger_vectors / seconds)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "boolean_bench.json"))
    parser.add_argument("--sections", default="scaling,abc_balance,throughput")
    parser.add_argument("--models", default="small,gallery")
    parser.add_argument("--lengths", default="16,32,64,128,256,512,1024")
    parser.add_argument("--aig-limit", type=int, default=60_000_000,
                        help="skip the AIG form above this many ANDs (it costs memory)")
    parser.add_argument("--rewrite-limit", type=int, default=300_000,
                        help="run ABC's rewrite/refactor only on AIGs up to this many ANDs")
    parser.add_argument("--vectors", type=int, default=1 << 20)
    parser.add_argument("--aiger-vectors", type=int, default=20)
    args = parser.parse_args(argv)
    sections = args.sections.split(",")
    lengths = [int(x) for x in args.lengths.split(",")]
    result = {"width": WIDTH, "frac_bits": FRAC, "python": platform.python_version(),
              "machine": platform.machine(), "cpus": os.cpu_count()}
    if "scaling" in sections:
        models = {}
        if "small" in args.models:
            models.update(small_models())
        if "gallery" in args.models:
            models.update(gallery_models())
        result["scaling"] = scaling(models, lengths, args.aig_limit)
    small = small_models()
    gallery = gallery_models()
    parity = next(iter(load_models(os.path.join(ROOT, "examples", "parity.py")).values()))
    if "abc_balance" in sections:
        cases = {f"{label} n={n}": to_boolean(rc.compile(model, n), WIDTH, frac_bits=FRAC)
                 for label, model in small.items() for n in (16, 64, 256)}
        cases["mamba n=16"] = to_boolean(rc.compile(gallery["mamba (diagonal, D=16)"], 16),
                                         WIDTH, frac_bits=FRAC)
        cases["parity n=64 (one-hot)"] = to_boolean(rc.compile(parity, 64), WIDTH,
                                                    symbols="onehot")
        for adder in ("ripple", "brent-kung", "kogge-stone"):
            cases[f"diagonal LRNN (D=4) n=64, {adder} adders"] = to_boolean(
                rc.compile(small["diagonal LRNN (D=4)"], 64), WIDTH, frac_bits=FRAC,
                adder=adder)
        result["abc_balance"] = abc_balance(cases, args.rewrite_limit)
    if "throughput" in sections:
        cases = {"parity n=8 (one-hot)": to_boolean(rc.compile(parity, 8), WIDTH,
                                                    symbols="onehot"),
                 "diagonal LRNN (D=4) n=16": to_boolean(
                     rc.compile(small["diagonal LRNN (D=4)"], 16), WIDTH, frac_bits=FRAC)}
        result["throughput"] = throughput(cases, args.vectors, args.aiger_vectors)
    with open(args.out, "w") as out:
        json.dump(result, out, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
