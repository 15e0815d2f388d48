/**
 * The loss curve of a training run as a standalone SVG (no dependency): training loss per step (thin
 * line), its running mean over `smooth` steps (thick line) and the validation loss per epoch (dots), on a
 * log-scaled loss axis when the losses span more than a decade.
 */

/** One point of the curve. */
export interface CurvePoint {
  readonly step: number;
  readonly loss: number;
}

const W = 720;
const H = 400;
const M = { left: 64, right: 16, top: 28, bottom: 40 };

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(3);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The SVG text of the curve; `title` goes above it. */
export function lossCurveSvg(train: readonly CurvePoint[], val: readonly CurvePoint[], title: string, smooth = 10): string {
  const all = [...train, ...val].filter((p) => Number.isFinite(p.loss) && p.loss > 0);
  const maxStep = Math.max(1, ...all.map((p) => p.step));
  const minStep = Math.min(maxStep - 1, ...all.map((p) => p.step));
  const lo = Math.min(...all.map((p) => p.loss));
  const hi = Math.max(...all.map((p) => p.loss));
  const logScale = all.length > 0 && hi / lo > 10;
  const f = (v: number): number => (logScale ? Math.log10(v) : v);
  const y0 = all.length > 0 ? f(lo) : 0;
  const y1 = all.length > 0 && f(hi) > y0 ? f(hi) : y0 + 1;
  const px = (s: number): number => M.left + ((s - minStep) / Math.max(1, maxStep - minStep)) * (W - M.left - M.right);
  const py = (v: number): number => H - M.bottom - ((f(v) - y0) / (y1 - y0)) * (H - M.top - M.bottom);
  const line = (pts: readonly CurvePoint[]): string =>
    pts.filter((p) => Number.isFinite(p.loss) && p.loss > 0).map((p) => `${px(p.step).toFixed(1)},${py(p.loss).toFixed(1)}`).join(' ');
  const mean: CurvePoint[] = train.map((p, i) => {
    const win = train.slice(Math.max(0, i - smooth + 1), i + 1);
    return { step: p.step, loss: win.reduce((s, q) => s + q.loss, 0) / win.length };
  });
  const ticks: string[] = [];
  for (let k = 0; k <= 4; k++) {
    const v = y0 + ((y1 - y0) * k) / 4;
    const loss = logScale ? 10 ** v : v;
    const y = py(loss).toFixed(1);
    ticks.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(Number(loss.toPrecision(3)))}</text>`);
    const s = Math.round(minStep + ((maxStep - minStep) * k) / 4);
    ticks.push(`<text x="${px(s).toFixed(1)}" y="${H - M.bottom + 16}" text-anchor="middle">${s}</text>`);
  }
  const dots = val.map((p) => `<circle cx="${px(p.step).toFixed(1)}" cy="${py(p.loss).toFixed(1)}" r="4" fill="#d62728"><title>validation ${fmt(p.loss)} at step ${p.step}</title></circle>`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="16" font-size="13">${esc(title)}</text>`,
    ...ticks,
    `<text x="${(W + M.left) / 2}" y="${H - 6}" text-anchor="middle">optimizer step</text>`,
    `<text transform="translate(14 ${(H - M.bottom + M.top) / 2}) rotate(-90)" text-anchor="middle">loss${logScale ? ' (log)' : ''}</text>`,
    `<polyline points="${line(train)}" fill="none" stroke="#9ecae1" stroke-width="1"/>`,
    `<polyline points="${line(mean)}" fill="none" stroke="#1f77b4" stroke-width="2.5"><title>training loss, mean of ${smooth} steps</title></polyline>`,
    ...dots,
    `<text x="${W - M.right}" y="16" text-anchor="end"><tspan fill="#1f77b4">training (mean of ${smooth})</tspan>  <tspan fill="#d62728">validation</tspan></text>`,
    '</svg>',
    '',
  ].join('\n');
}
