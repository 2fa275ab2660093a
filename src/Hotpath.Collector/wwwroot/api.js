// The tenant the page acts for (X-Scope-OrgID on every request); '' is the default tenant.
let tenant = '';
export function actFor(name) { tenant = name; }
const headers = (extra) => (tenant ? { ...extra, 'X-Scope-OrgID': tenant } : extra);

// Talking to the collector's API: JSON envelopes, 404 as "nothing", errors as exceptions with the API's text.
export async function api(path, signal) {
  const response = await fetch(path, { headers: headers({ Accept: 'application/json' }), signal });
  if (response.status === 404) return null;
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) throw new Error(body?.error || `${response.status} ${response.statusText}`);
  return body;
}

// One load at a time: starting a load aborts the one before, and a load's answers count only while it is
// the newest, so an older answer that arrives late never replaces a newer one.
export class Latest {
  constructor() { this.sequence = 0; this.controller = null; }

  begin() {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const sequence = ++this.sequence;
    return { signal: controller.signal, current: () => sequence === this.sequence };
  }
}

export const isAbort = (error) => error?.name === 'AbortError';

// A download link of the API: a plain link for the default tenant; for another, fetched with its header and
// saved from memory, as a link cannot carry a header.
export async function download(link) {
  const response = await fetch(link.href, { headers: headers({}) });
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  const url = URL.createObjectURL(await response.blob());
  const save = document.createElement('a');
  save.href = url;
  save.download = link.getAttribute('download') || 'profile';
  save.click();
  setTimeout(() => URL.revokeObjectURL(url), 60e3);
}

export const actsForTenant = () => tenant !== '';
