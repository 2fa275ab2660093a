// The UI's state and its URL: every parameter the page reads is here, named as the API names it
// (service, type, from, to, labels, sample_type, …), so a link restores the whole view.
export const PRESETS = { '15m': 15 * 60e3, '1h': 3600e3, '6h': 6 * 3600e3, '24h': 24 * 3600e3, '7d': 7 * 24 * 3600e3, '30d': 30 * 24 * 3600e3 };

export const state = {
  tenant: '', query: '', service: '', type: 'cpu', preset: '1h', from: null, to: null, labels: [], sampleType: '',
  mode: '', cmpFrom: null, cmpTo: null, cmpLabels: [], search: '',
  sampleLabels: [], groupBy: '', explore: '', fn: '',
};

// ---- times: the API's layout is UTC "2006-01-02T15:04:05"; people read and type "2026-12-01 07:50 UTC" ----
export const apiTime = (ms) => new Date(ms).toISOString().slice(0, 19);

/** "2026-12-01 07:50:05 UTC" (seconds left out when zero). */
export function formatUtc(ms, { seconds = true, zone = true } = {}) {
  const iso = new Date(ms).toISOString();
  const time = seconds && iso.slice(17, 19) !== '00' ? iso.slice(11, 19) : iso.slice(11, 16);
  return `${iso.slice(0, 10)} ${time}${zone ? ' UTC' : ''}`;
}

/** Accepts "2026-12-01 07:50[:05][ UTC]", "2026-12-01T07:50:05[Z]" and RFC 3339 with an offset; always UTC unless told. */
export function parseUtc(text) {
  if (!text) return null;
  const t = text.trim().replace(/\s*UTC$/i, '').replace(' ', 'T');
  if (!/^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?)?([zZ]|[+-]\d\d:\d\d)?$/.test(t)) return null;
  const ms = Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(t) ? t : `${t.length === 10 ? `${t}T00:00` : t}Z`);
  return Number.isNaN(ms) ? null : ms;
}

/** The selection's window: a preset counted back from now, or the custom from/to. */
export function timeWindow() {
  if (state.preset !== 'custom' || state.from === null || state.to === null) {
    const to = Date.now();
    return [to - (PRESETS[state.preset] || PRESETS['1h']), to];
  }
  return [state.from, state.to];
}

/** The comparison's window: its own from/to, each defaulting to the selection's ("same range"). */
export function comparisonWindow() {
  const [from, to] = timeWindow();
  return [state.cmpFrom ?? from, state.cmpTo ?? to];
}

// Labels are "k=v" strings; in queries each key and value is escaped once, as the profefe agent does.
export const labelParam = (labels) => labels.map((l) => {
  const i = l.indexOf('=');
  return `${encodeURIComponent(l.slice(0, i))}=${encodeURIComponent(l.slice(i + 1))}`;
}).join(',');

export const parseLabelParam = (text) => (text || '').split(',').filter((p) => p.includes('=')).map((p) => {
  const i = p.indexOf('=');
  const decode = (s) => { try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return s; } };
  return `${decode(p.slice(0, i).trim())}=${decode(p.slice(i + 1).trim())}`;
});

/** The API parameters of a selection: its window and labels, with the view's sample type and sample label choice. */
export function selectionParams(from, to, labels, { view = true } = {}) {
  const params = new URLSearchParams({ service: state.service, type: state.type, from: apiTime(from), to: apiTime(to) });
  if (labels.length) params.set('labels', labelParam(labels));
  if (state.query) params.set('query', state.query);
  if (view) {
    if (state.sampleType) params.set('sample_type', state.sampleType);
    if (state.sampleLabels.length) params.set('sample_labels', labelParam(state.sampleLabels));
    if (state.groupBy) params.set('group_by', state.groupBy);
  }
  return params;
}

export function readUrl(search = location.search) {
  const q = new URLSearchParams(search);
  state.tenant = q.get('tenant') || '';
  state.query = q.get('query') || '';
  state.service = q.get('service') || '';
  state.type = q.get('type') || 'cpu';
  state.from = parseUtc(q.get('from'));
  state.to = parseUtc(q.get('to'));
  state.preset = q.get('range') || (state.from !== null && state.to !== null ? 'custom' : '1h');
  state.labels = parseLabelParam(q.get('labels'));
  state.sampleType = q.get('sample_type') || '';
  state.mode = ['diff', 'compare'].includes(q.get('mode')) ? q.get('mode') : '';
  state.cmpFrom = parseUtc(q.get('cmp_from'));
  state.cmpTo = parseUtc(q.get('cmp_to'));
  state.cmpLabels = parseLabelParam(q.get('cmp_labels'));
  state.search = q.get('search') || '';
  state.sampleLabels = parseLabelParam(q.get('sample_labels'));
  state.groupBy = q.get('group_by') || '';
  state.explore = q.get('explore') || '';
  state.fn = q.get('function') || '';
}

export function urlFor() {
  const [from, to] = timeWindow();
  const q = selectionParams(from, to, state.labels);
  if (state.tenant) q.set('tenant', state.tenant);
  if (state.preset !== 'custom') q.set('range', state.preset);
  if (state.mode) {
    q.set('mode', state.mode);
    if (state.cmpFrom !== null) q.set('cmp_from', apiTime(state.cmpFrom));
    if (state.cmpTo !== null) q.set('cmp_to', apiTime(state.cmpTo));
    if (state.cmpLabels.length) q.set('cmp_labels', labelParam(state.cmpLabels));
  }
  if (state.search) q.set('search', state.search);
  if (state.explore) q.set('explore', state.explore);
  if (state.fn) q.set('function', state.fn);
  return `${location.pathname}?${q}`;
}
