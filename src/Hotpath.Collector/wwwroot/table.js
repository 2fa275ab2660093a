// The top table: per-function self and total (or, in a diff, the change of self share), sortable by any
// column, filtered by name; a row focuses the flame graph on its function, its last cell opens the
// function's callers and callees.
import { formatValue, percent } from './format.js';

export class TopTable {
  constructor(table, filter, { onFocus, onSandwich }) {
    this.table = table;
    this.filter = filter;
    this.onFocus = onFocus;
    this.onSandwich = onSandwich;
    this.result = null;
    this.diff = false;
    this.sort = { key: 's', descending: true };
    filter.addEventListener('input', () => this.render());
  }

  set(result, diff) {
    if (diff !== this.diff) this.sort = { key: diff ? 'd' : 's', descending: true };
    this.result = result;
    this.diff = diff;
    this.render();
  }

  columns() {
    return this.diff
      ? [['f', 'Function'], ['bs', 'Baseline self'], ['s', 'Self'], ['d', 'Change']]
      : [['f', 'Function'], ['s', 'Self'], ['sp', 'Self %'], ['t', 'Total'], ['tp', 'Total %']];
  }

  render() {
    const head = document.createElement('tr');
    for (const [key, title] of this.columns()) {
      const th = document.createElement('th');
      th.scope = 'col';
      if (this.sort.key === key) th.setAttribute('aria-sort', this.sort.descending ? 'descending' : 'ascending');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = title + (this.sort.key === key ? (this.sort.descending ? ' ▼' : ' ▲') : '');
      button.addEventListener('click', () => {
        this.sort = { key, descending: this.sort.key === key ? !this.sort.descending : key !== 'f' };
        this.render();
      });
      th.append(button);
      head.append(th);
    }
    const callers = document.createElement('th');
    callers.scope = 'col';
    callers.textContent = 'Callers';
    head.append(callers);
    this.table.tHead.replaceChildren(head);

    const result = this.result;
    const rows = (result?.top || []).map((r) => ({
      ...r, sp: r.s, tp: r.t,
      d: this.diff ? r.s / (result.total || 1) - r.bs / (result.baseline_total || 1) : 0,
    }));
    const filter = this.filter.value.trim().toLowerCase();
    const shown = rows.filter((r) => !filter || r.f.toLowerCase().includes(filter));
    const { key, descending } = this.sort;
    shown.sort((a, b) => {
      const x = key === 'f' ? a.f.localeCompare(b.f) : (key === 'd' ? Math.abs(a.d) - Math.abs(b.d) : a[key] - b[key]);
      return descending ? -x : x;
    });
    const unit = result?.unit;
    this.table.tBodies[0].replaceChildren(...shown.slice(0, 500).map((r) => {
      const tr = document.createElement('tr');
      tr.tabIndex = 0;
      const cells = this.diff
        ? [r.f, formatValue(r.bs, unit), formatValue(r.s, unit), `${r.d >= 0 ? '+' : ''}${(100 * r.d).toFixed(2)} pts`]
        : [r.f, formatValue(r.s, unit), percent(r.s, result.total), formatValue(r.t, unit), percent(r.t, result.total)];
      cells.forEach((text, i) => {
        const td = document.createElement('td');
        td.textContent = text; // never HTML: function names are data
        if (i === 0 && r.file) td.title = r.file;
        if (this.diff && i === 3) td.className = r.d > 0 ? 'up' : r.d < 0 ? 'down' : '';
        tr.append(td);
      });
      const td = document.createElement('td');
      const sandwich = document.createElement('button');
      sandwich.type = 'button';
      sandwich.className = 'sandwich';
      sandwich.textContent = '⇅';
      sandwich.title = 'Callers and callees';
      sandwich.setAttribute('aria-label', `Callers and callees of ${r.f}`);
      sandwich.addEventListener('click', (e) => { e.stopPropagation(); this.onSandwich(r.f); });
      td.append(sandwich);
      tr.append(td);
      tr.addEventListener('click', () => this.onFocus(r.f));
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') this.onFocus(r.f); });
      return tr;
    }));
  }
}
