#!/usr/bin/env python3
"""Formatting helpers for bench/run: hyperfine tables, Go benchmark tables, the goals table,
and replacing generated sections of docs/BENCHMARKS.md.

  report.py hyperfine RESULT.json BASELINE          markdown table, ratios to BASELINE
  report.py gobench BENCH.txt                       markdown table of `go test -bench` output
  report.py goals HEALTHY.json HANG.json FOOT.md BENCH.txt   the goals table
  report.py put DOC NAME FILE                       replace section NAME of DOC with FILE

A section is the text between "<!-- begin bench/run NAME -->" and
"<!-- end bench/run NAME -->"; put appends it to DOC when DOC has no such markers.
"""
import json
import re
import sys


def load_hyperfine(path):
    return {r["command"]: r for r in json.load(open(path))["results"]}


def ms(seconds):
    return f"{seconds * 1e3:.1f}" if seconds < 10 else f"{seconds * 1e3:.0f}"


def hyperfine_table(path, baseline):
    res = load_hyperfine(path)
    base = res[baseline]["median"]
    out = ["| command | runs | median (ms) | mean ± σ (ms) | min (ms) | max (ms) | median × " + baseline + " |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in res.items():
        out.append(f"| {name} | {len(r['times'])} | {ms(r['median'])} | {ms(r['mean'])} ± {ms(r['stddev'] or 0)} "
                   f"| {ms(r['min'])} | {ms(r['max'])} | {r['median'] / base:.2f} |")
    return "\n".join(out)


BENCH_LINE = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$")


def gobench_table(path):
    out = ["| package | benchmark | time/op | B/op | allocs/op |", "|---|---|---:|---:|---:|"]
    pkg = ""
    for line in open(path):
        if line.startswith("pkg: "):
            pkg = line.split()[1].removeprefix("github.com/axprobe/axprobe/")
            continue
        m = BENCH_LINE.match(line.strip())
        if not m:
            continue
        fields = dict((unit, value) for value, unit in re.findall(r"([\d.]+) (\S+)", m.group(3)))
        ns = float(fields.get("ns/op", "nan"))
        t = f"{ns:.0f} ns" if ns < 1e4 else f"{ns / 1e3:.1f} µs" if ns < 1e7 else f"{ns / 1e6:.2f} ms"
        out.append(f"| {pkg} | {m.group(1)} | {t} | {fields.get('B/op', '–')} | {fields.get('allocs/op', '–')} |")
    return "\n".join(out)


def footprint_rows(path):
    """The axprobe and blackbox_exporter rows of axbench footprint's table: CPU s, RSS mean."""
    rows = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 9 and cells[0] in ("axprobe", "blackbox_exporter"):
            rows[cells[0]] = (float(cells[2].split()[0]), float(cells[5].split()[0]))
    return rows


def score_allocs(path):
    """allocs/op of internal/score's BenchmarkObserve, the score update."""
    for line in open(path):
        m = BENCH_LINE.match(line.strip())
        if m and m.group(1) == "BenchmarkObserve":
            found = re.search(r"([\d.]+) allocs/op", m.group(3))
            return float(found.group(1)) if found else None
    return None


def goals_table(healthy, hang, footprint, gobench):
    h = load_hyperfine(healthy)
    g = load_hyperfine(hang)
    med = lambda res, name: res[name]["median"]
    shim, hello = med(h, "axprobe-monitor"), med(h, "hello-world")
    plugins, blackbox = med(h, "check-plugins chain"), med(h, "blackbox_exporter chain")
    hang_shim, hang_plugins = med(g, "axprobe-monitor"), med(g, "check-plugins chain")
    fp = footprint_rows(footprint)
    (ax_cpu, ax_rss), (bb_cpu, bb_rss) = fp["axprobe"], fp["blackbox_exporter"]
    met = lambda ok: "**met**" if ok else "**not met**"
    rows = [
        ("monitor answer ≤ 2 × hello-world (median)", f"{shim / hello:.2f} × ({ms(shim)} vs {ms(hello)} ms)",
         met(shim <= 2 * hello)),
        ("≥ 10 × faster than the check-plugin chain (median)", f"{plugins / shim:.0f} × ({ms(shim)} vs {ms(plugins)} ms)",
         met(plugins >= 10 * shim)),
        ("faster than the blackbox_exporter chain (median)", f"{blackbox / shim:.0f} × ({ms(shim)} vs {ms(blackbox)} ms)",
         met(blackbox > shim)),
        ("answer stays bounded with Dovecot hung", f"{ms(hang_shim)} ms (plugins: {ms(hang_plugins)} ms)",
         met(hang_shim <= 2 * shim + 0.05)),
        ("daemon CPU below blackbox_exporter's at the same probe rate", f"{ax_cpu:.2f} s vs {bb_cpu:.2f} s",
         met(ax_cpu < bb_cpu)),
        ("daemon RSS below blackbox_exporter's (mean)", f"{ax_rss:.1f} MiB vs {bb_rss:.1f} MiB", met(ax_rss < bb_rss)),
    ]
    allocs = score_allocs(gobench)
    rows.append(("score update: 0 allocs/op (BenchmarkObserve)",
                 "not run" if allocs is None else f"{allocs:g} allocs/op", met(allocs == 0)))
    out = ["| goal | measured | verdict |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out)


def put(doc, name, path):
    body = open(path).read().strip("\n")
    begin, end = f"<!-- begin bench/run {name} -->", f"<!-- end bench/run {name} -->"
    text = open(doc).read()
    block = f"{begin}\n{body}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    open(doc, "w").write(text)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "hyperfine" and len(args) == 2:
        print(hyperfine_table(*args))
    elif cmd == "gobench" and len(args) == 1:
        print(gobench_table(*args))
    elif cmd == "goals" and len(args) == 4:
        print(goals_table(*args))
    elif cmd == "put" and len(args) == 3:
        put(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
