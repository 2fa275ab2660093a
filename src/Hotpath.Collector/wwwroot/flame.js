// A canvas flame graph (root on top, or at the bottom when inverted, as a callers view is): click to zoom,
// search to highlight, hover for a tooltip. Colours are stable per package or namespace (the legend names
// the largest); in diff mode they show the change of each frame's share. A graph may take a fraction of the
// width (scale), so that two graphs side by side share one scale.
import { formatValue, percent } from './format.js';

const ROW = 18;

export function group(name) {
  // "crypto/sha256.block" -> "crypto/sha256", "Shop.Cart.Total" -> "Shop.Cart", "main.(*T).f" -> "main"
  const base = name.replace(/\(.*$/, '');
  const slash = base.lastIndexOf('/');
  const dot = base.indexOf('.', slash + 1);
  const lastDot = base.lastIndexOf('.');
  if (slash >= 0) return dot > 0 ? base.slice(0, dot) : base;
  return lastDot > 0 ? base.slice(0, lastDot) : base;
}

export function hue(text) {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return 10 + ((h >>> 0) % 50); // warm hues: reds, oranges, yellows
}

export class FlameGraph {
  constructor(canvas, tooltip, onChange) {
    this.canvas = canvas;
    this.tooltip = tooltip;
    this.onChange = onChange;
    this.root = null;
    this.zoom = null;
    this.term = '';
    this.rects = [];
    this.scale = 1;
    this.inverted = false;
    canvas.addEventListener('mousemove', (e) => this.hover(e));
    canvas.addEventListener('mouseleave', () => { this.tooltip.hidden = true; });
    canvas.addEventListener('click', (e) => {
      const hit = this.hit(e);
      if (hit) this.zoomTo(hit.node);
    });
    canvas.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' || e.key === 'Home') { this.zoomTo(null); e.preventDefault(); }
    });
    new ResizeObserver(() => this.draw()).observe(canvas.parentElement);
  }

  setData(root, { diff = false, unit, total, baselineTotal, side = '', scale = 1, inverted = false }) {
    this.diff = diff;
    this.scale = scale;
    this.inverted = inverted;
    this.unit = unit;
    this.total = total;
    this.baselineTotal = baselineTotal;
    this.root = root;
    this.zoom = null;
    this.depth = 0;
    this.maxShare = 0;
    if (!root) { this.draw(); return; }
    const walk = (node, parent, depth, start) => {
      // The baseline side of a comparison draws the baseline's values (the tree given is its own copy).
      if (side === 'baseline') { node.v = node.b; node.s = node.bs; }
      node.parent = parent;
      node.depth = depth;
      node.start = start;
      this.depth = Math.max(this.depth, depth);
      if (diff) {
        const change = this.share(node.v, total) - this.share(node.b, baselineTotal);
        node.change = change;
        if (depth > 0) this.maxShare = Math.max(this.maxShare, Math.abs(change));
      }
      let offset = start;
      for (const child of node.c || []) { walk(child, node, depth + 1, offset); offset += child.v; }
    };
    walk(root, null, 0, 0);
    this.draw();
  }

  share(value, total) { return total ? value / total : 0; }

  search(term) {
    this.term = term.trim().toLowerCase();
    this.draw();
    if (!this.term || !this.root) return null;
    let matched = 0;
    const seen = new Set();
    const walk = (node) => {
      if (node.n.toLowerCase().includes(this.term) && !seen.has(node.n)) { seen.add(node.n); }
      if (node.n.toLowerCase().includes(this.term)) matched += node.s;
      (node.c || []).forEach(walk);
    };
    walk(this.root);
    return { functions: seen.size, self: matched };
  }

  // Zooms to the widest frame of a function and highlights it (a click in the top table).
  focus(name) {
    let best = null;
    const walk = (node) => { if (node.n === name && (!best || node.v > best.v)) best = node; (node.c || []).forEach(walk); };
    if (this.root) walk(this.root);
    this.term = name.toLowerCase();
    this.zoomTo(best);
  }

  zoomTo(node) {
    this.zoom = node && node !== this.root ? node : null;
    this.draw();
    this.onChange?.();
  }

  matches(node) { return this.term && node.n.toLowerCase().includes(this.term); }

  colour(node) {
    if (this.term && !this.matches(node)) return '#e3e6ea';
    if (node.n === '…') return '#c9ced6';
    if (this.diff) {
      const intensity = this.maxShare ? Math.min(1, Math.abs(node.change) / this.maxShare) : 0;
      if (Math.abs(node.change) < 1e-9) return 'hsl(0, 0%, 86%)';
      return node.change > 0 ? `hsl(0, 75%, ${88 - 40 * intensity}%)` : `hsl(130, 55%, ${88 - 40 * intensity}%)`;
    }
    return `hsl(${hue(group(node.n))}, 80%, ${this.matches(node) ? 52 : 66}%)`;
  }

  draw() {
    const canvas = this.canvas;
    const width = canvas.parentElement.clientWidth || 800;
    const ratio = window.devicePixelRatio || 1;
    const height = this.root ? (this.depth + 1) * ROW : ROW;
    canvas.style.height = `${height}px`;
    canvas.width = Math.floor(width * ratio);
    canvas.height = Math.floor(height * ratio);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    this.rects = [];
    if (!this.root || !this.root.v) return;

    const focus = this.zoom || this.root;
    const from = focus.start;
    const span = focus.v;
    const full = this.zoom ? width : width * this.scale;
    ctx.font = '12px system-ui, sans-serif';
    ctx.textBaseline = 'middle';

    const drawRect = (node, x, w, dimmed) => {
      const y = (this.inverted ? this.depth - node.depth : node.depth) * ROW;
      ctx.fillStyle = this.colour(node);
      ctx.globalAlpha = dimmed ? 0.55 : 1;
      ctx.fillRect(x, y, Math.max(w - 1, 0.5), ROW - 1);
      ctx.globalAlpha = 1;
      if (w > 28) {
        ctx.fillStyle = '#1b1f24';
        let label = node.n;
        const room = w - 6;
        if (ctx.measureText(label).width > room) {
          while (label.length > 1 && ctx.measureText(label + '…').width > room) label = label.slice(0, -1);
          label += '…';
        }
        ctx.fillText(label, x + 3, y + ROW / 2);
      }
      this.rects.push({ node, x, y, w, h: ROW - 1 });
    };

    // Ancestors of the zoomed frame span the whole width, dimmed.
    for (let a = focus.parent; a; a = a.parent) drawRect(a, 0, width, true);
    const walk = (node) => {
      const x = (node.start - from) / span * full;
      const w = node.v / span * full;
      if (w < 0.3 || x + w < 0 || x > width) return;
      drawRect(node, x, w, false);
      for (const child of node.c || []) walk(child);
    };
    walk(focus);
  }

  hit(event) {
    const bounds = this.canvas.getBoundingClientRect();
    const x = event.clientX - bounds.left;
    const y = event.clientY - bounds.top;
    for (let i = this.rects.length - 1; i >= 0; i--) {
      const r = this.rects[i];
      if (x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h) return r;
    }
    return null;
  }

  hover(event) {
    const hit = this.hit(event);
    if (!hit) { this.tooltip.hidden = true; return; }
    const n = hit.node;
    let text = `${n.n}\nTotal: ${formatValue(n.v, this.unit)} (${percent(n.v, this.total)})\nSelf: ${formatValue(n.s, this.unit)} (${percent(n.s, this.total)})`;
    if (this.diff) {
      text += `\nBaseline total: ${formatValue(n.b, this.unit)} (${percent(n.b, this.baselineTotal)})` +
        `\nChange of share: ${n.change >= 0 ? '+' : ''}${(100 * n.change).toFixed(2)} points`;
    }
    this.tooltip.textContent = text; // never HTML: function names are data
    this.tooltip.hidden = false;
    const bounds = this.canvas.getBoundingClientRect();
    const left = Math.min(event.clientX - bounds.left + 12, bounds.width - 260);
    this.tooltip.style.left = `${Math.max(0, left)}px`;
    this.tooltip.style.top = `${event.clientY - bounds.top + 14}px`;
  }

  /** The packages or namespaces with the most self value, and their colours: what the colours mean. */
  legend(count = 8) {
    const totals = new Map();
    const walk = (node) => {
      if (node.depth > 0 && node.n !== '…') totals.set(group(node.n), (totals.get(group(node.n)) || 0) + node.s);
      (node.c || []).forEach(walk);
    };
    if (this.root) walk(this.root);
    return [...totals].filter(([, self]) => self > 0).sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, self]) => ({ name, self, colour: `hsl(${hue(name)}, 80%, 66%)` }));
  }

  // What is drawn, for tests and tools: name, position and whether search highlights it.
  frames() {
    return this.rects.map((r) => ({ name: r.node.n, x: r.x, y: r.y, w: r.w, h: r.h, highlighted: !!this.matches(r.node), total: r.node.v }));
  }
}
