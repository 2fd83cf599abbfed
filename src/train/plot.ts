// Dependency-free SVG line charts (loss curves, speed bars) for run directories and RESULTS.md.

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step0 = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(+v.toPrecision(12));
  return out;
}

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
}

/**
 * A line chart of several series sharing the axes. `logY` plots log10 of positive values
 * (losses spanning decades stay readable); `markers` also draws each point (a one-point series shows).
 */
export function lineChartSvg(
  series: readonly Series[],
  opts: { title?: string; xLabel?: string; yLabel?: string; logY?: boolean; markers?: boolean; width?: number; height?: number } = {},
): string {
  const W = opts.width ?? 640;
  const H = opts.height ?? 360;
  const m = { l: 60, r: 150, t: 30, b: 40 };
  const fy = (y: number) => (opts.logY ? Math.log10(Math.max(y, 1e-12)) : y);
  const pts = series.flatMap((s) => s.points.filter(([, y]) => Number.isFinite(y)));
  const xs = pts.map(([x]) => x);
  const ys = pts.map(([, y]) => fy(y));
  const x0 = Math.min(...xs, 0);
  const x1 = Math.max(...xs, 1);
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  if (!Number.isFinite(y0)) [y0, y1] = [0, 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((fy(y) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  if (opts.title) out.push(`<text x="${m.l}" y="18" font-size="13">${esc(opts.title)}</text>`);
  for (const t of niceTicks(x0, x1)) {
    out.push(
      `<line x1="${px(t)}" y1="${H - m.b}" x2="${px(t)}" y2="${m.t}" stroke="#eee"/>`,
      `<text x="${px(t)}" y="${H - m.b + 14}" text-anchor="middle">${t}</text>`,
    );
  }
  for (const t of niceTicks(y0, y1)) {
    const y = H - m.b - ((t - y0) / (y1 - y0)) * (H - m.t - m.b);
    const label = opts.logY ? (10 ** t).toPrecision(2) : String(+t.toPrecision(4));
    out.push(`<line x1="${m.l}" y1="${y}" x2="${W - m.r}" y2="${y}" stroke="#eee"/>`, `<text x="${m.l - 4}" y="${y + 4}" text-anchor="end">${label}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#888"/>`);
  if (opts.xLabel) out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  if (opts.yLabel)
    out.push(
      `<text x="14" y="${(m.t + H - m.b) / 2}" transform="rotate(-90 14 ${(m.t + H - m.b) / 2})" text-anchor="middle">${esc(opts.yLabel)}${opts.logY ? ' (log)' : ''}</text>`,
    );
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const d = s.points
      .filter(([, y]) => Number.isFinite(y) && (!opts.logY || y > 0))
      .map(([x, y], k) => `${k ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`)
      .join('');
    if (d) out.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.5"/>`);
    if (opts.markers)
      for (const [x, y] of s.points.filter(([, v]) => Number.isFinite(v) && (!opts.logY || v > 0)))
        out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${c}"/>`);
    out.push(
      `<rect x="${W - m.r + 10}" y="${m.t + i * 16}" width="10" height="10" fill="${c}"/>`,
      `<text x="${W - m.r + 24}" y="${m.t + i * 16 + 9}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Horizontal bar chart (e.g. milliseconds per sample for several decoders). */
export function barChartSvg(bars: readonly { label: string; value: number }[], opts: { title?: string; unit?: string; width?: number } = {}): string {
  const W = opts.width ?? 640;
  const rowH = 22;
  const m = { l: 180, r: 80, t: 30, b: 10 };
  const H = m.t + m.b + bars.length * rowH;
  const max = Math.max(...bars.map((b) => b.value), 1e-12);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  if (opts.title) out.push(`<text x="10" y="18" font-size="13">${esc(opts.title)}</text>`);
  bars.forEach((b, i) => {
    const y = m.t + i * rowH;
    const w = (b.value / max) * (W - m.l - m.r);
    out.push(
      `<text x="${m.l - 6}" y="${y + 14}" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${m.l}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${m.l + w + 4}" y="${y + 14}">${+b.value.toPrecision(3)}${opts.unit ? ' ' + esc(opts.unit) : ''}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}
