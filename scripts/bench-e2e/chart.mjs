// Hand-written SVG bar charts for the end-to-end benchmark page: one small panel per workload, each on
// its own scale (throughputs differ by 100× between workloads), one coloured bar per system, a shared
// legend. Sized to read at 800 px wide; no chart library.

const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** 1234 → "1.2k", 1234567 → "1.23M", 87 → "87". */
export function short(n) {
  const a = Math.abs(n);
  const trim = (t) => t.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
  if (a >= 1e6) return `${trim((n / 1e6).toFixed(a >= 1e7 ? 1 : 2))}M`;
  if (a >= 1e3) return `${trim((n / 1e3).toFixed(a >= 1e5 ? 0 : a >= 1e4 ? 1 : 2))}k`;
  return String(Math.round(n));
}

/** Axis ticks 0, step, 2·step, ... covering max with a 1/2/2.5/5 × 10^k step, about `want` of them. */
export function niceTicks(max, want = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / want;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let t = 0; t < max + step * 0.999; t += step) ticks.push(t);
  return ticks;
}

function legendRowCount(series, width) {
  let rows = 1;
  let lx = 16;
  for (const s of series) {
    const w = 17 + s.label.length * 7.3 + 16;
    if (lx > 16 && lx + w > width - 8) {
      rows++;
      lx = 16;
    }
    lx += w;
  }
  return rows;
}

/**
 * panels: [{ title, bars: [{ series, value | null, lo?, hi?, note? }], caption?: [{ text, color? }], format? }]
 * (lo–hi, when given, is drawn as a whisker: the range over rounds.)
 * series: [{ key, label, short, color }] — bar order and the legend. format: number → label (default short();
 * a panel's own format wins, for charts whose rows show different measures).
 * Returns the SVG text.
 */
export function barPanels({ title, subtitle, series, panels, format = short, columns = 2, width = 800, panelHeight = 230 }) {
  const out = [];
  const legendTop = subtitle ? 58 : 40;
  const legendRows = legendRowCount(series, width);
  const headerH = legendTop + legendRows * 18 + 14;
  const rows = Math.ceil(panels.length / columns);
  // Room under every panel for the most caption lines any panel has.
  const captionLines = Math.max(0, ...panels.map((p) => p.caption?.length ?? 0));
  panelHeight += captionLines * 14;
  const height = headerH + rows * panelHeight + 12;
  const colW = width / columns;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="16" y="26" font-size="17" font-weight="bold" fill="#222">${esc(title)}</text>`);
  if (subtitle) out.push(`<text x="16" y="46" font-size="12" fill="#555">${esc(subtitle)}</text>`);

  // Legend: one swatch per system, in rows that wrap at the right edge (12 px text ≈ 7.3 px a character).
  let lx = 16;
  let ly = legendTop + 12;
  for (const s of series) {
    const w = 17 + s.label.length * 7.3 + 16;
    if (lx > 16 && lx + w > width - 8) {
      lx = 16;
      ly += 18;
    }
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" rx="2" fill="${s.color}"/>`);
    out.push(`<text x="${lx + 17}" y="${ly}" font-size="12" fill="#333">${esc(s.label)}</text>`);
    lx += w;
  }

  panels.forEach((p, i) => {
    const x0 = (i % columns) * colW;
    const y0 = headerH + Math.floor(i / columns) * panelHeight;
    const left = x0 + 58;
    const right = x0 + colW - 14;
    const top = y0 + 34;
    const bottom = y0 + panelHeight - 34 - captionLines * 14;
    const plotH = bottom - top;
    const label = p.format ?? format;
    out.push(`<text x="${x0 + 16}" y="${y0 + 18}" font-size="13" font-weight="bold" fill="#222">${esc(p.title)}</text>`);

    const max = Math.max(0, ...p.bars.map((b) => Math.max(b.value ?? 0, b.hi ?? 0)));
    const ticks = niceTicks(max);
    const top_ = ticks[ticks.length - 1];
    const yOf = (v) => bottom - (v / top_) * plotH;
    for (const t of ticks) {
      const y = yOf(t).toFixed(1);
      out.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="${t === 0 ? '#888' : '#e4e4e4'}" stroke-width="1"/>`);
      out.push(`<text x="${left - 6}" y="${(Number(y) + 4).toFixed(1)}" font-size="11" fill="#666" text-anchor="end">${label(t)}</text>`);
    }

    const slot = (right - left) / p.bars.length;
    const barW = Math.min(46, slot * 0.7);
    p.bars.forEach((b, j) => {
      const s = series.find((x) => x.key === b.series);
      const cx = left + slot * (j + 0.5);
      out.push(`<text x="${cx.toFixed(1)}" y="${bottom + 15}" font-size="10.5" fill="#444" text-anchor="middle">${esc(s.short)}</text>`);
      if (b.value == null) {
        out.push(
          `<text x="${cx.toFixed(1)}" y="${bottom - 6}" font-size="10.5" fill="#999" text-anchor="middle">${esc(b.note ?? 'n/a')}</text>`,
        );
        return;
      }
      const y = yOf(b.value);
      out.push(
        `<rect x="${(cx - barW / 2).toFixed(1)}" y="${y.toFixed(1)}" width="${barW.toFixed(1)}" height="${(bottom - y).toFixed(1)}" fill="${s.color}"><title>${esc(`${s.label}: ${b.value}`)}</title></rect>`,
      );
      let labelY = y;
      if (b.lo != null && b.hi != null && b.hi > b.lo) {
        // Whisker: the range over rounds.
        const yHi = yOf(b.hi);
        const yLo = yOf(b.lo);
        out.push(
          `<line x1="${cx.toFixed(1)}" y1="${yHi.toFixed(1)}" x2="${cx.toFixed(1)}" y2="${yLo.toFixed(1)}" stroke="#333" stroke-width="1.2"/>`,
        );
        for (const yy of [yHi, yLo])
          out.push(
            `<line x1="${(cx - 5).toFixed(1)}" y1="${yy.toFixed(1)}" x2="${(cx + 5).toFixed(1)}" y2="${yy.toFixed(1)}" stroke="#333" stroke-width="1.2"/>`,
          );
        labelY = Math.min(y, yHi);
      }
      out.push(
        `<text x="${cx.toFixed(1)}" y="${(labelY - 4).toFixed(1)}" font-size="11" font-weight="bold" fill="#333" text-anchor="middle">${label(b.value)}</text>`,
      );
    });
    (p.caption ?? []).forEach((c, k) => {
      out.push(`<text x="${x0 + 16}" y="${bottom + 32 + k * 14}" font-size="11" fill="${c.color ?? '#555'}">${esc(c.text)}</text>`);
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
