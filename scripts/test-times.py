#!/usr/bin/env python3
"""Where the suite's time goes, from the files the last `scripts/test.sh` run left behind.

    python3 scripts/test-times.py            # print the tables (Markdown)
    python3 scripts/test-times.py --write    # and put them into docs/TESTING.md

Reads target/test-times/phases.tsv (wall time of each phase of scripts/test.sh) and the JUnit
reports cargo-nextest writes for each run (target/nextest/PROFILE/junit.xml: `default` for Redis
7.0, `valkey` for Valkey 8.1, `valkey-9`, `redis-8`, `e2e`). The per-binary times are the sum of
its tests' own times: with four tests side by side they add up to more than the wall time of
their run.
"""

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = [
    ("Redis 7.0", "default"),
    ("Valkey 8.1", "valkey"),
    ("Valkey 9.1", "valkey-9"),
    ("Redis 8.2", "redis-8"),
    ("e2e", "e2e"),
]
BEGIN = "<!-- test-times:begin -->"
END = "<!-- test-times:end -->"


def fmt(secs: float) -> str:
    return f"{secs / 60:.1f} min" if secs >= 120 else f"{secs:.0f} s"


def phases() -> list[tuple[str, float]]:
    path = ROOT / "target/test-times/phases.tsv"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        name, _, secs = line.rpartition("\t")
        if name:
            out.append((name, float(secs)))
    return out


def tests(profile: str) -> list[tuple[str, str, float]]:
    path = ROOT / "target/nextest" / profile / "junit.xml"
    if not path.exists():
        return []
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        out.append((case.get("classname", ""), case.get("name", ""), float(case.get("time", "0"))))
    return out


def tables() -> str:
    lines = []
    ph = phases()
    if ph:
        lines += ["| phase of scripts/test.sh | wall time |", "|---|---|"]
        lines += [f"| {name} | {fmt(secs)} |" for name, secs in ph]
        lines.append("")
    per_binary: dict[str, dict[str, tuple[int, float, float]]] = {}
    slowest = []
    for label, profile in RUNS:
        for binary, name, secs in tests(profile):
            n, total, longest = per_binary.setdefault(binary, {}).get(label, (0, 0.0, 0.0))
            per_binary[binary][label] = (n + 1, total + secs, max(longest, secs))
            slowest.append((secs, label, binary, name))
    if per_binary:
        # Only the runs that left a report get a column.
        runs = [(label, p) for label, p in RUNS if any(label in b for b in per_binary.values())]
        heads = [f"{runs[0][0]}: sum of test times (longest)"] + [label for label, _ in runs[1:]]
        lines += [
            "| test binary | tests | " + " | ".join(heads) + " |",
            "|---|---|" + "---|" * len(runs),
        ]

        def cost(b: str) -> float:
            return sum(t for _, t, _ in per_binary[b].values())

        ranked = sorted(per_binary, key=cost, reverse=True)
        quick = [b for b in ranked if cost(b) < 2.0]
        for b in ranked:
            if b in quick:
                continue
            cells = []
            count = max(n for n, _, _ in per_binary[b].values())
            for label, _ in runs:
                if label in per_binary[b]:
                    _, total, longest = per_binary[b][label]
                    cells.append(f"{fmt(total)} ({fmt(longest)})")
                else:
                    cells.append("-")
            lines.append(f"| `{b}` | {count} | " + " | ".join(cells) + " |")
        if quick:
            n = sum(max(k for k, _, _ in per_binary[b].values()) for b in quick)
            rest = " |" * (len(runs) - 1)
            lines.append(f"| {len(quick)} more binaries, {n} tests (pure code) | | under 2 s each |{rest}")
        lines.append("")
        lines += ["| slowest tests | run | time |", "|---|---|---|"]
        for secs, label, binary, name in sorted(slowest, reverse=True)[:12]:
            lines.append(f"| `{binary}` {name} | {label} | {fmt(secs)} |")
    return "\n".join(lines)


def main() -> int:
    text = tables()
    if not text:
        print("no timings: run scripts/test.sh first", file=sys.stderr)
        return 1
    print(text)
    if "--write" in sys.argv:
        doc = ROOT / "docs/TESTING.md"
        body = doc.read_text()
        if BEGIN not in body or END not in body:
            print(f"{doc}: markers {BEGIN} / {END} not found", file=sys.stderr)
            return 1
        body = re.sub(
            re.escape(BEGIN) + ".*?" + re.escape(END),
            lambda _: f"{BEGIN}\n{text}\n{END}",
            body,
            flags=re.S,
        )
        doc.write_text(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
