# SPDX-License-Identifier: Apache-2.0
"""The mock lab's scenario: the regions' quotas and roles, the load phases
and request mix, the incidents and the arrival schedule. Data and pure
functions only (no process, no I/O)."""
import random

WINDOW_MS = 5000  # the mocks' quota window (Azure counts per minute; the
#                   lab per 5 s so that throttling and recovery fit in a run)
QUOTAS = {
    # PTU-like: the biggest share of traffic, fast, a quota that the peak
    # exceeds.
    "eastus": {"rpm": 150, "tpm": 2000000, "window_ms": WINDOW_MS,
               "latency_ms": 25, "stream_delay_ms": 20},
    # standard deployment, priority 1 as well, smaller quota
    "swedencentral": {"rpm": 60, "tpm": 1000000, "window_ms": WINDOW_MS,
                      "latency_ms": 45, "stream_delay_ms": 25},
    # pay-as-you-go spillover (priority 2): big quota, slower
    "westus-payg": {"rpm": 2500, "tpm": 50000000, "window_ms": WINDOW_MS,
                    "latency_ms": 90, "stream_delay_ms": 30},
}
PLAN = {  # what haproxy-conf/lab/aoai-spoa.yaml says (for the report)
    "eastus": {"priority": 1, "weight": 2, "role": "PTU-like"},
    "swedencentral": {"priority": 1, "weight": 1, "role": "standard"},
    "westus-payg": {"priority": 2, "weight": 1, "role": "PAYG spillover"},
}
# (name, start, end as fractions of the duration, requests per second)
PHASES = [("warm-up", 0.00, 0.15, 20), ("peak", 0.15, 0.40, 90),
          ("steady", 0.40, 0.75, 30), ("peak", 0.75, 0.88, 70),
          ("cool-down", 0.88, 1.00, 20)]
MIX = (("chat", 0.85), ("stream", 0.05), ("embeddings", 0.10))


def scenario(duration):
    phases = [{"name": n, "start": round(a * duration, 2),
               "end": round(b * duration, 2), "rps": rps}
              for n, a, b, rps in PHASES]
    burst = max(2.0, 0.05 * duration)
    resets = max(2.0, 0.04 * duration)
    # in the steady phase, after the peak's throttle cooldowns (each
    # incident also waits until its region is back in traffic)
    t_a = round(0.50 * duration, 2)
    t_b = round(0.62 * duration, 2)
    incidents = [
        {"region": "eastus", "kind": "5xx burst (every answer 500)",
         "start": t_a, "end": round(t_a + burst, 2),
         "on": {"fail_status": 500, "fail_rate": 100},
         "off": {"fail_rate": 0}},
        {"region": "swedencentral", "kind": "connection resets",
         "start": t_b, "end": round(t_b + resets, 2),
         "on": {"reset_count": 1000000}, "off": {"reset_count": 0}},
    ]
    return phases, incidents


def arrivals(phases, seed):
    """[(t, kind)]: Poisson arrivals per phase, kinds drawn from MIX."""
    rnd = random.Random(seed)
    out = []
    for p in phases:
        t = p["start"]
        while True:
            t += rnd.expovariate(p["rps"])
            if t >= p["end"]:
                break
            u, acc = rnd.random(), 0.0
            for kind, share in MIX:
                acc += share
                if u < acc:
                    break
            out.append((t, kind))
    return out
