// Baton console: API calls, the SSE reader, session, routing and the confirmation dialog; starts the console.
// index.html loads dom.js, app.js, runs.js, dead-letters.js, workers.js, charts.js in that order (deferred; one
// global scope). The safety rules are at the top of dom.js.
'use strict';

// ---------------------------------------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { Authorization: `Bearer ${session.token}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer',
  });
  return readAnswer(response);
}

async function readAnswer(response) {
  const isJSON = (response.headers.get('content-type') || '').startsWith('application/json');
  const data = isJSON ? await response.json().catch(() => null) : null;
  if (response.status === 401) {
    signOut('The server refused your token (unknown, revoked or expired). Sign in again with a valid token.');
    throw new ApiError(401, 'unauthenticated', 'token refused');
  }
  if (!response.ok) {
    const error = data && data.error || {};
    throw new ApiError(response.status, error.code, error.message || response.statusText || `HTTP ${response.status}`);
  }
  return data;
}

function wait(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal && signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/** Repeats `task` every REFRESH_MS while the current page is on screen. */
function every(task, ms = REFRESH_MS) {
  const current = view;
  const loop = async () => {
    while (!current.controller.signal.aborted) {
      await wait(ms, current.controller.signal);
      if (current.controller.signal.aborted) return;
      try { await task(); } catch (error) { if (error.name !== 'AbortError') console.warn('refresh failed', error); }
    }
  };
  loop();
}

/**
 * Follows a run's events over Server-Sent Events. EventSource cannot send an Authorization header, so this reads
 * the stream with fetch() and parses it; it reconnects with Last-Event-ID, as EventSource would.
 */
async function followEvents(runId, signal, after, { onEvent, onEnd, onState }) {
  let lastId = after;
  while (!signal.aborted) {
    try {
      const headers = { Authorization: `Bearer ${session.token}`, Accept: 'text/event-stream' };
      if (lastId !== null) headers['Last-Event-ID'] = String(lastId);
      const response = await fetch(`/api/v1/runs/${encodeURIComponent(runId)}/events`, { headers, signal, cache: 'no-store', credentials: 'omit' });
      if (!response.ok) { await readAnswer(response); }
      onState('live');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n/g, '\n');
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const message = { id: null, event: 'message', data: [] };
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'id') message.id = text;
            else if (field === 'event') message.event = text;
            else if (field === 'data') message.data.push(text);
          }
          if (!message.data.length) continue;
          const data = JSON.parse(message.data.join('\n'));
          if (message.event === 'end') { onState('ended'); onEnd(data); return; }
          if (message.id !== null) lastId = message.id;
          onEvent(data);
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status !== 503) { onState('error', error.message); return; }
    }
    onState('reconnecting');
    await wait(1000, signal);
  }
}

// ---------------------------------------------------------------------------------------------- session

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  session.token = null;
  session.me = null;
  sampler.stop();
  location.hash = '#/sign-in';
  renderSignIn(reason);
}

async function restoreSession() {
  session.token = sessionStorage.getItem(TOKEN_KEY);
  if (!session.token) return false;
  try {
    session.me = await api('/api/v1/me');
    return true;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return false;
    throw error;
  }
}

function renderSignIn(reason) {
  leaveView();
  document.getElementById('nav').hidden = true;
  document.getElementById('identity').hidden = true;
  const main = document.getElementById('main');
  const input = el('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'token-help' });
  const message = el('div', { id: 'sign-in-message', 'aria-live': 'assertive' });
  if (reason) message.append(stateBox('error', reason));
  const form = el('form', { class: 'card sign-in', 'aria-labelledby': 'sign-in-title' },
    el('h1', { id: 'sign-in-title' }, 'Sign in to Baton'),
    el('label', { for: 'token' }, 'API token'),
    input,
    el('p', { id: 'token-help', class: 'help' },
      'Paste a token made with ', el('code', {}, 'baton tokens create NAME --role operator'),
      ' (or viewer). It stays in this tab only (session storage) and is sent as the Authorization header, never in a URL or cookie.'),
    message,
    el('button', { type: 'submit', class: 'button primary' }, 'Sign in'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const secret = input.value.trim();
    if (!secret) return;
    replace(message, stateBox('loading', 'Checking the token…'));
    session.token = secret;
    try {
      session.me = await fetch('/api/v1/me', { headers: { Authorization: `Bearer ${secret}` }, credentials: 'omit', cache: 'no-store' })
        .then(async (response) => {
          if (response.status === 401) throw new ApiError(401, 'unauthenticated', 'The server does not know this token (or it was revoked or has expired).');
          return readAnswer(response);
        });
      sessionStorage.setItem(TOKEN_KEY, secret);
      input.value = '';
      if (!location.hash || location.hash === '#/sign-in') location.hash = '#/runs';
      else render();
    } catch (error) {
      session.token = null;
      replace(message, stateBox('error', 'Sign-in failed.', error.message));
      input.focus();
    }
  });
  replace(main, form);
  input.focus();
}

// ---------------------------------------------------------------------------------------------- routing

function leaveView() {
  if (view) view.controller.abort();
  view = { controller: new AbortController() };
}

function parseHash() {
  const hash = location.hash.replace(/^#/, '') || '/runs';
  const [path, query] = hash.split('?');
  return { parts: path.split('/').filter(Boolean), params: new URLSearchParams(query || '') };
}

function setHashParams(section, params) {
  const clean = new URLSearchParams();
  for (const [key, value] of params) if (value) clean.set(key, value);
  const query = clean.toString();
  location.hash = `#/${section}${query ? `?${query}` : ''}`;
}

async function render() {
  if (!session.token || !session.me) {
    let restored = false;
    try { restored = await restoreSession(); } catch (error) {
      leaveView();
      replace(document.getElementById('main'), errorBox(error, 'reach the Baton server'));
      return;
    }
    if (!restored) { renderSignIn(sessionStorage.getItem(TOKEN_KEY) ? 'Your token is no longer accepted: sign in again.' : null); return; }
  }
  leaveView();
  sampler.start();
  const { parts, params } = parseHash();
  const section = parts[0] || 'runs';
  document.getElementById('nav').hidden = false;
  document.getElementById('identity').hidden = false;
  replace(document.getElementById('identity-name'), el('span', { class: 'who' }, session.me.name), ' ', el('span', { class: 'role' }, session.me.role));
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.section === section) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
  const main = document.getElementById('main');
  replace(main, stateBox('loading', 'Loading…'));
  const signal = view.controller.signal;
  try {
    if (section === 'runs' && parts[1]) await renderRun(main, decodeURIComponent(parts[1]), signal);
    else if (section === 'runs') await renderRuns(main, params, signal);
    else if (section === 'dead-letters') await renderDeadLetters(main, params, signal);
    else if (section === 'workers') await renderWorkers(main, params, signal);
    else if (section === 'activity') await renderActivity(main, signal);
    else replace(main, stateBox('empty', 'No such page.', el('a', { href: '#/runs' }, 'Go to the runs')));
  } catch (error) {
    if (signal.aborted || (error instanceof ApiError && error.status === 401)) return;
    replace(main, errorBox(error, 'load this page'));
  }
}

// ---------------------------------------------------------------------------------------------- dialog

/** Shows the confirmation dialog; resolves with the form's values, or null when cancelled. */
function confirmDialog({ title, body, confirm, danger = false, fields = [] }) {
  const dialog = document.getElementById('dialog');
  replace(document.getElementById('dialog-title'), title);
  replace(document.getElementById('dialog-body'), body, fields);
  const button = document.getElementById('dialog-confirm');
  button.textContent = confirm;
  button.className = `button ${danger ? 'danger' : 'primary'}`;
  return new Promise((resolve) => {
    const form = document.getElementById('dialog-form');
    const cancel = document.getElementById('dialog-cancel');
    const finish = (value) => {
      form.removeEventListener('submit', onSubmit);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onSubmit = (event) => {
      event.preventDefault();
      const values = {};
      for (const field of form.querySelectorAll('[name]')) values[field.name] = field.value;
      finish(values);
    };
    const onCancel = (event) => { event.preventDefault(); finish(null); };
    form.addEventListener('submit', onSubmit);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    (fields.length ? dialog.querySelector('select, textarea, input') : cancel).focus();
  });
}

// ---------------------------------------------------------------------------------------------- start

// Deferred scripts all run before DOMContentLoaded, so every page's code is there when the first page renders.
document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('sign-out').addEventListener('click', () => signOut(null));
  render();
});
window.addEventListener('hashchange', () => {
  if (!session.token || !session.me) return;
  render();
  // Screen readers and keyboard users start reading the new page from its top, not from the link they used.
  document.getElementById('main').focus({ preventScroll: true });
});
