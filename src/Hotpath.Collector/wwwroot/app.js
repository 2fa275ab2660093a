// Hotpath web UI: reads only the collector's API; all state lives in the URL, which uses the API's own
// parameter names (service, type, from, to, labels), so /?service=api&type=cpu&from=…&to=… opens that merge.
import { FlameGraph } from './flame.js';
import { formatValue, percent } from './format.js';

const $ = (id) => document.getElementById(id);
const PRESETS = { '15m': 15 * 60e3, '1h': 3600e3, '6h': 6 * 3600e3, '24h': 24 * 3600e3, '7d': 7 * 24 * 3600e3 };

const state = {
  service: '', type: 'cpu', preset: '1h', from: null, to: null, labels: [], sampleType: '',
  diff: false, cmpFrom: null, cmpTo: null, cmpLabels: '', search: '',
};
let result = null;
let sort = { key: 's', descending: true };

const flame = new FlameGraph($('flame'), $('tooltip'), () => {});
window.hotpath = { flame, state, ready: false }; // for tests and the curious

// ---- times: the API layout is UTC "2006-01-02T15:04:05"; datetime-local inputs show UTC too ----
const apiTime = (ms) => new Date(ms).toISOString().slice(0, 19);
const parseTime = (text) => {
  if (!text) return null;
  const ms = Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(text) ? text : `${text}Z`);
  return Number.isNaN(ms) ? null : ms;
};

function window_() {
  if (state.preset !== 'custom' || state.from === null || state.to === null) {
    const to = Date.now();
    return [to - (PRESETS[state.preset] || PRESETS['1h']), to];
  }
  return [state.from, state.to];
}

// labels are "k=v" strings; in queries each key and value is escaped once, as the profefe agent does
const labelParam = (labels) => labels.map((l) => {
  const i = l.indexOf('=');
  return `${encodeURIComponent(l.slice(0, i))}=${encodeURIComponent(l.slice(i + 1))}`;
}).join(',');
const parseLabelParam = (text) => (text || '').split(',').filter((p) => p.includes('=')).map((p) => {
  const i = p.indexOf('=');
  const decode = (s) => { try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return s; } };
  return `${decode(p.slice(0, i).trim())}=${decode(p.slice(i + 1).trim())}`;
});

function selectionParams(from, to, labels) {
  const params = new URLSearchParams({ service: state.service, type: state.type, from: apiTime(from), to: apiTime(to) });
  if (labels.length) params.set('labels', labelParam(labels));
  return params;
}

// ---- URL state ----
function readUrl() {
  const q = new URLSearchParams(location.search);
  state.service = q.get('service') || '';
  state.type = q.get('type') || 'cpu';
  state.from = parseTime(q.get('from'));
  state.to = parseTime(q.get('to'));
  state.preset = q.get('range') || (state.from !== null && state.to !== null ? 'custom' : '1h');
  state.labels = parseLabelParam(q.get('labels'));
  state.sampleType = q.get('sample_type') || '';
  state.diff = q.get('mode') === 'diff';
  state.cmpFrom = parseTime(q.get('cmp_from'));
  state.cmpTo = parseTime(q.get('cmp_to'));
  state.cmpLabels = q.get('cmp_labels') || '';
  state.search = q.get('search') || '';
}

function urlFor() {
  const [from, to] = window_();
  const q = selectionParams(from, to, state.labels);
  if (state.preset !== 'custom') q.set('range', state.preset);
  if (state.sampleType) q.set('sample_type', state.sampleType);
  if (state.diff) {
    q.set('mode', 'diff');
    if (state.cmpFrom !== null) q.set('cmp_from', apiTime(state.cmpFrom));
    if (state.cmpTo !== null) q.set('cmp_to', apiTime(state.cmpTo));
    if (state.cmpLabels) q.set('cmp_labels', state.cmpLabels);
  }
  if (state.search) q.set('search', state.search);
  return `${location.pathname}?${q}`;
}

// ---- controls <-> state ----
function toInput(ms) { return ms === null ? '' : apiTime(ms); }

function writeControls() {
  $('service').value = state.service;
  $('type').value = state.type;
  $('preset').value = state.preset;
  $('custom-range').hidden = state.preset !== 'custom';
  const [from, to] = window_();
  $('from').value = toInput(from);
  $('to').value = toInput(to);
  $('diff-mode').checked = state.diff;
  $('diff-controls').hidden = !state.diff;
  $('cmp-from').value = toInput(state.cmpFrom);
  $('cmp-to').value = toInput(state.cmpTo);
  $('cmp-labels').value = state.cmpLabels;
  $('search').value = state.search;
  renderChips();
}

function readControls() {
  state.service = $('service').value;
  state.type = $('type').value;
  state.preset = $('preset').value;
  if (state.preset === 'custom') {
    state.from = parseTime($('from').value);
    state.to = parseTime($('to').value);
  }
  state.diff = $('diff-mode').checked;
  state.cmpFrom = parseTime($('cmp-from').value);
  state.cmpTo = parseTime($('cmp-to').value);
  state.cmpLabels = $('cmp-labels').value.trim();
}

function renderChips() {
  const chips = $('label-chips');
  chips.replaceChildren(...state.labels.map((label, i) => {
    const chip = document.createElement('span');
    chip.className = 'chip';
    chip.textContent = label;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = '×';
    remove.setAttribute('aria-label', `Remove label ${label}`);
    remove.addEventListener('click', () => { state.labels.splice(i, 1); renderChips(); show(); });
    chip.append(remove);
    return chip;
  }));
}

function option(value, text = value) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = text;
  return o;
}

let labelValues = [];
async function loadLabels() {
  labelValues = [];
  if (!state.service) return;
  const reply = await api(`/api/0/ui/labels?service=${encodeURIComponent(state.service)}`);
  labelValues = reply?.body || [];
  $('label-key').replaceChildren(...labelValues.map((l) => option(l.key)));
  fillValues();
}

function fillValues() {
  const entry = labelValues.find((l) => l.key === $('label-key').value);
  $('label-value').replaceChildren(...(entry ? entry.values.map((v) => option(v)) : []));
}

// ---- talking to the API ----
async function api(path) {
  const response = await fetch(path, { headers: { Accept: 'application/json' } });
  if (response.status === 404) return null;
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) throw new Error(body?.error || `${response.status} ${response.statusText}`);
  return body;
}

function message(text, isError = false) {
  $('message').textContent = text;
  $('message').classList.toggle('error', isError);
}

async function show(pushHistory = true) {
  readControls();
  if (pushHistory) history.pushState(null, '', urlFor());
  await load();
}

async function load() {
  window.hotpath.ready = false;
  const [from, to] = window_();
  const params = selectionParams(from, to, state.labels);
  $('download').href = `/api/0/profiles/merge?${params}`;
  $('download').setAttribute('download', `${state.service}-${state.type}.pb.gz`);
  try {
    const series = await api(`/api/0/ui/series?${params}&buckets=60`);
    drawChart(series?.body, from, to);
    let path;
    if (state.diff) {
      const cmp = new URLSearchParams(params);
      cmp.set('cmp_from', apiTime(state.cmpFrom ?? from));
      cmp.set('cmp_to', apiTime(state.cmpTo ?? to));
      if (state.cmpLabels) cmp.set('cmp_labels', labelParam(parseLabelParam(state.cmpLabels)));
      if (state.sampleType) cmp.set('sample_type', state.sampleType);
      path = `/api/0/ui/diff?${cmp}`;
    } else {
      if (state.sampleType) params.set('sample_type', state.sampleType);
      path = `/api/0/ui/profile?${params}`;
    }
    const reply = await api(path);
    if (!reply) {
      result = null;
      flame.setData(null, {});
      renderTable();
      message(`Nothing in this range: no ${state.type} profiles of ${state.service} between ${apiTime(from)} and ${apiTime(to)} UTC${state.labels.length ? ' with these labels' : ''}.`);
      return;
    }
    result = reply.body;
    $('sample-type').replaceChildren(...result.sample_types.map((t) => option(t.type, `${t.type} (${t.unit})`)));
    $('sample-type').value = result.sample_type;
    flame.setData(result.flame, { diff: state.diff, unit: result.unit, total: result.total, baselineTotal: result.baseline_total });
    if (state.search) search(state.search);
    renderTable();
    const deep = result.deep_stacks > 0
      ? ` ${result.deep_stacks} stacks are deeper than ${result.depth_limit} frames; their deeper frames are folded into one.`
      : '';
    message((state.diff
      ? `Diff of ${result.sample_type}: ${result.baseline_profiles} baseline profiles (${formatValue(result.baseline_total, result.unit)}) against ${result.profiles} (${formatValue(result.total, result.unit)}). Red grew, green shrank (share of the total).`
      : `${result.profiles} profiles merged: ${formatValue(result.total, result.unit)} of ${result.sample_type}${result.aggregation === 'avg' ? ' (a snapshot: averaged over time per instance, summed across instances)' : ''}.`) + deep);
  } catch (error) {
    result = null;
    flame.setData(null, {});
    renderTable();
    message(error.message, true);
  } finally {
    window.hotpath.ready = true;
  }
}

// ---- chart: count per bucket as bars, the main value as a line; drag to narrow the range ----
let chartData = null;
function drawChart(series, from, to) {
  chartData = { series, from, to };
  const canvas = $('chart');
  const width = canvas.parentElement.clientWidth || 800;
  const height = 110;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const buckets = series?.buckets || [];
  const maxCount = Math.max(1, ...buckets.map((b) => b.count));
  const maxValue = Math.max(1, ...buckets.map((b) => b.value));
  const w = width / Math.max(1, buckets.length);
  ctx.fillStyle = '#9ec5fe';
  buckets.forEach((b, i) => { const h = (height - 16) * b.count / maxCount; ctx.fillRect(i * w + 1, height - h, Math.max(1, w - 2), h); });
  ctx.strokeStyle = '#b42318';
  ctx.beginPath();
  buckets.forEach((b, i) => { const y = height - 4 - (height - 20) * b.value / maxValue; if (i) ctx.lineTo(i * w + w / 2, y); else ctx.moveTo(w / 2, y); });
  ctx.stroke();
  const total = buckets.reduce((s, b) => s + b.count, 0);
  $('chart-legend').textContent = `${total} profiles from ${apiTime(from)} to ${apiTime(to)} UTC; bars: profiles per ${Math.round(series?.step_seconds || 0)} s, line: total ${state.type} value`;
  if (drag) { ctx.fillStyle = 'rgba(10,88,202,.2)'; ctx.fillRect(Math.min(drag.x0, drag.x1), 0, Math.abs(drag.x1 - drag.x0), height); }
}

let drag = null;
const chartX = (e) => e.clientX - $('chart').getBoundingClientRect().left;
$('chart').addEventListener('mousedown', (e) => { drag = { x0: chartX(e), x1: chartX(e) }; });
$('chart').addEventListener('mousemove', (e) => { if (drag) { drag.x1 = chartX(e); drawChart(chartData.series, chartData.from, chartData.to); } });
window.addEventListener('mouseup', () => {
  if (!drag) return;
  const { x0, x1 } = drag;
  drag = null;
  const width = $('chart').clientWidth;
  if (Math.abs(x1 - x0) < 4 || !chartData) { drawChart(chartData?.series, chartData?.from, chartData?.to); return; }
  const at = (x) => chartData.from + (chartData.to - chartData.from) * Math.min(1, Math.max(0, x / width));
  state.preset = 'custom';
  state.from = Math.floor(at(Math.min(x0, x1)) / 1000) * 1000;
  state.to = Math.ceil(at(Math.max(x0, x1)) / 1000) * 1000;
  writeControls();
  show();
});

// ---- top table ----
function columns() {
  return state.diff
    ? [['f', 'Function'], ['bs', 'Baseline self'], ['s', 'Self'], ['d', 'Change']]
    : [['f', 'Function'], ['s', 'Self'], ['sp', 'Self %'], ['t', 'Total'], ['tp', 'Total %']];
}

function renderTable() {
  const head = document.createElement('tr');
  for (const [key, title] of columns()) {
    const th = document.createElement('th');
    th.scope = 'col';
    if (sort.key === key) th.setAttribute('aria-sort', sort.descending ? 'descending' : 'ascending');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = title + (sort.key === key ? (sort.descending ? ' ▼' : ' ▲') : '');
    button.addEventListener('click', () => { sort = { key, descending: sort.key === key ? !sort.descending : key !== 'f' }; renderTable(); });
    th.append(button);
    head.append(th);
  }
  $('top').tHead.replaceChildren(head);

  const rows = (result?.top || []).map((r) => ({
    ...r,
    sp: r.s, tp: r.t,
    d: state.diff ? r.s / (result.total || 1) - r.bs / (result.baseline_total || 1) : 0,
  }));
  const filter = $('filter').value.trim().toLowerCase();
  const shown = rows.filter((r) => !filter || r.f.toLowerCase().includes(filter));
  const key = state.diff && sort.key === 'd' ? 'd' : sort.key;
  shown.sort((a, b) => {
    const x = key === 'f' ? a.f.localeCompare(b.f) : (key === 'd' ? Math.abs(a.d) - Math.abs(b.d) : a[key] - b[key]);
    return sort.descending ? -x : x;
  });
  const unit = result?.unit;
  $('top').tBodies[0].replaceChildren(...shown.slice(0, 500).map((r) => {
    const tr = document.createElement('tr');
    tr.tabIndex = 0;
    const cells = state.diff
      ? [r.f, formatValue(r.bs, unit), formatValue(r.s, unit), `${r.d >= 0 ? '+' : ''}${(100 * r.d).toFixed(2)} pts`]
      : [r.f, formatValue(r.s, unit), percent(r.s, result.total), formatValue(r.t, unit), percent(r.t, result.total)];
    cells.forEach((text, i) => {
      const td = document.createElement('td');
      td.textContent = text; // never HTML: function names are data
      if (i === 0 && r.file) td.title = r.file;
      if (state.diff && i === 3) td.className = r.d > 0 ? 'up' : r.d < 0 ? 'down' : '';
      tr.append(td);
    });
    const focus = () => { state.search = r.f; $('search').value = r.f; flame.focus(r.f); history.replaceState(null, '', urlFor()); };
    tr.addEventListener('click', focus);
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') focus(); });
    return tr;
  }));
}

function search(term) {
  const found = flame.search(term);
  $('search-info').textContent = found && result ? `${found.functions} functions match, ${percent(found.self, result.total)} self` : '';
}

// ---- wiring ----
$('controls').addEventListener('submit', (e) => { e.preventDefault(); show(); });
$('preset').addEventListener('change', () => { $('custom-range').hidden = $('preset').value !== 'custom'; if ($('preset').value !== 'custom') show(); });
$('type').addEventListener('change', () => { state.sampleType = ''; show(); });
$('service').addEventListener('change', async () => { state.labels = []; state.sampleType = ''; renderChips(); await loadLabels(); show(); });
$('sample-type').addEventListener('change', () => { state.sampleType = $('sample-type').value; show(); });
$('diff-mode').addEventListener('change', () => { $('diff-controls').hidden = !$('diff-mode').checked; sort = { key: $('diff-mode').checked ? 'd' : 's', descending: true }; });
$('label-key').addEventListener('change', fillValues);
$('add-label').addEventListener('click', () => {
  const key = $('label-key').value;
  const value = $('label-value').value;
  if (key && !state.labels.includes(`${key}=${value}`)) { state.labels.push(`${key}=${value}`); renderChips(); show(); }
});
$('search').addEventListener('input', () => { state.search = $('search').value; search(state.search); history.replaceState(null, '', urlFor()); });
$('filter').addEventListener('input', renderTable);
$('reset-zoom').addEventListener('click', () => flame.zoomTo(null));
$('copy-link').addEventListener('click', async () => {
  const link = new URL(urlFor(), location.href).href;
  try { await navigator.clipboard.writeText(link); message('Link copied.'); } catch { message(link); }
});
window.addEventListener('popstate', async () => { readUrl(); writeControls(); await loadLabels(); await load(); });

async function start() {
  readUrl();
  try {
    const services = await api('/api/0/services');
    if (!services || !services.body.length) {
      message('No services yet. Send a profile first, e.g. curl --data-binary @cpu.pb.gz "http://<collector>/api/0/profiles?service=api&type=cpu"');
      $('controls').hidden = true;
      window.hotpath.ready = true;
      return;
    }
    $('service').replaceChildren(...services.body.map((s) => option(s)));
    if (!services.body.includes(state.service)) state.service = services.body[0];
    if (state.diff) sort = { key: 'd', descending: true };
    writeControls();
    await loadLabels();
    history.replaceState(null, '', urlFor());
    await load();
  } catch (error) {
    message(error.message, true);
    window.hotpath.ready = true;
  }
}

start();
