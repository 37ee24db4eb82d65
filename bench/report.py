"""Turns the raw cells of a benchmark run into results.json, results.md (medians, the median of
the per-round turbogrpc/grpc.aio ratios, the issue's bars) and chart.png (bars normalised to
grpc.aio = 1). The -sync rows (the blocking API) are turbogrpc-sync over grpc-sync instead:
each metric names its own subject and anchor stacks (scenarios.Metric.subject / .baseline).

    summary = summarize(cells, stacks)
    markdown = write(out_dir, meta, settings, cells, stacks)
"""

import json
import os
import statistics

from scenarios import BASELINE, METRICS, SUBJECT

__all__ = ["summarize", "write", "markdown_table"]


def _values(cells, metric_id, stack):
    """{round: value} of one metric and stack, from the cells that produced it."""
    found = {}
    for cell in cells:
        value = (cell.get("metrics") or {}).get(metric_id)
        if cell["stack"] == stack and value is not None:
            found[cell["round"]] = value
    return found


def _met(bar, ratio):
    if bar is None or ratio is None:
        return None
    op, target = bar
    return ratio >= target if op == ">=" else ratio <= target


def summarize(cells, stacks):
    """One row per metric that any cell measured."""
    rows = []
    for metric in METRICS:
        per_stack = {stack: _values(cells, metric.id, stack) for stack in stacks}
        if not any(per_stack.values()):
            continue
        medians = {stack: statistics.median(v.values()) if v else None
                   for stack, v in per_stack.items()}
        subject = _values(cells, metric.id, metric.subject)
        baseline = _values(cells, metric.id, metric.baseline)
        if metric.relative_to:  # turbogrpc against itself without the interceptor, per round
            baseline = _values(cells, metric.relative_to, metric.subject)
        ratios = [subject[r] / baseline[r] for r in sorted(subject)
                  if r in baseline and baseline[r]]
        ratio = statistics.median(ratios) if ratios else None
        rows.append({
            "metric": metric.id, "scenario": metric.scenario, "tls": metric.tls,
            "name": metric.name, "label": metric.label,
            "unit": metric.unit, "higher_is_better": metric.higher_is_better,
            "per_round": {stack: [v[r] for r in sorted(v)] for stack, v in per_stack.items()},
            "median": medians, "ratio_per_round": ratios, "ratio_median": ratio,
            "bar": list(metric.bar) if metric.bar else None, "met": _met(metric.bar, ratio),
            "relative_to": metric.relative_to,
            "subject": metric.subject, "baseline": metric.baseline,
        })
    return rows


def _number(value, unit):
    if value is None:
        return "—"
    if unit in ("QPS", "msg/s", "bytes"):
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _busy_table(cells, stacks):
    """Median core use per cell and stack: the process under test, then the Go peer."""
    lines = ["| cell | " + " | ".join(stacks) + " |", "|" + "---|" * (len(stacks) + 1)]
    for cell_id in dict.fromkeys(cell["cell"] for cell in cells):
        row = [cell_id]
        for stack in stacks:
            raws = [c.get("raw") or {} for c in cells if c["cell"] == cell_id and c["stack"] == stack]
            pairs = [(r["under_test_cpu"], r["peer_cpu"]) for r in raws if "under_test_cpu" in r]
            row.append(f"{statistics.median(p[0] for p in pairs):.2f} / "
                       f"{statistics.median(p[1] for p in pairs):.2f}" if pairs else "—")
        if any(value != "—" for value in row[1:]):
            lines.append("| " + " | ".join(row) + " |")
    return lines if len(lines) > 2 else []


def _failures(cells):
    """One line per cell that produced no figure or failed RPCs, with the reason's first line."""
    lines = []
    for cell in cells:
        reason = cell.get("failure") or (f"errors {cell['errors']}" if cell.get("errors") else
                                         None if cell.get("metrics") else "no figure")
        if reason:
            lines.append(f"- round {cell['round'] + 1}, {cell['cell']}, {cell['stack']}: "
                         f"{reason.strip().splitlines()[0]}")
    return lines


def _pair(row):
    return row.get("subject", SUBJECT), row.get("baseline", BASELINE)


def markdown_table(rows, stacks, meta, cells=()):
    pairs = list(dict.fromkeys(_pair(row) for row in rows)) or [(SUBJECT, BASELINE)]
    usual = pairs[0] if len(pairs) == 1 else (SUBJECT, BASELINE)  # named per row when not this
    ratio_head = f"ratio {usual[0]}/{usual[1]}" + (" unless noted" if len(pairs) > 1 else "")
    head = ["scenario", "metric", *stacks, ratio_head, "bar", "met?"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        better = "" if row["higher_is_better"] else ", lower is better"
        bar = f"{row['bar'][0].replace('>=', '≥').replace('<=', '≤')} {row['bar'][1]}x" \
            if row["bar"] else "—"
        met = {True: "yes", False: "no", None: "—"}[row["met"]]
        ratio = f"{row['ratio_median']:.2f}x" if row["ratio_median"] is not None else "—"
        subject, baseline = _pair(row)
        if row.get("relative_to") and row["ratio_median"] is not None:
            ratio += f" of {subject}'s {row['relative_to']}"
        elif (subject, baseline) != usual:
            ratio += f" {subject}/{baseline}"
        columns = [row["name"], f"{row['label']} ({row['unit']}{better})",
                 *(_number(row["median"].get(stack), row["unit"]) for stack in stacks),
                 ratio, bar, met]
        lines.append("| " + " | ".join(columns) + " |")
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    lines += [
        "",
        f"Machine: {meta['cpu']}, {meta['cores']} cores; {meta['pinning']}. "
        f"Date: {meta['date']}. Mode: {meta['mode']} ({meta['rounds']} round(s), medians; "
        f"ratio = median of the per-round ratios).",
        f"Versions: {versions}.",
        f"Load average (1 min) at start / end: {meta['loadavg'][0]:.2f} / {meta['loadavg'][1]:.2f}"
        " (anything well above 0 means other work shared the cores).",
    ]
    if meta.get("tls"):
        lines += ["", f"TLS cells (S1-TLS, S4-TLS): {meta['tls']}"]
    if any(row["name"].endswith("-sync") for row in rows):
        lines += ["", "-sync rows: the blocking API (grpcio's `grpc.server(ThreadPoolExecutor(16))`"
                  " and `grpc.insecure_channel`), turbogrpc-sync's figure over grpc-sync's in the "
                  "same round; S2-sync's threads share one channel."]
    failures = _failures(cells)
    if failures:
        lines += ["", "No figure or failed RPCs (the table shows — for a missing figure):", "",
                  *failures]
    ceiling = meta.get("s4_handler_ceiling")
    if ceiling:
        lines += [
            "",
            f"S4 ceiling: the protobuf handler alone (decode the 4 MiB request, build the reply, "
            f"encode it; no transport) runs at {ceiling['mb_per_s']:,.0f} MB/s on core 0 "
            f"({ceiling['ms_per_echo']} ms per echo, bench/handler_ceiling.py): no stack can echo "
            "faster, and most of that time is page faults in glibc's freshly mapped 4 MiB blocks. "
            "The bytes-handler row measures the transports themselves.",
        ]
    busy = _busy_table(cells, stacks)
    if busy:
        lines += ["", "Core use over each client run, warm-up included (1.00 = one whole core), "
                  "process under test / Go peer: the process under test near 1.00 means it, not "
                  "the load generator, was the limit.", "", *busy]
    return "\n".join(lines) + "\n"


def _chart(rows, stacks, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    shown = [row for row in rows if row["median"].get(_pair(row)[1])]
    if not shown:
        return False
    width = 0.8 / len(stacks)
    figure, axes = plt.subplots(figsize=(max(8, 1.6 * len(shown)), 5), layout="constrained")
    for index, stack in enumerate(stacks):
        heights = [(row["median"].get(stack) or float("nan")) / row["median"][_pair(row)[1]]
                   for row in shown]
        positions = [i + (index - (len(stacks) - 1) / 2) * width for i in range(len(shown))]
        bars = axes.bar(positions, heights, width, label=stack)
        if any(_pair(row)[0] == stack for row in shown):
            axes.bar_label(bars, fmt="%.2f", fontsize=7)
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_yscale("log", base=2)  # ratios from 0.3x to 30x: a linear axis hides the small ones
    axes.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%gx"))
    axes.set_xticks(range(len(shown)))
    axes.set_xticklabels([f"{row['name']}: {row['label']}"
                          + ("" if row["higher_is_better"] else "\n(lower is better)")
                          for row in shown], fontsize=7, rotation=20, ha="right")
    anchors = list(dict.fromkeys(_pair(row)[1] for row in shown))
    if anchors == [BASELINE]:
        axes.set_ylabel("relative to grpc.aio on the stock loop (= 1), log scale")
        axes.set_title("turbogrpc benchmark: medians normalised to grpc.aio")
    else:  # -sync rows shown: their anchor is grpcio's blocking stack
        axes.set_ylabel("relative to the row's anchor (= 1), log scale")
        axes.set_title(f"turbogrpc benchmark: medians normalised to {' / '.join(anchors)}"
                       + ("\n(-sync rows: to grpcio's blocking stack)" if len(anchors) > 1
                          else ""), fontsize=10)
    axes.legend(fontsize=8)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def write(out_dir, meta, settings, cells, stacks):
    """Writes results.json, results.md and chart.png into out_dir; returns the markdown."""
    os.makedirs(out_dir, exist_ok=True)
    rows = summarize(cells, stacks)
    markdown = markdown_table(rows, stacks, meta, cells)
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as handle:
        json.dump({"meta": meta, "settings": settings, "stacks": stacks, "summary": rows,
                   "cells": cells}, handle, indent=1)
    with open(os.path.join(out_dir, "results.md"), "w", encoding="utf-8") as handle:
        handle.write(markdown)
    _chart(rows, stacks, os.path.join(out_dir, "chart.png"))
    return markdown
