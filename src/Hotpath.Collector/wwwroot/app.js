// Hotpath web UI: reads only the collector's API. The state lives in the URL (state.js); a load fetches
// what the view needs in parallel and shows it only while it is the newest load (api.js).
import { api, Latest, isAbort, actFor, actsForTenant, download } from './api.js';
import { Chart } from './chart.js';
import { Explorer } from './explorer.js';
import { FlameGraph } from './flame.js';
import { formatValue, percent } from './format.js';
import {
  state, readUrl, urlFor, timeWindow, comparisonWindow, selectionParams, labelParam, apiTime, formatUtc, parseUtc,
} from './state.js';
import { TopTable } from './table.js';

const $ = (id) => document.getElementById(id);

const flame = new FlameGraph($('flame'), $('tooltip'), () => {});
const compare = {
  baseline: new FlameGraph($('flame-baseline'), $('tooltip-baseline'), () => {}),
  comparison: new FlameGraph($('flame-comparison'), $('tooltip-comparison'), () => {}),
};
const sandwich = {
  callers: new FlameGraph($('callers'), $('tooltip-callers'), () => {}),
  callees: new FlameGraph($('callees'), $('tooltip-callees'), () => {}),
};
const chart = new Chart($('chart'), $('chart-readout'), (from, to) => {
  state.preset = 'custom';
  state.from = from;
  state.to = to;
  writeControls();
  show();
});
const table = new TopTable($('top'), $('filter'), {
  onFocus: (name) => { state.search = name; $('search').value = name; flame.focus(name); history.replaceState(null, '', urlFor()); },
  onSandwich: (name) => { state.fn = name; show(); },
});
const explorer = new Explorer($('explorer'), $('explore-diff'), {
  onFilter: (label) => { if (!state.labels.includes(label)) state.labels.push(label); state.explore = ''; writeControls(); show(); },
  onDiff: (a, b) => {
    const others = state.labels.filter((l) => !l.startsWith(`${state.explore}=`));
    state.labels = [...others, `${state.explore}=${a}`];
    state.cmpLabels = [...others, `${state.explore}=${b}`];
    state.cmpFrom = null;
    state.cmpTo = null;
    state.mode = 'diff';
    state.explore = '';
    writeControls();
    show();
  },
});
const loads = new Latest();
let result = null;
let labelValues = [];

window.hotpath = { flame, compare, sandwich, chart, explorer, state, ready: false, loads: 0 }; // for tests and the curious

// ---- controls <-> state ----
function option(value, text = value) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = text;
  return o;
}

function chips(container, labels, onRemove) {
  container.replaceChildren(...labels.map((label, i) => {
    const chip = document.createElement('span');
    chip.className = 'chip';
    chip.textContent = label;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = '×';
    remove.setAttribute('aria-label', `Remove ${label}`);
    remove.addEventListener('click', () => { labels.splice(i, 1); onRemove(); });
    chip.append(remove);
    return chip;
  }));
}

function writeControls() {
  $('service').value = state.service;
  $('type').value = state.type;
  $('preset').value = state.preset;
  $('custom-range').hidden = state.preset !== 'custom';
  const [from, to] = timeWindow();
  $('from').value = formatUtc(from);
  $('to').value = formatUtc(to);
  $('diff-mode').checked = state.mode !== '';
  $('side-by-side').checked = state.mode === 'compare';
  $('diff-controls').hidden = state.mode === '';
  $('cmp-from').value = state.cmpFrom === null ? '' : formatUtc(state.cmpFrom);
  $('cmp-to').value = state.cmpTo === null ? '' : formatUtc(state.cmpTo);
  $('cmp-labels').value = state.cmpLabels.join(',');
  $('query').value = state.query;
  $('search').value = state.search;
  $('explore-key').value = state.explore;
  chips($('label-chips'), state.labels, show);
  chips($('sample-label-chips'), state.sampleLabels, show);
}

/** Reads the inputs into the state; false (and the input marked) when a time does not parse. */
function readControls() {
  state.service = $('service').value;
  state.type = $('type').value;
  state.preset = $('preset').value;
  state.query = $('query').value.trim();
  const times = [['from', 'from'], ['to', 'to'], ['cmp-from', 'cmpFrom'], ['cmp-to', 'cmpTo']];
  for (const [id, key] of times) {
    const comparison = key.startsWith('cmp');
    if (!comparison && state.preset !== 'custom') continue;
    const text = $(id).value.trim();
    const ms = parseUtc(text);
    const bad = text !== '' && ms === null;
    $(id).setCustomValidity(bad ? 'a UTC time: 2026-12-01 07:50' : '');
    if (bad) { message(`"${text}" is not a time: write it as 2026-12-01 07:50 (UTC).`, true); return false; }
    // An empty comparison time is "the same as the selection's".
    if (comparison || ms !== null) state[key] = ms;
  }
  state.mode = !$('diff-mode').checked ? '' : $('side-by-side').checked ? 'compare' : 'diff';
  // Typed as "key=value,key=value": not escaped, unlike the URL's form.
  state.cmpLabels = $('cmp-labels').value.split(',').filter((l) => l.includes('=')).map((l) => {
    const i = l.indexOf('=');
    return `${l.slice(0, i).trim()}=${l.slice(i + 1).trim()}`;
  });
  return true;
}

async function loadLabels() {
  labelValues = [];
  if (!state.service) return;
  const reply = await api(`/api/0/ui/labels?service=${encodeURIComponent(state.service)}`);
  labelValues = reply?.body || [];
  const groups = labelValues.map((l) => {
    const group = document.createElement('optgroup');
    group.label = l.key;
    group.append(...l.values.map((v) => option(`${l.key}=${v}`, v)));
    return group;
  });
  $('label-add').replaceChildren(option('', labelValues.length ? 'Add a filter…' : 'no labels'), ...groups);
  $('explore-key').replaceChildren(option('', 'a label…'), ...labelValues.map((l) => option(l.key)));
  $('explore-key').value = state.explore;
}

function fillSampleLabels() {
  const keys = result?.sample_labels || [];
  const groups = keys.map((k) => {
    const group = document.createElement('optgroup');
    group.label = k.key;
    group.append(...k.values.map((v) => option(`${k.key}=${v.v}`, `${v.v} (${percent(v.t, result.total)})`)));
    return group;
  });
  $('sample-label-add').replaceChildren(option('', keys.length ? 'Add a filter…' : 'none in this merge'), ...groups);
  $('group-by').replaceChildren(option('', 'nothing'), ...keys.map((k) => option(k.key)));
  if (state.groupBy && !keys.some((k) => k.key === state.groupBy)) $('group-by').append(option(state.groupBy));
  $('group-by').value = state.groupBy;
}

function message(text, isError = false) {
  $('message').textContent = text;
  $('message').classList.toggle('error', isError);
}

async function show(pushHistory = true) {
  if (!readControls()) return;
  if (pushHistory) history.pushState(null, '', urlFor());
  await load();
}

// ---- one load: everything the view needs, fetched at once ----
async function load() {
  window.hotpath.ready = false;
  const { signal, current } = loads.begin();
  const [from, to] = timeWindow();
  const params = selectionParams(from, to, state.labels);
  const plain = selectionParams(from, to, state.labels, { view: false });
  $('download').href = `/api/0/profiles/merge?${plain}`;
  $('download').setAttribute('download', `${state.service}-${state.type}.pb.gz`);
  $('download-folded').href = `/api/0/ui/export?format=folded&${params}`;
  $('download-speedscope').href = `/api/0/ui/export?format=speedscope&${params}`;

  const [cmpFrom, cmpTo] = comparisonWindow();
  const chartFrom = state.mode ? Math.min(from, cmpFrom) : from;
  const chartTo = state.mode ? Math.max(to, cmpTo) : to;
  let viewPath = `/api/0/ui/profile?${params}`;
  const cmp = new URLSearchParams(params);
  if (state.mode) {
    cmp.set('cmp_from', apiTime(cmpFrom));
    cmp.set('cmp_to', apiTime(cmpTo));
    if (state.cmpLabels.length) cmp.set('cmp_labels', labelParam(state.cmpLabels));
    viewPath = `/api/0/ui/diff?${cmp}`;
  }
  const none = Promise.resolve(null);
  // What changed beside the diff: its refusal (too short a range) is said in its section, not instead of the diff.
  const changes = state.mode === 'diff'
    ? api(`/api/0/changes?${cmp}&top=25`, signal).catch((error) => { if (isAbort(error)) throw error; return { error: error.message }; })
    : none;
  try {
    const [series, view, explored, sandwiched, changed] = await Promise.all([
      api(`/api/0/ui/series?${selectionParams(chartFrom, chartTo, state.labels, { view: false })}&buckets=60`, signal),
      api(viewPath, signal),
      state.explore ? api(`/api/0/ui/explore?${plain}&key=${encodeURIComponent(state.explore)}&buckets=30`, signal) : none,
      state.fn ? api(`/api/0/ui/sandwich?${params}&function=${encodeURIComponent(state.fn)}`, signal) : none,
      changes,
    ]);
    if (!current()) return;
    result = view?.body || null;
    const ranges = state.mode ? [{ from, to, kind: 'baseline' }, { from: cmpFrom, to: cmpTo, kind: 'comparison' }] : [];
    const buckets = series?.body?.buckets || [];
    chart.set({ buckets, step: 1000 * (series?.body?.step_seconds || 0), from: chartFrom, to: chartTo, unit: result?.series_unit, ranges });
    $('chart-legend').textContent = `${buckets.reduce((s, b) => s + b.count, 0)} profiles from ${formatUtc(chartFrom)} to ${formatUtc(chartTo)}; `
      + `bars: profiles per ${Math.round(series?.body?.step_seconds || 0)} s, line: their total ${state.type} value`;
    showExplorer(explored?.body);
    if (!result) {
      showView(null);
      showChanges(null);
      message(`Nothing in this range: no ${state.type} profiles of ${state.service} between ${formatUtc(from)} and ${formatUtc(to)}${state.labels.length ? ' with these labels' : ''}.`);
      return;
    }
    showView(result);
    showSandwich(sandwiched?.body);
    showChanges(changed);
  } catch (error) {
    if (isAbort(error) || !current()) return;
    result = null;
    showView(null);
    message(error.message, true);
  } finally {
    if (current()) {
      window.hotpath.loads++;
      window.hotpath.ready = true;
    }
  }
}

/** The change finder's answer: a row per function that moved for sure; a row's function focuses the diff on it. */
function showChanges(reply) {
  $('changes-section').hidden = state.mode !== 'diff' || !reply;
  const body = $('changes').tBodies[0];
  body.replaceChildren();
  if (state.mode !== 'diff' || !reply) return;
  if (reply.error) {
    $('changes-info').textContent = reply.error;
    return;
  }
  const report = reply.body;
  const points = (share) => `${share.points > 0 ? '+' : ''}${share.points.toFixed(2)} pts`;
  $('changes-info').textContent = `${report.regressions} regression${report.regressions === 1 ? '' : 's'} over ${report.threshold} points `
    + `at ${100 * report.confidence}% confidence; ${report.compared} functions compared over ${report.baseline.intervals} baseline and `
    + `${report.target.intervals} comparison intervals of ${report.interval_seconds} s.`
    + (report.changes.length ? '' : ' No function\'s share moved for sure.');
  body.append(...report.changes.map((change) => {
    const row = document.createElement('tr');
    const cell = (text, className = '') => { const td = document.createElement('td'); td.textContent = text; td.className = className; return td; };
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'link';
    open.textContent = change.function;
    open.title = `Focus the diff on ${change.function}`;
    open.addEventListener('click', () => {
      state.search = change.function;
      $('search').value = change.function;
      flame.focus(change.function);
      search(change.function);
      history.replaceState(null, '', urlFor());
      $('flame-section').scrollIntoView();
    });
    const name = document.createElement('td');
    name.append(open);
    const way = change.change === 'regression' || change.change === 'appeared' ? 'up' : 'down';
    const moved = Math.abs(change.self.points) >= Math.abs(change.total.points) ? change.self : change.total;
    row.append(cell(change.change, way), name, cell(points(change.self)), cell(points(change.total)),
      cell(`${moved.per_second > 0 ? '+' : ''}${formatValue(Math.round(moved.per_second), report.unit)}/s`),
      cell(Math.min(change.self.p_value, change.total.p_value).toExponential(1)));
    return row;
  }));
}

function showView(view) {
  const diff = state.mode !== '';
  $('sample-type').replaceChildren(...(view?.sample_types || []).map((t) => option(t.type, `${t.type} (${t.unit})`)));
  if (view) $('sample-type').value = view.sample_type;
  fillSampleLabels();
  $('flame-wrap').hidden = state.mode === 'compare';
  $('compare-wrap').hidden = state.mode !== 'compare';
  if (!view) {
    flame.setData(null, {});
    table.set(null, diff);
    $('flame-legend').replaceChildren();
    return;
  }
  if (state.mode === 'compare') {
    // One scale for both: each graph's width is its total's share of the larger one.
    const largest = Math.max(Math.abs(view.total), Math.abs(view.baseline_total), 1);
    compare.baseline.setData(structuredClone(view.flame), { unit: view.unit, total: view.baseline_total, side: 'baseline', scale: Math.abs(view.baseline_total) / largest });
    compare.comparison.setData(view.flame, { unit: view.unit, total: view.total, scale: Math.abs(view.total) / largest });
    $('baseline-caption').textContent = `Baseline: ${view.baseline_profiles} profiles, ${formatValue(view.baseline_total, view.unit)}`;
    $('comparison-caption').textContent = `Comparison: ${view.profiles} profiles, ${formatValue(view.total, view.unit)}`;
    flame.setData(null, {});
  } else {
    flame.setData(view.flame, { diff, unit: view.unit, total: view.total, baselineTotal: view.baseline_total });
  }
  if (state.search) search(state.search);
  table.set(view, diff);
  legend(view);
  const deep = view.deep_stacks > 0 ? ` ${view.deep_stacks} stacks are deeper than ${view.depth_limit} frames; their deeper frames are folded into one.` : '';
  const filtered = state.sampleLabels.length ? ` Samples with ${state.sampleLabels.join(', ')}.` : '';
  const grouped = state.groupBy ? ` Grouped by ${state.groupBy}.` : '';
  let text;
  if (state.mode === 'diff') {
    text = `Diff of ${view.sample_type}: ${view.baseline_profiles} baseline profiles (${formatValue(view.baseline_total, view.unit)}) against ${view.profiles} (${formatValue(view.total, view.unit)}). Red grew, green shrank (share of the total).`;
  } else if (state.mode === 'compare') {
    text = `Side by side, one scale: ${view.baseline_profiles} baseline profiles (${formatValue(view.baseline_total, view.unit)}) and ${view.profiles} compared (${formatValue(view.total, view.unit)}) of ${view.sample_type}.`;
  } else {
    text = `${view.profiles} profiles merged: ${formatValue(view.total, view.unit)} of ${view.sample_type}${view.aggregation === 'avg' ? ' (a snapshot: averaged over time per instance, summed across instances)' : ''}.`;
  }
  message(text + filtered + grouped + deep);
}

/** What the colours mean: the largest packages' hues, or the diff's scale. */
function legend(view) {
  const box = $('flame-legend');
  if (state.mode === 'diff') {
    const span = document.createElement('span');
    span.className = 'diff-scale';
    span.textContent = `green: share shrank · grey: unchanged · red: share grew; full colour = ${(100 * flame.maxShare).toFixed(2)} points, the largest change`;
    box.replaceChildren(span);
    return;
  }
  const source = state.mode === 'compare' ? compare.comparison : flame;
  box.replaceChildren(...source.legend().map((g) => {
    const item = document.createElement('span');
    item.className = 'swatch';
    const colour = document.createElement('i');
    colour.style.background = g.colour;
    item.append(colour, `${g.name} ${percent(g.self, view.total)}`);
    return item;
  }));
}

function showExplorer(data) {
  $('explorer-section').hidden = !state.explore;
  $('explorer-title').textContent = state.explore ? `Which ${state.explore}? Its values by total ${state.type} value` : '';
  explorer.set(state.explore ? data : null, result?.series_unit);
}

function showSandwich(data) {
  $('sandwich-section').hidden = !state.fn || !data;
  if (!state.fn || !data) return;
  $('sandwich-title').textContent = `Callers and callees of ${state.fn}`;
  $('sandwich-info').textContent = `${formatValue(data.function_total, data.unit)} total (${percent(data.function_total, data.total)}), `
    + `${formatValue(data.function_self, data.unit)} self (${percent(data.function_self, data.total)})`;
  sandwich.callers.setData(data.callers, { unit: data.unit, total: data.total, inverted: true });
  sandwich.callees.setData(data.callees, { unit: data.unit, total: data.total });
}

function search(term) {
  const found = (state.mode === 'compare' ? compare.comparison : flame).search(term);
  if (state.mode === 'compare') compare.baseline.search(term);
  $('search-info').textContent = found && result ? `${found.functions} functions match, ${percent(found.self, result.total)} self` : '';
}

// ---- wiring ----
$('controls').addEventListener('submit', (e) => { e.preventDefault(); show(); });
$('preset').addEventListener('change', () => { $('custom-range').hidden = $('preset').value !== 'custom'; if ($('preset').value !== 'custom') show(); });
$('type').addEventListener('change', () => { state.sampleType = ''; state.sampleLabels = []; state.groupBy = ''; show(); });
$('service').addEventListener('change', async () => {
  Object.assign(state, { service: $('service').value, labels: [], sampleType: '', sampleLabels: [], groupBy: '', explore: '', fn: '' });
  writeControls();
  await loadLabels();
  show();
});
$('sample-type').addEventListener('change', () => { state.sampleType = $('sample-type').value; show(); });
$('label-add').addEventListener('change', () => {
  const label = $('label-add').value;
  $('label-add').value = '';
  if (label && !state.labels.includes(label)) { state.labels.push(label); writeControls(); show(); }
});
$('sample-label-add').addEventListener('change', () => {
  const label = $('sample-label-add').value;
  if (label && !state.sampleLabels.includes(label)) { state.sampleLabels.push(label); writeControls(); show(); }
});
$('group-by').addEventListener('change', () => { state.groupBy = $('group-by').value; show(); });
$('explore-key').addEventListener('change', () => { state.explore = $('explore-key').value; show(); });
$('explore-close').addEventListener('click', () => { state.explore = ''; writeControls(); show(); });
$('sandwich-close').addEventListener('click', () => { state.fn = ''; show(); });
$('diff-mode').addEventListener('change', () => { $('diff-controls').hidden = !$('diff-mode').checked; });
$('side-by-side').addEventListener('change', () => show());
$('search').addEventListener('input', () => { state.search = $('search').value; search(state.search); history.replaceState(null, '', urlFor()); });
$('reset-zoom').addEventListener('click', () => { flame.zoomTo(null); compare.baseline.zoomTo(null); compare.comparison.zoomTo(null); });
// Another tenant is another collection of services: the page starts again for it.
$('tenant-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const tenant = $('tenant').value.trim();
  location.search = tenant ? `?tenant=${encodeURIComponent(tenant)}` : '';
});
for (const id of ['download', 'download-folded', 'download-speedscope']) {
  $(id).addEventListener('click', async (event) => {
    if (!actsForTenant()) return;
    event.preventDefault();
    try { await download($(id)); } catch (error) { message(error.message, true); }
  });
}
$('copy-link').addEventListener('click', async () => {
  const link = new URL(urlFor(), location.href).href;
  try { await navigator.clipboard.writeText(link); message('Link copied.'); } catch { message(link); }
});
window.addEventListener('popstate', async () => { readUrl(); writeControls(); await loadLabels(); await load(); });

async function start() {
  readUrl();
  actFor(state.tenant);
  $('tenant').value = state.tenant;
  try {
    // The types come from the collector, which knows them (the same list the API accepts).
    const [services, types] = await Promise.all([api('/api/0/services'), api('/api/0/ui/types')]);
    $('type').replaceChildren(...types.body.map((t) => option(t)));
    if (!services || !services.body.length) {
      message('No services yet. Send a profile first, e.g. curl --data-binary @cpu.pb.gz "http://<collector>/api/0/profiles?service=api&type=cpu"');
      $('controls').hidden = true;
      window.hotpath.ready = true;
      return;
    }
    $('service').replaceChildren(...services.body.map((s) => option(s)));
    if (!services.body.includes(state.service)) state.service = services.body[0];
    writeControls(); // at once with the options: a control must never show another selection than the state's
    await loadLabels();
    history.replaceState(null, '', urlFor());
    await load();
  } catch (error) {
    message(error.message, true);
    window.hotpath.ready = true;
  }
}

start();
