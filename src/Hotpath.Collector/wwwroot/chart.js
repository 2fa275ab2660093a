// Profiles over time: bars count profiles per bucket, the line is their summed main value on a value axis
// with its unit, the time axis is UTC. Hover reads a bucket out; a drag selects a range; in a comparison
// the baseline's and the comparison's ranges are drawn as bands.
import { formatValue } from './format.js';
import { formatUtc } from './state.js';

const HEIGHT = 150;
const MARGIN = { left: 64, right: 10, top: 8, bottom: 34 };
const DAY = 86400e3;
const STEPS = [60e3, 5 * 60e3, 15 * 60e3, 30 * 60e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, DAY, 2 * DAY, 7 * DAY, 30 * DAY, 91 * DAY, 365 * DAY];

export class Chart {
  constructor(canvas, readout, onSelect) {
    this.canvas = canvas;
    this.readout = readout;
    this.onSelect = onSelect;
    this.data = null;
    this.drag = null;
    this.hoverIndex = -1;
    this.labels = { start: '', end: '', ticks: [], values: [] };
    canvas.addEventListener('mousedown', (e) => { this.drag = { x0: this.x(e), x1: this.x(e) }; });
    canvas.addEventListener('mousemove', (e) => this.move(e));
    canvas.addEventListener('mouseleave', () => { this.hoverIndex = -1; this.readout.textContent = ''; this.draw(); });
    window.addEventListener('mouseup', () => this.release());
    new ResizeObserver(() => this.draw()).observe(canvas.parentElement);
  }

  /** data: {buckets: [{start, count, value}], step, from, to, unit, ranges: [{from, to, kind}]} */
  set(data) { this.data = data; this.draw(); }

  x(event) { return event.clientX - this.canvas.getBoundingClientRect().left; }

  width() { return this.canvas.parentElement.clientWidth || 800; }

  /** The x of a time in the plot, for tests and tools. */
  xOf(ms) {
    const { from, to } = this.data;
    return MARGIN.left + (this.width() - MARGIN.left - MARGIN.right) * (ms - from) / Math.max(1, to - from);
  }

  timeAt(x) {
    const { from, to } = this.data;
    const plot = this.width() - MARGIN.left - MARGIN.right;
    return from + (to - from) * Math.min(1, Math.max(0, (x - MARGIN.left) / plot));
  }

  /** What the axes say, for tests and tools. */
  axis() { return this.labels; }

  move(event) {
    if (!this.data) return;
    if (this.drag) { this.drag.x1 = this.x(event); this.draw(); return; }
    const buckets = this.data.buckets;
    const t = this.timeAt(this.x(event));
    const i = buckets.findIndex((b, k) => t >= b.start && (k === buckets.length - 1 || t < buckets[k + 1].start));
    this.hoverIndex = i;
    if (i >= 0) {
      const b = buckets[i];
      const end = Math.min(this.data.to, b.start + this.data.step);
      this.readout.textContent = `${formatUtc(b.start)} – ${formatUtc(end, { zone: true })}: ${b.count} profiles, ${formatValue(b.value, this.data.unit)}`;
    }
    this.draw();
  }

  release() {
    if (!this.drag) return;
    const { x0, x1 } = this.drag;
    this.drag = null;
    if (Math.abs(x1 - x0) < 4 || !this.data) { this.draw(); return; }
    this.onSelect(Math.floor(this.timeAt(Math.min(x0, x1)) / 1000) * 1000, Math.ceil(this.timeAt(Math.max(x0, x1)) / 1000) * 1000);
  }

  draw() {
    const canvas = this.canvas;
    const width = this.width();
    const ratio = window.devicePixelRatio || 1;
    canvas.width = width * ratio;
    canvas.height = HEIGHT * ratio;
    canvas.style.height = `${HEIGHT}px`;
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, HEIGHT);
    if (!this.data) return;
    const { buckets, from, to, unit, ranges = [] } = this.data;
    const left = MARGIN.left;
    const right = width - MARGIN.right;
    const top = MARGIN.top;
    const bottom = HEIGHT - MARGIN.bottom;
    ctx.font = '11px system-ui, sans-serif';

    for (const range of ranges) {
      const x0 = Math.max(left, this.xOf(range.from));
      const x1 = Math.min(right, this.xOf(range.to));
      if (x1 <= x0) continue;
      ctx.fillStyle = range.kind === 'comparison' ? 'rgba(214, 120, 0, .14)' : 'rgba(10, 88, 202, .08)';
      ctx.fillRect(x0, top, x1 - x0, bottom - top);
      ctx.fillStyle = range.kind === 'comparison' ? '#9a5300' : '#0a58ca';
      ctx.textAlign = 'left';
      ctx.fillText(range.kind === 'comparison' ? 'comparison' : 'baseline', x0 + 3, top + 10);
    }

    const maxCount = Math.max(1, ...buckets.map((b) => b.count));
    const maxValue = Math.max(1, ...buckets.map((b) => b.value));
    ctx.fillStyle = '#9ec5fe';
    buckets.forEach((b, i) => {
      const x0 = this.xOf(b.start);
      const x1 = i + 1 < buckets.length ? this.xOf(buckets[i + 1].start) : right;
      const h = (bottom - top) * 0.9 * b.count / maxCount;
      ctx.globalAlpha = i === this.hoverIndex ? 1 : 0.8;
      ctx.fillRect(x0 + 0.5, bottom - h, Math.max(1, x1 - x0 - 1), h);
    });
    ctx.globalAlpha = 1;
    ctx.strokeStyle = '#b42318';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    buckets.forEach((b, i) => {
      const x = this.xOf(b.start + this.data.step / 2);
      const y = bottom - (bottom - top) * b.value / maxValue;
      if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    });
    ctx.stroke();

    // Value axis: 0, half and the largest bucket's value, in the unit.
    ctx.strokeStyle = '#8c959f';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(left, top); ctx.lineTo(left, bottom); ctx.lineTo(right, bottom);
    ctx.stroke();
    ctx.fillStyle = '#57606a';
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    const values = [0, maxValue / 2, maxValue].map((v) => formatValue(Math.round(v), unit));
    [bottom, (top + bottom) / 2, top + 4].forEach((y, i) => ctx.fillText(values[i], left - 4, y));

    // Time axis: start and end in full, readable ticks between them.
    ctx.textBaseline = 'top';
    const span = to - from;
    const step = STEPS.find((s) => span / s <= 10) || STEPS[STEPS.length - 1];
    // Labels a label's width and a gap apart: every tick on a wide screen, every few on a phone.
    const gap = Math.max(48, ctx.measureText(tickLabel(from, from, to)).width + 16);
    const every = Math.max(1, Math.ceil(gap / ((right - left) * step / Math.max(1, span))));
    const ticks = [];
    for (let t = Math.ceil(from / step) * step, k = 0; t < to; t += step, k++) {
      const x = this.xOf(t);
      ctx.beginPath(); ctx.moveTo(x, bottom); ctx.lineTo(x, bottom + 3); ctx.stroke();
      if (k % every !== 0 || x - left < 70 || right - x < 70) continue;
      const label = tickLabel(t, from, to);
      ticks.push(label);
      ctx.textAlign = 'center';
      ctx.fillText(label, x, bottom + 5);
    }
    const start = formatUtc(from, { zone: false, seconds: false });
    const end = `${formatUtc(to, { zone: false, seconds: false })} UTC`;
    ctx.textAlign = 'left';
    ctx.fillText(start, left, bottom + 18);
    ctx.textAlign = 'right';
    ctx.fillText(end, right, bottom + 18);
    this.labels = { start, end, ticks, values };

    if (this.drag) {
      ctx.fillStyle = 'rgba(10, 88, 202, .2)';
      ctx.fillRect(Math.min(this.drag.x0, this.drag.x1), top, Math.abs(this.drag.x1 - this.drag.x0), bottom - top);
    }
  }
}

/**
 * A tick's text: the time within two days, the day within one year, and the year with it once the range
 * reaches into another (its month alone past a year and a bit, where days between ticks no longer matter).
 */
function tickLabel(t, from, to) {
  const iso = new Date(t).toISOString();
  if (to - from <= 2 * DAY) return iso.slice(11, 16);
  if (new Date(from).getUTCFullYear() === new Date(to).getUTCFullYear()) return iso.slice(5, 10);
  return to - from > 400 * DAY ? iso.slice(0, 7) : iso.slice(0, 10);
}
