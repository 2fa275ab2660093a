// Talking to the collector's API: JSON envelopes, 404 as "nothing", errors as exceptions with the API's text.
export async function api(path, signal) {
  const response = await fetch(path, { headers: { Accept: 'application/json' }, signal });
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
