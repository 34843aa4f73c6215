#!/usr/bin/env python3
"""The table (and --json, --markdown) of scripts/bench.sh from its rows file (one tab-separated row per line:
id, section, label, value, unit, kernel row id, goal, command, note). Goals: comma-separated checks,
min:X / max:X on the value, rmin:X / rmax:X on value / kernel figure, vs:ID:rmin:X on value / row ID's value.
Given a .json file written by --json instead, it only re-renders it: report.py OUT.json --markdown OUT.md."""
import argparse
import json
import sys

SECTIONS = [("bulk", "Bulk throughput (MTU 1500)"), ("rr", "Request/response, 1 byte each way"),
            ("churn", "Offload churn"), ("scale", "Scale"), ("cpu", "CPU cost per GiB moved")]


def num(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if v else "0"


def check(goal, value, kernel, rows, ref_name="kernel"):
    """Returns (verdict, [text per check]) for a goal spec; verdict pass / miss / n/a / '-'."""
    if goal in ("", "-"):
        return "-", []
    texts, verdict = [], "pass"
    for part in goal.split(","):
        bits = part.split(":")
        if bits[0] == "vs":
            ref, bits = num(rows.get(bits[1], {}).get("value")), bits[2:]
            name = f"x {rows.get(part.split(':')[1], {}).get('label', '?').split(',')[0]}"
        else:
            ref, name = kernel, f"x {ref_name}"
        kind, limit = bits[0], float(bits[1])
        if kind in ("min", "max"):
            got, what = value, ""
        else:
            got = value / ref if value is not None and ref else None
            what = f" {name}"
        if got is None:
            texts.append(f"{'>=' if kind.endswith('min') else '<='} {limit:g}{what}: n/a")
            if verdict == "pass":
                verdict = "n/a"
            continue
        ok = got >= limit if kind.endswith("min") else got <= limit
        op = ">=" if kind.endswith("min") else "<="
        texts.append(f"{op} {limit:g}{what}: {'ok' if ok else 'MISS'} ({fmt(got)}{'x' if what else ''}"
                     f"{'' if ok else f', {got / limit:.2f} of goal'})")
        if not ok:
            verdict = "miss"
    return verdict, texts


def markdown(header, out):
    """The same table for docs/performance.md: one Markdown table, the commands after it."""
    lines = [f"{header['time']}, commit {header['commit']}, {header['cpus']} CPUs, kernel {header['kernel']}, load average "
             f"{header['load_start']} at start and {header['load_end']} at end, {header['seconds_per_row']:g} s per row.", "",
             "| part | row | figure | kernel* | ratio | goal (issue 7) |", "|---|---|---:|---:|---:|---|"]
    rank = {key: i for i, (key, _) in enumerate(SECTIONS)}
    for o in sorted(out, key=lambda o: rank.get(o["section"], len(rank))):
        v = f"{fmt(o['value'])} {o['unit']}" if o["value"] is not None else ("skipped" if o["skipped"] else "FAILED")
        k = fmt(o["kernel_value"]) if o["kernel_value"] is not None else ""
        r = f"{fmt(o['ratio'])}x" if o["ratio"] is not None else ""
        g = "; ".join(c.replace("MISS", "**miss**") for c in o["checks"])
        lines.append(f"| {o['section']} | {o['label'].strip()} | {v} | {k} | {r} | {g} |")
    lines += ["", "\\* the kernel's figure for the same work, or the row the goal names", "", "Commands:", ""]
    for o in out:
        if o["command"] != "(same run)":
            lines.append(f"- {o['label']}: `{o['command']}`" + (f" ({o['note']})" if o["note"] else ""))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rows")
    for opt in ("--cpus", "--kernel", "--load-start", "--load-end", "--time", "--commit", "--seconds", "--mode", "--json",
                "--markdown"):
        ap.add_argument(opt)
    a = ap.parse_args()
    if a.rows.endswith(".json"):   # re-render a saved --json report (e.g. --markdown for the docs)
        with open(a.rows, encoding="utf-8") as f:
            saved = json.load(f)
        if a.markdown:
            with open(a.markdown, "w", encoding="utf-8") as f:
                f.write(markdown(saved, saved["rows"]))
        return 0
    order, rows = [], {}
    with open(a.rows, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 9:
                continue
            rid, section, label, value, unit, kid, goal, command, note = parts[:9]
            rows[rid] = dict(id=rid, section=section, label=label, value=value, unit=unit, kernel_row=kid, goal=goal,
                             command=command, note=note)
            order.append(rid)
    out = []
    for rid in order:
        r = rows[rid]
        value = num(r["value"])
        kernel = num(rows.get(r["kernel_row"], {}).get("value")) if r["kernel_row"] != "-" else None
        ratio = value / kernel if value is not None and kernel else None
        kid = r["kernel_row"]
        ref_name = "kernel" if kid.startswith("k-") else rows.get(kid, {}).get("label", kid).strip()
        verdict, texts = check(r["goal"], value, kernel, rows, ref_name)
        out.append(dict(id=rid, section=r["section"], label=r["label"], value=value, unit=r["unit"],
                        kernel_row=None if r["kernel_row"] == "-" else r["kernel_row"], kernel_value=kernel, ratio=ratio,
                        goal=None if r["goal"] == "-" else r["goal"], verdict=verdict, checks=texts,
                        command=r["command"], note=r["note"] or None,
                        skipped=value is None and r["command"].startswith(("skipped", "-"))))
    header = dict(time=a.time, commit=a.commit, cpus=int(a.cpus), kernel=a.kernel, load_start=a.load_start,
                  load_end=a.load_end, seconds_per_row=float(a.seconds), mode=a.mode)
    print(f"OffloadEmu bench {a.time}, commit {a.commit}: {a.cpus} CPUs, kernel {a.kernel}, "
          f"load average {a.load_start} at start, {a.load_end} at end; {a.seconds} s per row")
    for key, title in SECTIONS:
        sec = [o for o in out if o["section"] == key]
        if not sec:
            continue
        print(f"\n{title}")
        w = max(len(o["label"]) for o in sec)
        print(f"  {'row'.ljust(w)}  {'value':>10} {'unit':<10} {'kernel*':>10} {'ratio':>7}  goal (issue 7)")
        for o in sec:
            goal = "; ".join(o["checks"]) if o["checks"] else ""
            v = fmt(o["value"]) if o["value"] is not None else ("skipped" if o["skipped"] else "FAILED")
            print(f"  {o['label'].ljust(w)}  {v:>10} {o['unit']:<10} {fmt(o['kernel_value']):>10} "
                  f"{(fmt(o['ratio']) + 'x') if o['ratio'] is not None else '-':>7}  {goal}")
    print("\n* the kernel's figure for the same work (the row named in the goal where it is not the kernel)")
    print("\nCommands")
    for o in out:
        if o["command"] != "(same run)":
            print(f"  {o['label']}: {o['command']}" + (f"  [{o['note']}]" if o["note"] else ""))
    notes = [o for o in out if o["command"] == "(same run)" and o["note"]]
    for o in notes:
        print(f"  {o['label'].strip()}: {o['note']}")
    goals = [o for o in out if o["verdict"] != "-"]
    passed = sum(1 for o in goals if o["verdict"] == "pass")
    print(f"\nGoals (issue 7): {passed} of {len(goals)} rows pass; "
          f"miss: {', '.join(o['id'] for o in goals if o['verdict'] == 'miss') or 'none'}; "
          f"n/a: {', '.join(o['id'] for o in goals if o['verdict'] == 'n/a') or 'none'}")
    failed = [o["id"] for o in out if o["value"] is None and not o["skipped"]]
    if failed:
        print(f"Rows without a figure: {', '.join(failed)}")
    if a.markdown:
        with open(a.markdown, "w", encoding="utf-8") as f:
            f.write(markdown(header, out))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(dict(header, rows=out), f, indent=1)
            f.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
