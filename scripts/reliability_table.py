#!/usr/bin/env python3
"""The reliability table from the lab drills' JSON (scripts/reliability.sh writes them).

usage: reliability_table.py DIR TARGET   (TARGET '-' prints the table only; otherwise the
document is docs/reliability-intro.md, the run's provenance and the table)
"""
import datetime
import json
import os
import subprocess
import sys


def pct(x):
    return "–" if x is None else f"{100 * x:.0f} %"


def row(name, mode, r):
    who = "engine" if mode == "engine" else "plain Redis"
    sides = r["figures"]["sides"]

    def worst(side):
        v = [s["accepted"] for s in sides if s["side"] == side]
        return min(v) if v else None

    third_gap = max(
        (g["to_ms"] - g["from_ms"] for s in sides if s["side"] == "third site" for g in s["gaps"]),
        default=0,
    )
    lost = sum(s["lost"] for s in sides)
    wlost = sum(s["wait_lost"] for s in sides)
    dual = max((s["dual_write_ms"] for s in r["figures"]["shards"]), default=0) / 1000
    changes = sum(s["master_changes"] for s in r["figures"]["shards"])
    settled = r.get("settled_after_ms")
    settled = "not in 60 s" if settled is None else f"{settled / 1000:.1f} s"
    if "hold-down" in (r.get("engine_waiting_for") or ""):
        settled += " (failback held down: flapping)"
    clean = "clean" if all(c[1] for c in r["cluster_check"]) else "NOT CLEAN"
    return (
        f"| {name} | {who} | {pct(worst('dc-a'))} | {pct(worst('dc-b'))} | "
        f"{pct(worst('third site'))} | {third_gap / 1000:.1f} s | {lost} | {wlost} | "
        f"{dual:.1f} s | {changes} | {settled} | {clean} |"
    )


SIDES = ("dc-a", "dc-b", "third site")


def per_side(r, count):
    """`count(side figures)` summed over the shards, per side: 'dc-a / dc-b / third site'."""
    sides = r["figures"]["sides"]
    return " / ".join(str(sum(count(s) for s in sides if s["side"] == side)) for side in SIDES)


def double_row(name, mode, r):
    """The double faults' table: what the engine did, and every figure per side."""
    who = "engine" if mode == "engine" else "plain Redis"
    sides = r["figures"]["sides"]
    third_gap = max(
        (g["to_ms"] - g["from_ms"] for s in sides if s["side"] == "third site" for g in s["gaps"]),
        default=0,
    )
    settled = r.get("settled_after_ms")
    settled = "not in 60 s" if settled is None else f"{settled / 1000:.1f} s"
    clean = "clean" if all(c[1] for c in r["cluster_check"]) else "NOT CLEAN"
    did = r.get("engine_did") or ("no engine" if mode != "engine" else "–")
    return (
        f"| {name} | {who} | {did} | {third_gap / 1000:.1f} s "
        f"| {per_side(r, lambda s: s['attempts'] - s['acked'])} "
        f"| {per_side(r, lambda s: s['lost'])} | {per_side(r, lambda s: s['wait_lost'])} "
        f"| {settled} | {clean} |"
    )


def load(out_dir, i, name):
    """The row's name (with its commit when re-measured on its own) and its JSON, or the
    drill's last line of error."""
    try:
        # A row re-measured on its own says at which commit.
        with open(os.path.join(out_dir, f"{i}.commit")) as f:
            name = f"{name} (re-measured at {f.read().strip()})"
    except OSError:
        pass
    try:
        with open(os.path.join(out_dir, f"{i}.json")) as f:
            return name, json.load(f), None
    except (OSError, ValueError):
        try:
            err = open(os.path.join(out_dir, f"{i}.err")).read().strip().splitlines()
        except OSError:
            err = []
        return name, None, err[-1] if err else "no output"


def main():
    out_dir, target = sys.argv[1], sys.argv[2]
    rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(out_dir, "rows.tsv"))]
    lines = [
        "| scenario | who | dc-a writer | dc-b writer | third-site writer | third-site longest outage "
        "| plain writes lost | WAIT-acked lost | dual-write window | master changes | settled after "
        "| cluster check |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    doubles = [
        "| scenario | who | what the engine did (actions from the fault's start) "
        "| time to serve every slot (third-site longest outage) "
        "| writes failed (dc-a / dc-b / third site) | plain writes lost (dc-a / dc-b / third site) "
        "| WAIT-acked lost (dc-a / dc-b / third site) | settled after | cluster check |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    steps = []
    for i, name, mode, *rest in rows:
        double = rest[:1] == ["double"]
        who = "engine" if mode == "engine" else "plain Redis"
        name, r, err = load(out_dir, i, name)
        try:
            if r is None:
                raise KeyError(err)
            if double:
                doubles.append(double_row(name, mode, r))
                if r.get("steps"):
                    steps.append(f"- **{name}** ({who}): " + "; ".join(r["steps"]) + ".")
            else:
                lines.append(row(name, mode, r))
        except KeyError as e:
            why = err or f"no {e} in its JSON"
            if double:
                doubles.append(f"| {name} | {who} | drill failed: {why} ||||||||")
            else:
                lines.append(f"| {name} | {who} | drill failed: {why} |||||||||||")
    table = "\n".join(lines) if len(lines) > 2 else ""
    if len(doubles) > 2:
        table += (
            "\n\n### Double faults\n\n"
            + "\n".join(doubles)
            + ("\n\nWhat the drill did and saw in each, in seconds from the fault's start:\n\n" + "\n".join(steps) if steps else "")
        )
    table = table.strip()
    if target == "-":
        print(table)
        return
    try:
        with open(os.path.join(out_dir, "commit")) as f:
            rev = f.read().strip()
    except OSError:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    with open("docs/reliability-intro.md") as f:
        head = f.read()
    # The rollout and scale rows come from `scripts/bench.sh rollout|scale`: kept as they are.
    kept = ""
    try:
        with open(target) as f:
            old = f.read()
        for name in ("rollout", "scale"):
            b, e = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
            begin, end = old.find(b), old.find(e)
            if begin >= 0 and end > begin:
                kept += ("\n" if kept else "") + old[begin : end + len(e)]
    except OSError:
        pass
    with open(target, "w") as f:
        f.write(head.rstrip() + "\n\n")
        f.write(
            f"Measured {datetime.date.today()} at commit {rev} by `scripts/reliability.sh`, "
            "one run per row, rows in order.\n\n"
        )
        f.write(table + "\n")
        if kept:
            f.write("\n" + kept + "\n")
    print(table)


if __name__ == "__main__":
    main()
