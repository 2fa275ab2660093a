// The tag explorer: a label's values ranked by their total of the selection's main value, each with its
// share and its own line over time; a click filters the view to a value, two ticked values can be diffed.
import { formatValue, percent } from './format.js';

export class Explorer {
  constructor(list, diffButton, { onFilter, onDiff }) {
    this.list = list;
    this.diffButton = diffButton;
    this.onFilter = onFilter;
    this.onDiff = onDiff;
    this.data = null;
    this.ticked = [];
    diffButton.addEventListener('click', () => { if (this.ticked.length === 2) this.onDiff(this.ticked[0], this.ticked[1]); });
  }

  set(data, unit) {
    this.data = data;
    this.ticked = [];
    this.diffButton.disabled = true;
    if (!data) { this.list.replaceChildren(); return; }
    const max = Math.max(1, ...data.values.map((v) => v.total));
    this.list.replaceChildren(...data.values.map((v) => {
      const row = document.createElement('li');
      const tick = document.createElement('input');
      tick.type = 'checkbox';
      tick.setAttribute('aria-label', `Pick ${data.key}=${v.value} for a diff`);
      tick.addEventListener('change', () => {
        this.ticked = tick.checked ? [...this.ticked, v.value].slice(-2) : this.ticked.filter((t) => t !== v.value);
        for (const box of this.list.querySelectorAll('input[type=checkbox]')) box.checked = this.ticked.includes(box.dataset.value);
        this.diffButton.disabled = this.ticked.length !== 2;
      });
      tick.dataset.value = v.value;
      const name = document.createElement('button');
      name.type = 'button';
      name.className = 'value';
      name.textContent = v.value; // never HTML: label values are data
      name.title = `Filter to ${data.key}=${v.value}`;
      name.addEventListener('click', () => this.onFilter(`${data.key}=${v.value}`));
      const bar = document.createElement('span');
      bar.className = 'share';
      bar.style.width = `${Math.max(1, 100 * v.total / max)}%`;
      const figures = document.createElement('span');
      figures.className = 'figures';
      figures.textContent = `${percent(v.total, data.total)} · ${formatValue(v.total, unit)} · ${v.profiles} profiles`;
      const spark = document.createElement('canvas');
      spark.className = 'spark';
      spark.width = 160;
      spark.height = 28;
      spark.setAttribute('aria-label', `${v.value} over time`);
      this.sparkline(spark, v.buckets);
      row.append(tick, name, figures, spark, bar);
      return row;
    }));
  }

  sparkline(canvas, buckets) {
    const ctx = canvas.getContext('2d');
    const max = Math.max(1, ...buckets.map((b) => b.value));
    const w = canvas.width / Math.max(1, buckets.length);
    ctx.strokeStyle = '#b42318';
    ctx.beginPath();
    buckets.forEach((b, i) => {
      const y = canvas.height - 2 - (canvas.height - 4) * b.value / max;
      if (i) ctx.lineTo(i * w + w / 2, y); else ctx.moveTo(w / 2, y);
    });
    ctx.stroke();
  }

  /** The values in the order shown, for tests and tools. */
  ranked() { return (this.data?.values || []).map((v) => ({ value: v.value, total: v.total, share: v.share })); }
}
