# SPDX-License-Identifier: Apache-2.0
"""The lab's chart: per-region requests per second over time (stacked, as
the regions served them), the throttles and failures the regions answered,
and one lane per region with its circuit state (closed / cooling after a
429 / open / half-open) from the agent's transitions. Hand-written SVG,
standard library only."""
from xml.sax.saxutils import escape

PALETTE = ["#2b6cb0", "#38a169", "#805ad5", "#d69e2e", "#319795",
           "#b83280", "#718096"]
STATE_COLOR = {"closed": "#c6f6d5", "cooling": "#fefcbf",
               "open": "#feb2b2", "half-open": "#fbd38d"}


def _rates(samples, regions, key):
    """[(t_mid, {region: rate})] from cumulative samples."""
    out = []
    for (t0, a), (t1, b) in zip(samples, samples[1:]):
        dt = t1 - t0
        if dt <= 0:
            continue
        out.append(((t0 + t1) / 2, t0, t1, {
            r: max(0.0, (b.get(r, {}).get(key, 0) - a.get(r, {}).get(key, 0))
                   / dt) for r in regions}))
    return out


CHAR_W = 6.2  # average width of an 11 px sans-serif character


def _rows(labels, gap=6.0):
    """Rows for labels [(x, text, anchor)] so that no two labels of a row
    overlap: greedy, left to right. Returns the row of each label, in the
    order given."""
    spans = []
    for i, (x, text, anchor) in enumerate(labels):
        w = len(text) * CHAR_W
        x0 = x - w / 2 if anchor == "middle" else x - w if anchor == "end" \
            else x
        spans.append((x0, x0 + w, i))
    ends, row_of = [], [0] * len(labels)
    for x0, x1, i in sorted(spans):
        for r, end in enumerate(ends):
            if end + gap <= x0:
                break
        else:
            r = len(ends)
            ends.append(float("-inf"))
        ends[r] = x1
        row_of[i] = r
    return row_of


def _nice_max(v):
    for m in (5, 10, 20, 25, 50, 100, 150, 200, 250, 300, 400, 500, 750,
              1000, 1500, 2000, 5000, 10000):
        if v <= m:
            return m
    return v


def render(path, title, samples, regions, duration, transitions=(),
           phases=(), incidents=()):
    """samples: [(t, {region: {"ok": n, "throttled": n, "failed": n}})]
    cumulative; transitions: [{"t", "region", "from", "to", "why"}];
    phases: [{"name", "start", "end", "rps"}]; incidents: [{"region",
    "kind", "start", "end"}]. Writes the SVG to path."""
    L, R = 110, 170
    W = 1000
    PH = 280                       # plot height
    lane_h, lane_gap = 16, 6
    pw = W - L - R
    dur = max(duration, 1.0)

    def x(t):
        return L + max(0.0, min(t, dur)) / dur * pw

    # labels that must not overlap: phases above the plot, incidents at
    # its top, trips and recoveries (named by region) under the lanes
    phase_lab = [(x((p["start"] + p["end"]) / 2), "%s %s rps" % (
        p["name"], p.get("rps", "")), "middle") for p in phases]
    phase_row = _rows(phase_lab)
    inc_lab = [(x(i["start"]) + 2, "%s %s" % (i["region"], i["kind"]),
                "start") for i in incidents]
    inc_row = _rows(inc_lab)
    marks = []
    tripped = set()
    for tr in sorted(transitions, key=lambda tr: tr["t"]):
        if tr["to"] == "open" and tr["from"] == "closed":
            tripped.add(tr["region"])
            marks.append((tr, "trip", "#c53030", "%s trip" % tr["region"]))
        elif tr["to"] == "closed" and tr["region"] in tripped:
            tripped.discard(tr["region"])
            marks.append((tr, "recovery", "#2f855a",
                          "%s recovered" % tr["region"]))
    mark_lab = [(x(m[0]["t"]), m[3], "middle") for m in marks]
    mark_row = _rows(mark_lab)
    T = 34 + 12 * (max(phase_row) + 1 if phase_row else 1)
    lanes_top = T + PH + 42
    lanes_end = lanes_top + len(regions) * (lane_h + lane_gap)
    marks_top = lanes_end + 12
    H = marks_top + 12 * (max(mark_row) + 1 if mark_row else 0) + 30

    ok = _rates(samples, regions, "ok")
    thr = _rates(samples, regions, "throttled")
    bad = _rates(samples, regions, "failed")
    peak = max([sum(v.values()) for _, _, _, v in ok]
               + [sum(v.values()) for _, _, _, v in thr] + [1.0])
    ymax = _nice_max(peak * 1.1)

    def y(v):
        return T + PH - v / ymax * PH

    e = []
    e.append('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d"'
             ' viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">'
             % (W, H, W, H))
    e.append('<title>%s</title>' % escape(title))
    e.append('<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>'
             % (W, H))
    e.append('<text x="%d" y="20" font-size="14" font-weight="bold">%s'
             '</text>' % (L, escape(title)))
    # phases: alternating background bands with their names and rates
    for i, p in enumerate(phases):
        x0, x1 = x(p["start"]), x(p["end"])
        if i % 2:
            e.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" '
                     'fill="#f7fafc"/>' % (x0, T, x1 - x0, PH))
        e.append('<text x="%.1f" y="%d" fill="#4a5568" text-anchor="middle">'
                 '%s</text>' % (phase_lab[i][0], T - 6 - 12 * phase_row[i],
                                escape(phase_lab[i][1])))
    for k, inc in enumerate(incidents):
        x0, x1 = x(inc["start"]), x(inc["end"])
        e.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" '
                 'fill="#fed7d7" fill-opacity="0.6"><title>%s</title></rect>'
                 % (x0, T, max(1.0, x1 - x0), PH,
                    escape("%s: %s" % (inc["region"], inc["kind"]))))
        e.append('<text x="%.1f" y="%d" fill="#c53030">%s</text>'
                 % (inc_lab[k][0], T + 12 + 12 * inc_row[k],
                    escape(inc_lab[k][1])))
    # axes and grid
    for k in range(6):
        v = ymax * k / 5
        e.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e2e8f0"/>'
                 % (L, y(v), L + pw, y(v)))
        e.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>'
                 % (L - 6, y(v) + 4, round(v, 1)))
    step = 5 if dur <= 30 else 10 if dur <= 120 else 30
    t = 0
    while t <= dur + 1e-9:
        e.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e2e8f0"/>'
                 % (x(t), T, x(t), T + PH))
        e.append('<text x="%.1f" y="%d" text-anchor="middle">%ds</text>'
                 % (x(t), T + PH + 14, t))
        t += step
    e.append('<text x="%d" y="%d" transform="rotate(-90 %d %d)" '
             'text-anchor="middle">requests per second</text>'
             % (L - 40, T + PH // 2, L - 40, T + PH // 2))
    e.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#4a5568"/>'
             % (L, T + PH, L + pw, T + PH))
    # stacked areas: 2xx served per region (step shape per interval)
    base = {i: 0.0 for i in range(len(ok))}
    for ri, r in enumerate(regions):
        color = PALETTE[ri % len(PALETTE)]
        top, bottom = [], []
        for i, (_m, t0, t1, v) in enumerate(ok):
            b = base[i]
            tp = b + v[r]
            top += [(x(t0), y(tp)), (x(t1), y(tp))]
            bottom += [(x(t0), y(b)), (x(t1), y(b))]
            base[i] = tp
        if not top:
            continue
        pts = top + list(reversed(bottom))
        e.append('<polygon fill="%s" fill-opacity="0.75" stroke="%s" '
                 'stroke-width="0.5" points="%s"><title>%s 2xx/s</title>'
                 '</polygon>' % (color, color, " ".join(
                     "%.1f,%.1f" % p for p in pts), escape(r)))
    # 429/s and failures/s answered by the regions (all regions)
    for series, color, dash, name in ((thr, "#e53e3e", "", "429/s"),
                                      (bad, "#000000", "4,3",
                                       "5xx+resets/s")):
        pts = []
        for _m, t0, t1, v in series:
            s = sum(v.values())
            pts += [(x(t0), y(s)), (x(t1), y(s))]
        if pts and any(p[1] < T + PH for p in pts):
            e.append('<polyline fill="none" stroke="%s" stroke-width="1.6"%s'
                     ' points="%s"><title>%s</title></polyline>' % (
                         color, ' stroke-dasharray="%s"' % dash if dash
                         else "", " ".join("%.1f,%.1f" % p for p in pts),
                         name))
    # breaker trips and recoveries: a marker across plot and lanes, and
    # a label naming the region under the lanes
    for k, (tr, kind, color, label) in enumerate(marks):
        xx = x(tr["t"])
        e.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" '
                 'stroke-width="1.2" stroke-dasharray="2,2"><title>%s'
                 '</title></line>' % (xx, T, xx, marks_top - 9, color,
                                      escape("%.1fs %s %s -> %s: %s" % (
                                          tr["t"], tr["region"], tr["from"],
                                          tr["to"], tr["why"]))))
        e.append('<text x="%.1f" y="%d" fill="%s" text-anchor="middle">%s'
                 '</text>' % (xx, marks_top + 12 * mark_row[k], color,
                              escape(label)))
    # state lanes
    e.append('<text x="%d" y="%d" font-weight="bold">circuit state '
             '(agent)</text>' % (L, lanes_top - 8))
    for ri, r in enumerate(regions):
        ly = lanes_top + ri * (lane_h + lane_gap)
        segs, state, since = [], "closed", 0.0
        for tr in sorted((tr for tr in transitions if tr["region"] == r),
                         key=lambda tr: tr["t"]):
            segs.append((since, tr["t"], state))
            state, since = tr["to"], tr["t"]
        segs.append((since, dur, state))
        for a, b, st in segs:
            if b <= a:
                continue
            e.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" '
                     'fill="%s"><title>%s</title></rect>' % (
                         x(a), ly, max(0.5, x(b) - x(a)), lane_h,
                         STATE_COLOR.get(st, "#e2e8f0"), escape(
                             "%s %s %.1f-%.1fs" % (r, st, a, b))))
        e.append('<text x="%d" y="%d" text-anchor="end">%s</text>'
                 % (L - 6, ly + 12, escape(r)))
    # legend
    lx, ly = L + pw + 16, T + 4
    for ri, r in enumerate(regions):
        e.append('<rect x="%d" y="%d" width="12" height="12" fill="%s" '
                 'fill-opacity="0.75"/><text x="%d" y="%d">%s 2xx</text>'
                 % (lx, ly, PALETTE[ri % len(PALETTE)], lx + 18, ly + 10,
                    escape(r)))
        ly += 18
    for color, dash, name in (("#e53e3e", "", "429 answered"),
                              ("#000000", "4,3", "5xx / resets")):
        e.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" '
                 'stroke-width="1.6"%s/><text x="%d" y="%d">%s</text>'
                 % (lx, ly + 6, lx + 12, ly + 6, color,
                    ' stroke-dasharray="%s"' % dash if dash else "",
                    lx + 18, ly + 10, name))
        ly += 18
    for color, name in (("#c53030", "breaker trip"),
                        ("#2f855a", "recovery")):
        e.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" '
                 'stroke-dasharray="2,2" stroke-width="1.2"/>'
                 '<text x="%d" y="%d">%s</text>'
                 % (lx + 6, ly, lx + 6, ly + 12, color, lx + 18, ly + 10,
                    name))
        ly += 18
    ly += 6
    for st in ("closed", "cooling", "open", "half-open"):
        e.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                 '<text x="%d" y="%d">%s</text>'
                 % (lx, ly, STATE_COLOR[st], lx + 18, ly + 10,
                    {"cooling": "cooling (429)"}.get(st, st)))
        ly += 18
    e.append('<text x="%d" y="%d" fill="#718096">time since the start of '
             'the workload; rates from the regions\' own counters, sampled '
             'every second</text>' % (L, H - 8))
    e.append('</svg>')
    with open(path, "w") as f:
        f.write("\n".join(e) + "\n")
