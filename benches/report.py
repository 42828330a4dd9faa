#!/usr/bin/env python3
"""Summarise benches/run's samples: tables of medians and ratios on stdout,
a table of every target, results.csv, targets.csv, and ratios.svg (drawn by
hand: only the standard library).

usage: report.py RESULTS_DIR   (reads samples.csv and machine.txt there)
"""
import csv
import html
import statistics
import sys
from pathlib import Path

MAP_TOOLS = ["seq", "lk_threads", "lk_noseed", "lk_static", "lk_static_noseed", "lk_processes",
             "lk_range", "lk_proc_range", "lk_proc_shared", "lk_cxx", "lk_cxx_noseed",
             "lk_stream", "lk_stream_auto", "lk_proc_stream",
             "omp_static", "omp_dynamic", "omp_inline", "tbb", "tbb_lambda",
             "tbb_pipeline", "tbb_pipeline_batched", "pthread_pool", "futex_pingpong"]
PROC_TOOLS = ["lk_run_sp", "lk_processes", "fork_pipe", "fork_memfd_write", "fork_memfd_mmap",
              "fork_ready", "memcpy"]
ALL_TOOLS = MAP_TOOLS + [t for t in PROC_TOOLS if t not in MAP_TOOLS]
PEERS = ["omp_static", "omp_dynamic", "tbb", "pthread_pool"]
# For latency the target names OpenMP and oneTBB; the pthread pool is shown too.
LATENCY_PEERS = ["omp_static", "omp_dynamic", "tbb"]

# Per workload: lkparallel's tools (the first is the one the target is for),
# its peers, and the target for lkparallel time / best peer time.
SPECS = {
    "trivial": (["lk_threads", "lk_processes"], PEERS, 1.1, "trivial|10^7 items"),
    "uniform": (["lk_threads", "lk_processes"], PEERS, 1.05, "uniform|~50 us/item"),
    "skewed": (["lk_threads", "lk_processes"], PEERS, 1.0, "skewed|Pareto 1.3"),
    "recommend": (["lk_threads", "lk_processes"], PEERS, 1.0, "recommend|top-20"),
    "latency1": (["lk_threads", "lk_processes"], LATENCY_PEERS, 1.0, "latency|1 item"),
    "latency8": (["lk_threads", "lk_processes"], LATENCY_PEERS, 1.0, "latency|8 items"),
    # the loop in the caller's code (range invokers, the C++ lambda)
    "trivial_cached": (["lk_range", "lk_processes"], ["omp_inline"], 1.0, "trivial, cached|10^5 x 200 maps"),
    # streams
    "stream_20us": (["lk_stream", "lk_proc_stream"], ["tbb_pipeline", "tbb_pipeline_batched"], 1.0,
                    "stream|200k x 20 us"),
    # ">= 0.97x the in-memory map's throughput" is time <= 1/0.97
    "example_stream": (["lk_stream"], ["lk_threads"], round(1 / 0.97, 3), "2M users|stream vs map"),
    "example_rss": (["lk_stream"], ["lk_threads"], None, "2M users|peak RSS - model"),
    # oversubscription: n_jobs far above the CPU count
    "oversub_create": (["lk_threads"], ["pthread_pool", "omp_static"], None, "oversubscribed|create + 1st map"),
    # OpenMP keeps its team: only the pthread pool is shut down as lkparallel is
    "oversub_shutdown": (["lk_threads"], ["pthread_pool"], None, "oversubscribed|shutdown"),
    "oversub_map2k": (["lk_threads"], ["pthread_pool", "omp_static"], None, "oversubscribed|2,000 items"),
    "oversub_map20k": (["lk_threads"], ["pthread_pool", "omp_static"], None, "oversubscribed|20,000 items"),
    "oversub_idle": (["lk_threads"], ["pthread_pool", "omp_static"], None, "oversubscribed|idle CPUs"),
    "sp_roundtrip": (["lk_run_sp"], ["fork_pipe"], 2.0, "lk_run_sp|round trip"),
    # ">= 0.8x the bare baseline's throughput" is time <= 1.25x
    "sp_result_1gib": (["lk_run_sp"], ["fork_memfd_write", "fork_memfd_mmap"], 1.25,
                       "lk_run_sp|1 GiB result"),
    "proc_create_1gib": (["lk_processes"], ["fork_ready"], None, "process invoker|1 GiB model"),
}
ORDER = list(SPECS)
# The tables, in this order; each shows the tools its rows have.
GROUPS = [
    ("maps", ["trivial", "trivial_cached", "uniform", "skewed", "recommend", "latency1", "latency8"]),
    ("streams", ["stream_20us", "example_stream", "example_rss"]),
    ("oversubscription", ["oversub_create", "oversub_shutdown", "oversub_map2k", "oversub_map20k",
                          "oversub_idle"]),
    ("process", ["sp_roundtrip", "sp_result_1gib", "proc_create_1gib"]),
]
GROUP_OF = {w: g for g, ws in GROUPS for w in ws}
GROUP_INDEX = {w: i for _g, ws in GROUPS for i, w in enumerate(ws)}
assert set(GROUP_OF) == set(SPECS)


def load(out):
    rows = list(csv.DictReader(open(out / "samples.csv")))
    machine = (out / "machine.txt").read_text().splitlines() if (out / "machine.txt").exists() else []
    return rows, machine


def cells(rows):
    """(n_jobs, workload, tool) -> ('ok', median, unit, count) | ('na',) | ('failed',)."""
    by = {}
    for r in rows:
        if r["status"] == "disturbed":  # tried again; not in the medians
            continue
        by.setdefault((int(r["n_jobs"]), r["workload"], r["tool"]), []).append(r)
    out = {}
    for key, rs in by.items():
        if any(r["status"] == "failed" for r in rs):
            out[key] = ("failed",)
        elif all(r["status"] == "na" for r in rs):
            out[key] = ("na",)
        else:
            vals = [float(r["value"]) for r in rs if r["status"] == "ok"]
            out[key] = ("ok", statistics.median(vals), rs[0]["unit"], len(vals))
    return out


def fmt(v):
    return "-" if v is None else f"{v:.4g}"


def summarise(rows):
    c = cells(rows)
    table = []
    gi = [g for g, _ws in GROUPS]
    groups = sorted({(nj, w) for (nj, w, _t) in c if w in SPECS},
                    key=lambda g: (gi.index(GROUP_OF[g[1]]), g[0], GROUP_INDEX[g[1]]))
    for nj, w in groups:
        lk_tools, peer_set, target, _label = SPECS[w]
        row = {"n_jobs": nj, "workload": w, "unit": None, "reps": 0, "cells": {}}
        for t in ALL_TOOLS:
            cell = c.get((nj, w, t))
            if cell is None:
                continue
            row["cells"][t] = cell
            if cell[0] == "ok":
                row["unit"] = cell[2]
                row["reps"] = max(row["reps"], cell[3])
        if not row["cells"]:
            continue
        val = {t: cell[1] for t, cell in row["cells"].items() if cell[0] == "ok"}
        peers = [t for t in peer_set if t in val]
        best = min(peers, key=lambda t: val[t]) if peers else None
        row["best_peer"] = best
        row["best_value"] = val[best] if best else None
        row["lk_tool"] = lk_tools[0]
        ratio = lambda t: val[t] / val[best] if best and t in val else None
        row["ratio"] = ratio(lk_tools[0])
        row["ratio_lk_processes"] = ratio(lk_tools[1]) if len(lk_tools) > 1 else None
        row["target"] = target if best else None
        r = row["ratio"]
        row["met"] = None if r is None or target is None else r <= target
        # The first release's own targets for the same rows.
        extra, extra_met = "", None
        lk = val.get("lk_threads")
        if w == "trivial" and lk is not None and "omp_static" in val:
            q = lk / val["omp_static"]
            extra, extra_met = f"lk/omp_static {q:.2f} (<= 1.2)", q <= 1.2
            # The same with task->seed 0, as the peers pass it.
            if "lk_noseed" in val and best:
                extra += (f"; seeds off: /best {val['lk_noseed'] / val[best]:.2f},"
                          f" /omp_static {val['lk_noseed'] / val['omp_static']:.2f}")
            if "lk_static_noseed" in val and best:
                extra += (f"; static, seeds off: /best {val['lk_static_noseed'] / val[best]:.2f},"
                          f" /omp_static {val['lk_static_noseed'] / val['omp_static']:.2f}")
        elif w == "latency1" and lk is not None:
            extra, extra_met = f"median {lk:.2f} us (<= 1 us)", lk <= 1.0
        elif w == "latency8" and lk is not None:
            extra, extra_met = f"median {lk:.2f} us (<= 3 us)", lk <= 3.0
        elif w == "recommend" and lk is not None and nj > 1:
            one = c.get((1, w, "lk_threads"))
            if one and one[0] == "ok":
                s = one[1] / lk
                extra = f"lk n_jobs 1 / n_jobs {nj}: {s:.2f}x" + (" (>= 1.8)" if nj == 2 else "")
                extra_met = (s >= 1.8) if nj == 2 else None
        elif w == "sp_result_1gib" and best and "lk_run_sp" in val:
            gib_s = 1.0 / val["lk_run_sp"]
            extra = f"{gib_s:.2f} GiB/s, {val[best] / val['lk_run_sp']:.2f}x bare (>= 0.8)"
            extra_met = val[best] / val["lk_run_sp"] >= 0.8
        row["extra"], row["extra_met"] = extra, extra_met
        table.append(row)
    return table


def yesno(b):
    return "-" if b is None else ("yes" if b else "NO")


def cell_text(row, t):
    cell = row["cells"].get(t)
    if cell is None:
        return "-"
    return {"na": "n/a", "failed": "FAILED"}.get(cell[0]) or fmt(cell[1])


def print_rows(rows, tools, second_ratio):
    head = ["n_jobs", "workload", "unit"] + tools + ["best peer", "lk/best", "target", "met"]
    if second_ratio:
        head.append("lk_proc/best")
    head += ["also (first release)", "met"]
    lines = [head]
    for row in rows:
        line = [str(row["n_jobs"]), row["workload"], row["unit"] or "-"]
        line += [cell_text(row, t) for t in tools]
        line += [row["best_peer"] or "-", fmt(row["ratio"]),
                 "-" if row["target"] is None else f"<= {row['target']}", yesno(row["met"])]
        if second_ratio:
            line.append(fmt(row["ratio_lk_processes"]))
        line += [row["extra"] or "-", yesno(row["extra_met"])]
        lines.append(line)
    widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
    left = {0, 1, 2, len(head) - 2}
    for i, l in enumerate(lines):
        print("  ".join(s.ljust(widths[j]) if j in left else s.rjust(widths[j])
                        for j, s in enumerate(l)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def print_tables(table, machine, rows):
    second = {"maps": True, "streams": True}
    notes = {
        "maps": "lk/best: lk_threads / the fastest of " + ", ".join(PEERS) + " (latency: of " +
                ", ".join(LATENCY_PEERS) + "); trivial_cached: lk_range / omp_inline",
        "streams": "lk/best: lk_stream / the faster oneTBB parallel_pipeline (stream_20us), "
                   "/ lk_threads, the same users mapped in memory (example_*); example_rss in MiB",
        "oversubscription": "lk/best: lk_threads / the faster of pthread_pool and omp_static with as many "
                            "threads (oversub_shutdown: / pthread_pool; OpenMP keeps its team); "
                            "oversub_idle in CPUs busy while the pool waits",
        "process": "lk/best: lk_run_sp (lk_processes for proc_create_1gib) / the fastest bare baseline; "
                   "memcpy is a floor, not a peer",
    }
    first = True
    for group, _ws in GROUPS:
        rs = [r for r in table if GROUP_OF[r["workload"]] == group]
        if not rs:
            continue
        if not first:
            print()
        first = False
        tools = PROC_TOOLS if group == "process" else MAP_TOOLS
        print_rows(rs, [t for t in tools if any(t in r["cells"] for r in rs)], second.get(group, False))
        print(notes[group])
    print("medians over repetitions; s = seconds, us = median microseconds per call")
    others = [int(r["others_pct"]) for r in rows
              if r["status"] == "ok" and r.get("others_pct", "").isdigit()]
    disturbed = sum(r["status"] == "disturbed" for r in rows)
    if others:
        print(f"other processes' share of the CPUs during the kept measurements: median "
              f"{statistics.median(others):.0f}%, max {max(others)}%; {disturbed} disturbed "
              "tries were repeated (samples.csv)")
    for m in machine:
        if m.startswith("n/a: "):
            print(m)


def targets(rows):
    """Every target of range maps, streams and oversubscription that is not the main ratio, as
    dicts: n_jobs, workload, what, value (text), target (text), met (True/False/None)."""
    c = cells(rows)
    out = []

    def v(nj, w, t):
        cell = c.get((nj, w, t))
        return cell[1] if cell and cell[0] == "ok" else None

    def add(nj, w, what, value, target, met):
        out.append({"n_jobs": nj, "workload": w, "what": what, "value": value,
                    "target": target, "met": met})

    def ratio(nj, w, num, dens, what, target):
        a = v(nj, w, num)
        ds = sorted((v(nj, w, d), d) for d in dens if v(nj, w, d) is not None)
        if a is None or not ds:
            return
        b, d = ds[0]
        r = a / b
        add(nj, w, f"{what} ({num} / {d})", f"{r:.3f}", "-" if target is None else f"<= {target}",
            None if target is None else r <= target)

    gi = [g for g, _ws in GROUPS]
    keys = sorted({(k[0], k[1]) for k in c if k[1] in SPECS},
                  key=lambda g: (gi.index(GROUP_OF[g[1]]), GROUP_INDEX[g[1]], g[0]))
    for nj, w in keys:
        if w in ("trivial", "trivial_cached"):
            ratio(nj, w, "lk_range", ["omp_inline"], "C range invoker vs OpenMP static, body inlined", 1.0)
            ratio(nj, w, "lk_cxx", ["tbb_lambda"], "C++ lambda vs oneTBB parallel_for, same lambda", 1.0)
            # #14's target for processes is the 10^7 row's; the cache-resident
            # row pays each map's round trip through the workers (shown).
            ratio(nj, w, "lk_proc_range", ["lk_range"], "range invoker, processes vs threads",
                  2.0 if w == "trivial" else None)
            ratio(nj, w, "lk_proc_shared", ["lk_range"], "the same, arrays from lk_shared_alloc (in place)",
                  2.0 if w == "trivial" else None)
            ratio(nj, w, "lk_threads", ["omp_inline"], "item invoker vs OpenMP inlined (before/after)", None)
            ratio(nj, w, "lk_noseed", ["omp_inline"], "item invoker, seeds off, vs OpenMP inlined", None)
            ratio(nj, w, "lk_cxx_noseed", ["tbb_lambda"], "C++ lambda, seeds off, vs oneTBB", None)
        elif w in ("latency1", "latency8"):
            f = v(nj, w, "futex_pingpong")
            for t in ("lk_processes", "lk_proc_range"):
                a = v(nj, w, t)
                if a is None:
                    continue
                text = f"{a:.2f} us" + (f", {a / f:.2f}x futex ping-pong" if f else "")
                if w == "latency1":
                    add(nj, w, f"{t}: 1-item map on processes", text,
                        "<= 10 us, or <= 1.5x futex", a <= 10.0 or (f is not None and a / f <= 1.5))
                else:
                    add(nj, w, f"{t}: 8-item map on processes", text, "-", None)
        elif w == "stream_20us":
            ratio(nj, w, "lk_stream", ["lk_threads"], "stream, window of a few chunks per worker, vs map", 1.03)
            ratio(nj, w, "lk_stream_auto", ["lk_threads"], "stream, automatic window, vs map", 1.03)
            ratio(nj, w, "lk_stream", ["tbb_pipeline", "tbb_pipeline_batched"],
                  "stream vs oneTBB parallel_pipeline, same items in flight", 1.0)
            ratio(nj, w, "lk_proc_stream", ["lk_threads"], "stream on processes vs map on threads", None)
        elif w == "example_stream":
            a, b = v(nj, w, "lk_stream"), v(nj, w, "lk_threads")
            if a and b:
                add(nj, w, "streamed throughput / in-memory map's (users/s)", f"{b / a:.3f}", ">= 0.97",
                    b / a >= 0.97)
        elif w == "example_rss":
            a, b = v(nj, w, "lk_stream"), v(nj, w, "lk_threads")
            if a is not None:
                add(nj, w, "streamed: peak RSS above the model, default window",
                    f"{a:.1f} MiB" + (f" (in memory: {b:.1f} MiB)" if b is not None else ""),
                    "<= 64 MiB", a <= 64.0)
        elif w.startswith("oversub_"):
            base = min(k[0] for k in c if k[1] == w)  # n_jobs = the CPUs (the smallest count run)
            a, b = v(nj, w, "lk_threads"), v(base, w, "lk_threads")
            if w == "oversub_idle":
                if a is not None:
                    add(nj, w, "CPUs busy while the pool waits (proposed)", f"{a:.3f}", "<= 0.05", a <= 0.05)
                continue
            maps = w.startswith("oversub_map")
            if nj != base and a is not None and b:
                add(nj, w, f"lk_threads at n_jobs {nj} / at n_jobs {base}" + (" (proposed)" if maps else ""),
                    f"{a / b:.2f}", "<= 2.0" if maps else "-", (a / b <= 2.0) if maps else None)
            ratio(nj, w, "lk_threads", SPECS[w][1], "vs the best peer with as many threads (proposed)", 1.5)
    return out


def print_targets(ts):
    if not ts:
        return
    head = ["n_jobs", "workload", "what", "value", "target", "met"]
    lines = [head] + [[str(t["n_jobs"]), t["workload"], t["what"], t["value"], t["target"], yesno(t["met"])]
                      for t in ts]
    widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
    print()
    print("targets (range maps and dispatch, streams, oversubscription; 'proposed' marks a number left open)")
    for i, l in enumerate(lines):
        print("  ".join(x.ljust(widths[j]) for j, x in enumerate(l)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def write_targets(path, ts):
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["n_jobs", "workload", "what", "value", "target", "met"])
        for t in ts:
            wr.writerow([t["n_jobs"], t["workload"], t["what"], t["value"], t["target"], yesno(t["met"])])
    tmp.replace(path)


def write_csv(path, table):
    cols = (["n_jobs", "workload", "unit", "reps"] + ALL_TOOLS +
            ["best_peer", "best_peer_value", "lk_tool", "ratio_lk", "ratio_lk_processes",
             "target_ratio", "target_met", "also", "also_met"])
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(cols)
        for row in table:
            vals = []
            for t in ALL_TOOLS:
                cell = row["cells"].get(t)
                vals.append("" if cell is None else "na" if cell[0] == "na"
                            else "failed" if cell[0] == "failed" else f"{cell[1]:.6g}")
            r = lambda v: "" if v is None else f"{v:.4f}"
            wr.writerow([row["n_jobs"], row["workload"], row["unit"] or "", row["reps"]] + vals +
                        [row["best_peer"] or "",
                         "" if row["best_value"] is None else f"{row['best_value']:.6g}",
                         row["lk_tool"], r(row["ratio"]), r(row["ratio_lk_processes"]),
                         "" if row["target"] is None else row["target"], yesno(row["met"]),
                         row["extra"], yesno(row["extra_met"])])
    tmp.replace(path)


COLORS = {"lk_threads": "#1f5fbf", "lk_processes": "#7fb2f0", "lk_run_sp": "#1f5fbf",
          "lk_noseed": "#3b73c8", "lk_static": "#5586d0", "lk_static_noseed": "#6f99d8",
          "lk_range": "#0b2e6f", "lk_proc_range": "#9cc4f4", "lk_proc_shared": "#5f9ed8", "lk_cxx": "#6a3d9a", "lk_cxx_noseed": "#9a7cc0",
          "lk_stream": "#0b2e6f", "lk_stream_auto": "#3b73c8", "lk_proc_stream": "#9cc4f4",
          "omp_static": "#8c8c8c", "omp_dynamic": "#b0b0b0", "omp_inline": "#5a5a5a",
          "tbb": "#5e9e6e", "tbb_lambda": "#2f6e3f", "tbb_pipeline": "#5e9e6e", "tbb_pipeline_batched": "#8fc49b",
          "pthread_pool": "#c9a04e", "futex_pingpong": "#5a5a5a", "fork_pipe": "#8c8c8c",
          "fork_memfd_write": "#8c8c8c", "fork_memfd_mmap": "#b0b0b0", "fork_ready": "#8c8c8c",
          "memcpy": "#e0d2a8"}
LEGEND = [("lk_threads / lk_run_sp", "#1f5fbf"), ("lk_processes", "#7fb2f0"),
          ("lk_range / lk_stream", "#0b2e6f"), ("lkparallel.hpp lambda", "#6a3d9a"),
          ("OpenMP static / bare fork", "#8c8c8c"), ("OpenMP dynamic / fork+mmap", "#b0b0b0"),
          ("OpenMP inlined / futex ping-pong", "#5a5a5a"), ("oneTBB", "#5e9e6e"),
          ("oneTBB lambda", "#2f6e3f"), ("pthread pool", "#c9a04e"), ("memcpy (floor)", "#e0d2a8")]


def draw_svg(path, table, machine):
    groups = [row for row in table if row["best_value"]]
    bar_w, gap, left, top, height = 14, 30, 60, 56, 260
    tools_of = lambda row: [t for t in ALL_TOOLS if t != "seq" and t in row["cells"]]
    widths = [max(bar_w * len(tools_of(row)) + gap, 100) for row in groups]
    width = max(left + sum(widths) + 20, 1300)
    total_h = top + height + 150
    ratios = [row["cells"][t][1] / row["best_value"] for row in groups for t in tools_of(row)
              if row["cells"][t][0] == "ok"]
    ymax = max([2.0] + [min(r, 4.0) for r in ratios])
    ymax = float(int(ymax * 2 + 0.999)) / 2  # round up to a half

    def y(v):
        return top + height - min(v, ymax) / ymax * height

    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_h}" '
         f'font-family="sans-serif" font-size="11">',
         f'<rect width="{width}" height="{total_h}" fill="white"/>',
         f'<text x="{left}" y="20" font-size="14" font-weight="bold">'
         'lkparallel and its peers: time / best peer\'s time (lower is better)</text>']
    cpu = next((m for m in machine if m.startswith("cpu: ")), "")
    date = next((m for m in machine if m.startswith("date: ")), "")
    s.append(f'<text x="{left}" y="36" fill="#555">{html.escape(cpu)}; {html.escape(date)}; '
             'medians of repeated runs, each checked against a sequential run</text>')
    s.append(f'<text x="{left}" y="50" fill="#555">red dash: the target for lkparallel; '
             'the labelled bar is lkparallel\'s ratio</text>')
    tick = 0.0
    while tick <= ymax + 1e-9:
        s.append(f'<line x1="{left}" x2="{width - 10}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                 f'stroke="{"#333" if tick == 1.0 else "#e4e4e4"}" '
                 f'stroke-width="{1.5 if tick == 1.0 else 1}"/>')
        s.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.1f}</text>')
        tick += 0.5
    maps = lambda r: GROUP_OF[r["workload"]] in ("maps", "streams")
    several_jobs = len({r["n_jobs"] for r in groups if maps(r)}) > 1
    x0 = left
    for row, gw in zip(groups, widths):
        tools = tools_of(row)
        bx = x0 + (gw - bar_w * len(tools)) / 2
        for ti, t in enumerate(tools):
            x = bx + ti * bar_w
            cell = row["cells"][t]
            if cell[0] != "ok":
                s.append(f'<text x="{x + 2.5:.1f}" y="{y(0) - 4:.1f}" font-size="9" '
                         f'transform="rotate(-90 {x + 9:.1f} {y(0) - 4:.1f})">'
                         f'{"n/a" if cell[0] == "na" else "FAILED"}</text>')
                continue
            r = cell[1] / row["best_value"]
            s.append(f'<rect x="{x:.1f}" y="{y(r):.1f}" width="{bar_w - 2}" '
                     f'height="{y(0) - y(r):.1f}" fill="{COLORS.get(t, "#999")}">'
                     f'<title>{t}: {cell[1]:.4g} {row["unit"]} ({r:.2f}x best peer)</title></rect>')
            if r > ymax:  # cut: the value, written down the bar
                s.append(f'<text x="{x + 2.5:.1f}" y="{y(r) + 4:.1f}" font-size="9" '
                         f'transform="rotate(90 {x + 2.5:.1f} {y(r) + 4:.1f})">{r:.3g}x</text>')
            elif t == row["lk_tool"]:
                s.append(f'<text x="{x + bar_w / 2 - 1:.1f}" y="{y(r) - 3:.1f}" font-size="9" '
                         f'text-anchor="middle">{r:.2f}</text>')
        if row["target"] is not None and row["lk_tool"] in tools:
            lx = bx + tools.index(row["lk_tool"]) * bar_w
            tgt = y(row["target"])
            s.append(f'<line x1="{lx - 3:.1f}" x2="{lx + bar_w + 1:.1f}" y1="{tgt:.1f}" '
                     f'y2="{tgt:.1f}" stroke="#d62728" stroke-width="2" stroke-dasharray="4,2"/>')
        label = SPECS[row["workload"]][3]
        cx = bx + bar_w * len(tools) / 2
        lines = label.split("|")
        if (several_jobs and maps(row)) or GROUP_OF[row["workload"]] == "oversubscription":
            lines.append(f'n_jobs {row["n_jobs"]}')
        lines.append(f'best {row["best_value"]:.3g} {row["unit"]}')
        for li, text in enumerate(lines):
            s.append(f'<text x="{cx:.1f}" y="{top + height + 14 + 12 * li}" text-anchor="middle" '
                     f'font-size="{10 if li < 2 else 9}" fill="{"#000" if li < 2 else "#555"}">'
                     f'{html.escape(text)}</text>')
        x0 += gw
    ly = top + height + 66
    for i, (name, color) in enumerate(LEGEND):
        lx = left + (i % 6) * 205
        yy = ly + (i // 6) * 18
        s.append(f'<rect x="{lx}" y="{yy}" width="12" height="12" fill="{color}"/>')
        s.append(f'<text x="{lx + 16}" y="{yy + 10}">{html.escape(name)}</text>')
    jobs = ", ".join(sorted({str(r["n_jobs"]) for r in groups if maps(r)}))
    s.append(f'<text x="{left}" y="{ly + 50}" fill="#555">map workloads at n_jobs {jobs}; '
             'peers: OpenMP, oneTBB, pthread pool (latency: OpenMP and oneTBB; trivial_cached: '
             'OpenMP with the body inlined); streams: oneTBB parallel_pipeline, and the in-memory '
             'map for the 2M-user example; oversubscribed: pthread pool and OpenMP with as many '
             'threads; process workloads: vs bare fork baselines. Every other target: targets.csv</text>')
    s.append(f'<text x="{left}" y="{ly + 64}" fill="#555">bars above {ymax:.1f} are cut and '
             'labelled; hover a bar for its median</text>')
    s.append("</svg>")
    tmp = path.with_suffix(".svg.tmp")
    tmp.write_text("\n".join(s) + "\n")
    tmp.replace(path)


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "benches/results")
    rows, machine = load(out)
    table = summarise(rows)
    print_tables(table, machine, rows)
    ts = targets(rows)
    print_targets(ts)
    write_csv(out / "results.csv", table)
    write_targets(out / "targets.csv", ts)
    draw_svg(out / "ratios.svg", table, machine)
    print(f"wrote {out / 'results.csv'}, {out / 'targets.csv'} and {out / 'ratios.svg'}")


if __name__ == "__main__":
    main()
