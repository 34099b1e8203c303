"""How a depth profile reads: formulas as text, the notebook table, the matplotlib figure.

Where this sits: beside `analyze.profile`, which computes the rows and formulas; this module
only presents them (formulas as `analyze.formula_eval.format_formula` writes them,
``_repr_html_`` for notebooks, ``plot_profiles`` for figures).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np

from rnncirc.analyze.formula_eval import format_formula
from rnncirc.errors import OptionError

if TYPE_CHECKING:
    from rnncirc.analyze.profile import DepthProfile


# -- notebook HTML -----------------------------------------------------------------------------
_STYLE = ("<style>.rc-prof td,.rc-prof th{padding:2px 8px;text-align:right}"
          ".rc-prof td.l,.rc-prof th.l{text-align:left}</style>")


def _formula_html(profile: DepthProfile) -> str:
    if profile.depth_formula is None and profile.size_formula is None:
        return f"<p><b>formulas:</b> n/a &mdash; {html.escape(profile.formula_note or '')}</p>"
    parts = [f"<code>{name}(n) = {html.escape(format_formula(formula, style='math'))}</code>"
             for name, formula in (("depth", profile.depth_formula),
                                   ("size", profile.size_formula))]
    note = f"<br><small>{html.escape(profile.formula_note)}</small>" if profile.formula_note \
        else ""
    size = str(profile.size_formula)
    lf = ("<br><small>LF(n): the size of the Ladner-Fischer prefix network over n leaves "
          "(exact recursion, no closed form)</small>" if "size_ladner_fischer" in size else "")
    lf += ("<br><small>Sk(n): the size of the Sklansky prefix network over n leaves, the "
           "number of one bits in 0..n-1 (an exact finite sum)</small>" if "Sum(" in size
           else "")
    return "<p>" + "<br>".join(parts) + note + lf + "</p>"


def _ops_text(op_counts: dict, top: int = 4) -> str:
    items = list(op_counts.items())
    shown = ", ".join(f"{name} {count:,}" for name, count in items[:top])
    return shown + (", ..." if len(items) > top else "")


def _profile_html(profile: DepthProfile) -> str:
    head = (f"<p><b>{html.escape(profile.model)}</b> &mdash; {profile.kind}, "
            f"{html.escape(profile.complexity)}; topology {profile.topology}"
            + (f" &rarr; {profile.family}" if profile.topology != profile.family else "")
            + f", outputs={profile.outputs}</p>")
    cells = ["n", "topology", "depth", "size", "mult. depth", "non-const. mul", "gates by op"]
    header = "".join(f"<th class='l'>{c}</th>" if c in ("topology", "gates by op")
                     else f"<th>{c}</th>" for c in cells)
    body = []
    for row in profile.rows:
        body.append(f"<tr><td>{row['length']:,}</td><td class='l'>{row['topology']}</td>"
                    f"<td>{row['depth']:,}</td><td>{row['size']:,}</td>"
                    f"<td>{row['multiplicative_depth']:,}</td>"
                    f"<td>{row['nonconstant_multiplications']:,}</td>"
                    f"<td class='l'>{html.escape(_ops_text(row['op_counts']))}</td></tr>")
    return (_STYLE + "<div class='rc-prof'>" + head + _formula_html(profile)
            + f"<table><tr>{header}</tr>{''.join(body)}</table></div>")


def _formula_cell(expr) -> str:
    if expr is None:
        return "n/a *"
    return f"<code>{html.escape(format_formula(expr, style='math'))}</code>"


def _profiles_html(profiles: list[DepthProfile]) -> str:
    cells = ["model", "kind", "class", "depth at largest n", "depth(n)", "size(n)"]
    header = "".join(f"<th class='l'>{c}</th>" for c in cells)
    body = []
    for p in profiles:
        last = p.rows[-1]
        body.append(
            f"<tr><td class='l'><b>{html.escape(p.model)}</b></td><td class='l'>{p.kind}</td>"
            f"<td class='l'>{html.escape(p.complexity)}</td>"
            f"<td class='l'>{last['depth']:,} (n = {last['length']:,})</td>"
            f"<td class='l'>{_formula_cell(p.depth_formula)}</td>"
            f"<td class='l'>{_formula_cell(p.size_formula)}</td></tr>")
    notes = "".join(f"<p><small>* {html.escape(p.model)}: {html.escape(p.formula_note)}"
                    "</small></p>" for p in profiles
                    if p.depth_formula is None and p.formula_note)
    details = "".join(f"<details><summary>{html.escape(p.model)}: every length</summary>"
                      f"{_profile_html(p)}</details>" for p in profiles)
    return (_STYLE + f"<div class='rc-prof'><table><tr>{header}</tr>{''.join(body)}</table>"
            + notes + details + "</div>")


# -- plotting ----------------------------------------------------------------------------------
def plot_profiles(profiles: list[DepthProfile], path=None, ax=None):
    """Depth (left) and size (right) against n on a log2 axis, one line per model.

    Both axes of both panels are logarithmic, so a depth that grows like log n is an almost
    flat line and one that grows like n is a steep straight one. `ax`: one Axes (depth only)
    or two (depth, size); a new figure otherwise. Writes `path` when given (.png, .svg, .pdf).
    Returns the matplotlib Figure. Needs matplotlib (``pip install rnncirc[plot]``).
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise OptionError("plotting needs matplotlib: pip install 'rnncirc[plot]' "
                          "(or pip install matplotlib)") from None
    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        fig = axes[0].figure
    metrics = ("depth", "size")[:len(axes)]
    # one model under several topologies: each line says its topology
    tagged = len({p.model for p in profiles}) < len(profiles)
    for axis, metric in zip(axes, metrics, strict=False):
        for k, profile in enumerate(profiles):
            _draw(axis, profile, metric, k, tagged)
        if metric == "depth" and any(p.kind != "nonlinear" for p in profiles):
            _draw_lower_bound(axis, profiles)
        _decorate(axis, metric, profiles)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


_COLORS = ("#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22")


def _draw_lower_bound(axis, profiles: list[DepthProfile]) -> None:
    """ceil(log2(2n - 1)): no fan-in-2 circuit of h_n over 2n - 1 inputs is shallower."""
    lengths = sorted({n for p in profiles for n in p.lengths if n > 1})
    if lengths:
        axis.plot(lengths, [(2 * n - 2).bit_length() for n in lengths], color="0.5",
                  linestyle=":", linewidth=1.5, label="lower bound ⌈log2(2n−1)⌉ (fan-in 2)")


def _draw(axis, profile: DepthProfile, metric: str, k: int, tagged: bool = False) -> None:
    x = profile.column("length")
    y = np.maximum(profile.column(metric), 0.5)  # a zero would vanish on the log axis
    linear = profile.kind != "nonlinear"
    formula = profile.depth_formula if metric == "depth" else profile.size_formula
    text = format_formula(formula, style="math") if formula is not None else \
        "no closed form (measured)"
    name = f"{profile.model} [{profile.family}]" if tagged else profile.model
    label = f"{name} ({profile.kind}): {text}"
    if len(label) > 70:
        label = label[:67] + "..."
    axis.plot(x, y, marker="o" if linear else "s", markersize=3.5, linewidth=1.8,
              linestyle="-" if linear else "--", color=_COLORS[k % len(_COLORS)], label=label)


def _decorate(axis, metric: str, profiles: list[DepthProfile]) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _short_count(v)))
    axis.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    axis.set_xlabel("sequence length n (log scale)")
    axis.set_ylabel("depth (gates on the longest path)" if metric == "depth"
                    else "size (gates)")
    lengths = sorted({n for p in profiles for n in p.lengths})
    ticks = [n for n in lengths if n & (n - 1) == 0]
    if len(ticks) > 8:
        ticks = ticks[::2] if ticks[-1] == ticks[::2][-1] else ticks[1::2]
    axis.set_xticks(ticks)
    axis.set_xticklabels([_short(n) for n in ticks])
    axis.grid(True, which="major", alpha=0.3)
    kinds = {p.kind == "nonlinear" for p in profiles}
    if metric == "depth":
        title = ("depth: linear models grow like log n, nonlinear ones like n"
                 if kinds == {True, False} else "depth against n")
    else:
        title = "size (the work): n for unrolls and most networks, n log n for Kogge-Stone"
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7.5, loc="upper left")


def _short_count(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}K"
    return f"{v:g}"


def _short(n: int) -> str:
    return f"{n // 1024}K" if n >= 1024 and n % 1024 == 0 else str(n)
