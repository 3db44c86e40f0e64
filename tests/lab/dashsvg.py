# SPDX-License-Identifier: Apache-2.0
"""The Grafana dashboard's panels drawn from Prometheus data, for readers
without Grafana: one small line chart per panel query set, two columns,
hand-written SVG (standard library only). tests/e2e/test_monitoring.py
writes it from its lab run when MONITORING_SVG names a file."""
from xml.sax.saxutils import escape

PALETTE = ["#2b6cb0", "#38a169", "#805ad5", "#d69e2e", "#319795",
           "#b83280", "#e53e3e", "#718096", "#dd6b20", "#2c7a7b"]


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and abs(f) != float("inf") else None


def render(path, title, panels, t0, t1):
    """panels: [(panel title, [(legend, [(t, value), ...]), ...])]; times
    in seconds (epoch). Writes the SVG to <path>."""
    cols, pw, ph, gap, top = 2, 470, 150, 40, 40
    rows = (len(panels) + cols - 1) // cols
    W = cols * pw + (cols + 1) * gap
    H = top + rows * (ph + 84) + 20
    span = max(t1 - t0, 1.0)
    e = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'viewBox="0 0 %d %d" font-family="sans-serif" font-size="10">'
         % (W, H, W, H),
         '<rect width="%d" height="%d" fill="#ffffff"/>' % (W, H),
         '<text x="%d" y="24" font-size="14" font-weight="bold">%s</text>'
         % (gap, escape(title))]
    for k, (ptitle, series) in enumerate(panels):
        x0 = gap + (k % cols) * (pw + gap)
        y0 = top + (k // cols) * (ph + 84) + 16
        vals = [v for _, pts in series for _, v in pts if v is not None]
        vmax = max(vals + [0.0]) or 1.0
        vmin = min(vals + [0.0])
        rng = (vmax - vmin) or 1.0

        def px(t):
            return x0 + (t - t0) / span * pw

        def py(v):
            return y0 + ph - (v - vmin) / rng * ph
        e.append('<text x="%d" y="%d" font-weight="bold">%s</text>'
                 % (x0, y0 - 4, escape(ptitle)))
        e.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" '
                 'stroke="#cbd5e0"/>' % (x0, y0, pw, ph))
        e.append('<text x="%d" y="%d" text-anchor="end">%.3g</text>'
                 % (x0 - 3, y0 + 8, vmax))
        e.append('<text x="%d" y="%d" text-anchor="end">%.3g</text>'
                 % (x0 - 3, y0 + ph, vmin))
        for i, (legend, pts) in enumerate(series[:len(PALETTE)]):
            color = PALETTE[i % len(PALETTE)]
            segs, cur = [], []
            for t, v in pts:
                if v is None:
                    if cur:
                        segs.append(cur)
                    cur = []
                else:
                    cur.append("%.1f,%.1f" % (px(t), py(v)))
            if cur:
                segs.append(cur)
            for seg in segs:
                e.append('<polyline fill="none" stroke="%s" stroke-width='
                         '"1.3" points="%s"/>' % (color, " ".join(seg)))
            lx = x0 + (i % 3) * (pw // 3)
            ly = y0 + ph + 14 + 12 * (i // 3)
            e.append('<rect x="%d" y="%d" width="8" height="8" fill="%s"/>'
                     '<text x="%d" y="%d">%s</text>' % (
                         lx, ly - 7, color, lx + 11, ly,
                         escape(legend[:34])))
        if len(series) > len(PALETTE):
            e.append('<text x="%d" y="%d" fill="#718096">(+%d series)'
                     '</text>' % (x0 + pw - 80, y0 - 4,
                                  len(series) - len(PALETTE)))
    e.append('</svg>')
    with open(path, "w") as f:
        f.write("\n".join(e) + "\n")


def series_points(result, legend_format):
    """Prometheus query_range result -> [(legend, [(t, value or None)])];
    {{label}} in <legend_format> is replaced by the series' label."""
    out = []
    for s in result:
        legend = legend_format or "{}"
        for k, v in s.get("metric", {}).items():
            legend = legend.replace("{{%s}}" % k, v)
        out.append((legend, [(float(t), _num(v)) for t, v in
                             s.get("values", [])]))
    return out
