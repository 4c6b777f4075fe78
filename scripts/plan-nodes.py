#!/usr/bin/env python3
"""A node list shaped like `kubectl get nodes -o json`, for `redis-stretch plan` benchmarks.

    scripts/plan-nodes.py 1000 > nodes.json

Two zones (dc-a, dc-b, alternating), a mix of machine sizes, and the irregularities a real
fleet has that make the scheduler's filters and scores do work: a few cordoned nodes, a few
tainted for other workloads (NoSchedule) or soft-tainted (PreferNoSchedule), and the seed
recipe's `az1`/`az2` pool labels on three nodes each. The same count always gives the same
list, so runs compare like with like.
"""

import json
import random
import sys

SIZES = [  # (cpu, memory, instance type)
    ("3920m", "15928164Ki", "m5.xlarge"),
    ("7910m", "31827736Ki", "m5.2xlarge"),
    ("15890m", "63680076Ki", "m5.4xlarge"),
]


def node(i, rng):
    name = f"node-{i:05d}"
    zone = "dc-a" if i % 2 == 0 else "dc-b"
    cpu, memory, kind = rng.choice(SIZES)
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": kind,
        "topology.kubernetes.io/zone": zone,
    }
    # The seed's leader pool on the first three nodes, its follower pool on the next three.
    if i < 3:
        labels["az1"] = f"node0{i + 1}"
    elif i < 6:
        labels["az2"] = f"node0{i - 2}"
    spec = {}
    roll = rng.random()
    if roll < 0.02:
        spec["unschedulable"] = True
    elif roll < 0.05:
        spec["taints"] = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    elif roll < 0.10:
        spec["taints"] = [{"key": "batch", "effect": "PreferNoSchedule"}]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    }


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: plan-nodes.py COUNT")
    count = int(sys.argv[1])
    rng = random.Random(count)
    items = [node(i, rng) for i in range(count)]
    json.dump({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items},
              sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
