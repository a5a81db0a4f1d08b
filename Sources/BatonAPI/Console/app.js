// Baton operator console. Plain JavaScript, no build step, no libraries.
//
// Safety rules this file keeps (docs/console.md):
// - Every value from the server reaches the page as text: elements are built with `el()` (createElement +
//   textContent + setAttribute); nothing is ever assigned to innerHTML/outerHTML or passed to insertAdjacentHTML.
// - Links from data (pull request URLs) are used only when they are http(s) URLs.
// - The token lives in sessionStorage and goes out only as the Authorization header of this origin's API calls.
'use strict';

const TOKEN_KEY = 'baton.console.token';
const REFRESH_MS = 5000;
const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'blocked', 'cancelled'];
const TRIAGE_STATUSES = ['new', 'manual_replay', 'discarded'];
const INLINE_TYPES = ['application/json', 'application/x-ndjson', 'application/jsonl', 'text/plain', 'text/x-diff', 'text/markdown'];
const INLINE_LIMIT = 2 * 1024 * 1024;

const session = { token: null, me: null };
let view = null; // { controller: AbortController, timers: [] } of the page on screen

// ---------------------------------------------------------------------------------------------- DOM helpers

/** Builds an element. `attrs`: attributes (strings), `on*` listeners, `class`; children: nodes or text. */
function el(tag, attrs, ...children) {
  const node = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

function announce(text) {
  const node = document.getElementById('announcer');
  node.textContent = '';
  setTimeout(() => { node.textContent = text; }, 50);
}

/** An http(s) URL, or null: anything else (javascript:, data:) is never made a link. */
function safeURL(text) {
  if (typeof text !== 'string') return null;
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch { return null; }
}

function badge(status) {
  return el('span', { class: `badge status-${String(status).replace(/[^a-z_]/g, '')}` }, String(status).replace(/_/g, ' '));
}

function shortSha(sha) {
  return sha ? el('code', { class: 'sha', title: `sha256 ${sha}` }, sha.slice(0, 12)) : '—';
}

function when(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return el('time', { datetime: iso, title: date.toISOString() }, relative(date));
}

function relative(date) {
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  if (Math.abs(seconds) < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return date.toISOString().slice(0, 16).replace('T', ' ');
}

function duration(start, end) {
  if (!start) return '—';
  const ms = (end ? new Date(end) : new Date()) - new Date(start);
  if (ms < 1000) return `${Math.max(0, ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3600000) return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
  return `${Math.floor(ms / 3600000)} h ${Math.round((ms % 3600000) / 60000)} min`;
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function stateBox(kind, title, ...detail) {
  return el('div', { class: `state ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, el('p', { class: 'state-title' }, title), detail.length ? el('p', {}, ...detail) : null);
}

function errorBox(error, what) {
  const detail = error instanceof ApiError ? `${error.message}${error.code ? ` (${error.code}, HTTP ${error.status})` : ''}` : String(error && error.message || error);
  return stateBox('error', `Could not ${what}.`, detail, ' ', el('button', { type: 'button', class: 'button quiet', onclick: () => render() }, 'Try again'));
}

/**
 * Replaces `holder`'s content with `build()` only when `data` differs from what it shows, so a refresh that found
 * nothing new never takes the keyboard focus (or a button about to be clicked) away.
 */
function showIfChanged(holder, data, build) {
  const key = JSON.stringify(data);
  if (holder.dataset.shown === key) return;
  holder.dataset.shown = key;
  replace(holder, build());
}

function canOperate() { return Boolean(session.me && session.me.canOperate); }

/** A button that changes something: only ever built for operators (the server checks roles anyway). */
function actionButton(label, onClick, kind = 'primary', extra = {}) {
  return el('button', { type: 'button', class: `button ${kind}`, 'data-mutates': true, onclick: onClick, ...extra }, label);
}

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

// ---------------------------------------------------------------------------------------------- runs list

async function renderRuns(main, params, signal) {
  const filters = { status: params.get('status') || '', workflow: params.get('workflow') || '', repository: params.get('repository') || '',
    featureKey: params.get('featureKey') || '', q: params.get('q') || '' };
  const cursors = (params.get('pages') || '').split(',').filter(Boolean);
  const counts = el('div', { class: 'counts', role: 'group', 'aria-label': 'Runs by status' });
  const tableHolder = el('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, stateBox('loading', 'Loading runs…'));
  const pager = el('nav', { class: 'pager', 'aria-label': 'Pages of runs' });

  const field = (name, label, input) => el('div', { class: 'field' }, el('label', { for: `filter-${name}` }, label), input);
  const statusSelect = el('select', { id: 'filter-status', name: 'status' }, el('option', { value: '' }, 'any'),
    RUN_STATUSES.map((s) => el('option', { value: s, selected: s === filters.status }, s)));
  const text = (name, placeholder) => el('input', { id: `filter-${name}`, name, type: 'search', value: filters[name], placeholder, autocomplete: 'off' });
  const form = el('form', { class: 'filters', role: 'search', 'aria-label': 'Filter runs' },
    field('q', 'Search', text('q', 'id, feature, branch, error…')),
    field('status', 'Status', statusSelect),
    field('workflow', 'Workflow', text('workflow', 'spec')),
    field('repository', 'Repository', text('repository', 'owner/name')),
    field('featureKey', 'Feature', text('featureKey', '001-albums')),
    el('div', { class: 'field actions' }, el('button', { type: 'submit', class: 'button primary' }, 'Apply'),
      el('button', { type: 'button', class: 'button quiet', onclick: () => setHashParams('runs', []) }, 'Clear')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    setHashParams('runs', [...new FormData(form).entries()]);
  });

  replace(main,
    el('div', { class: 'page-head' }, el('h1', {}, 'Runs'), canOperate() ? newRunForm() : null),
    counts, form, tableHolder, pager);

  const drawCounts = (stats) => {
    const total = Object.values(stats.runs).reduce((a, b) => a + b, 0);
    const chip = (status, label, n) => {
      const params = new URLSearchParams({ ...filters, status });
      const active = filters.status === status;
      return el('a', { class: `count-chip${active ? ' active' : ''}`, href: `#/runs?${params}`, 'aria-current': active ? 'true' : null,
        'data-status': status || 'all' }, status ? badge(status) : el('span', { class: 'badge' }, 'all'), el('span', { class: 'count' }, n.toLocaleString()),
        el('span', { class: 'visually-hidden' }, ` ${label} runs`));
    };
    showIfChanged(counts, stats.runs, () => [chip('', 'all', total), RUN_STATUSES.map((s) => chip(s, s, stats.runs[s] || 0))]);
  };

  const load = async () => {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
    query.set('limit', '25');
    if (cursors.length) query.set('cursor', cursors[cursors.length - 1]);
    const [page, stats] = await Promise.all([api(`/api/v1/runs?${query}`, { signal }), api('/api/v1/stats', { signal })]);
    drawCounts(stats);
    tableHolder.setAttribute('aria-busy', 'false');
    const filtered = Object.values(filters).some(Boolean);
    if (!page.items.length) {
      tableHolder.dataset.shown = '';
      replace(tableHolder, filtered || cursors.length
        ? stateBox('empty', 'No runs match these filters.', 'Change or clear the filters above.')
        : stateBox('empty', 'No runs yet.', 'Start one with ', el('code', {}, 'baton runs create demo --repository acme/app --feature-key 001-albums'),
          canOperate() ? ' or with “New run” above.' : ' (an operator token can also start one here).'));
    } else {
      showIfChanged(tableHolder, page.items.map((r) => [r.id, r.status, r.currentStep, r.featureKey, r.finishedAt]), () => runsTable(page.items));
    }
    const pagesFor = (list) => {
      const next = new URLSearchParams();
      for (const [key, value] of Object.entries(filters)) if (value) next.set(key, value);
      if (list.length) next.set('pages', list.join(','));
      return `#/runs${next.toString() ? `?${next}` : ''}`;
    };
    replace(pager,
      cursors.length ? el('a', { class: 'button quiet', href: pagesFor(cursors.slice(0, -1)) }, '← Newer') : null,
      el('span', { class: 'page-number' }, `Page ${cursors.length + 1}`),
      page.nextCursor ? el('a', { class: 'button quiet', href: pagesFor([...cursors, page.nextCursor]) }, 'Older →') : null);
  };
  await load();
  every(load);
}

function runsTable(runs) {
  return el('div', { class: 'table-wrap' }, el('table', { class: 'data runs' },
    el('caption', { class: 'visually-hidden' }, 'Runs, newest first'),
    el('thead', {}, el('tr', {}, ['Status', 'Feature', 'Repository', 'Workflow', 'Step', 'Created', 'Duration'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, runs.map((run) => el('tr', { 'data-run': run.id },
      el('td', { 'data-label': 'Status' }, badge(run.status)),
      el('td', { 'data-label': 'Feature' }, el('a', { href: `#/runs/${encodeURIComponent(run.id)}`, class: 'run-link' }, run.featureKey || run.id.slice(0, 8))),
      el('td', { 'data-label': 'Repository' }, run.repository || '—'),
      el('td', { 'data-label': 'Workflow' }, `${run.workflow} v${run.workflowVersion}`),
      el('td', { 'data-label': 'Step' }, run.currentStep || '—'),
      el('td', { 'data-label': 'Created' }, when(run.createdAt)),
      el('td', { 'data-label': 'Duration' }, duration(run.startedAt || run.createdAt, run.finishedAt)))))));
}

function newRunForm() {
  const message = el('div', { 'aria-live': 'polite' });
  const input = (name, label, value, extra = {}) => el('div', { class: 'field' }, el('label', { for: `new-${name}` }, label),
    el('input', { id: `new-${name}`, name, value, autocomplete: 'off', required: true, ...extra }));
  const form = el('form', { class: 'new-run' },
    input('workflow', 'Workflow', 'demo'),
    input('repository', 'Repository', '', { placeholder: 'owner/name' }),
    input('featureKey', 'Feature key', '', { placeholder: '001-albums' }),
    el('div', { class: 'field wide' }, el('label', { for: 'new-inputs' }, 'Inputs (JSON object, optional)'),
      el('textarea', { id: 'new-inputs', name: 'inputs', rows: '2', spellcheck: 'false', placeholder: '{"sleepMs": 200}' })),
    el('div', { class: 'field actions' }, el('button', { type: 'submit', class: 'button primary', 'data-mutates': true }, 'Start run')),
    message);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    const body = { workflow: data.workflow.trim(), repository: data.repository.trim(), featureKey: data.featureKey.trim() };
    if (data.inputs.trim()) {
      try { body.inputs = JSON.parse(data.inputs); } catch (error) {
        replace(message, stateBox('error', 'Inputs are not JSON.', error.message));
        return;
      }
    }
    replace(message, stateBox('loading', 'Starting…'));
    try {
      const run = await api('/api/v1/runs', { method: 'POST', body });
      announce(`Run ${run.id} created`);
      location.hash = `#/runs/${run.id}`;
    } catch (error) {
      replace(message, stateBox('error', 'The run was not created.', error.message));
    }
  });
  return el('details', { class: 'new-run-box' }, el('summary', { class: 'button primary', 'data-mutates': true }, 'New run'), form);
}

// ---------------------------------------------------------------------------------------------- run detail

async function renderRun(main, id, signal) {
  const header = el('div', {});
  const actions = el('div', { class: 'actions-bar' });
  const notices = el('div', {});
  const steps = el('section', { 'aria-labelledby': 'steps-title', class: 'card' }, el('h2', { id: 'steps-title' }, 'Steps'));
  const eventsList = el('ol', { class: 'events', id: 'events', role: 'log', 'aria-live': 'polite', 'aria-label': 'Run events' });
  const streamState = el('span', { class: 'stream-state', id: 'stream-state' }, 'connecting…');
  const events = el('section', { 'aria-labelledby': 'events-title', class: 'card' },
    el('div', { class: 'section-head' }, el('h2', { id: 'events-title' }, 'Events'), streamState), eventsList);
  const artifacts = el('section', { 'aria-labelledby': 'artifacts-title', class: 'card' }, el('h2', { id: 'artifacts-title' }, 'Artifacts'));
  const viewer = el('div', { id: 'artifact-viewer' });
  replace(main, el('p', { class: 'crumbs' }, el('a', { href: '#/runs' }, '← Runs')), header, actions, notices,
    el('div', { class: 'detail-grid' }, el('div', {}, steps, artifacts, viewer), events));

  let run = null;
  let streaming = false;
  let lastEventId = null;
  let count = 0;
  let refresh = null;
  // Events change the run: refresh the rest of the page at most every 500 ms while they arrive.
  let pending = null;
  const soon = () => {
    if (pending) return;
    pending = setTimeout(async () => { pending = null; try { await refresh(); } catch { /* the next event or the timer retries */ } }, 500);
  };
  signal.addEventListener('abort', () => clearTimeout(pending));
  // The stream ends when the run settles; a retry or a replay makes it active again, and the stream resumes after
  // the last event shown.
  const follow = () => {
    if (streaming) return;
    streaming = true;
    followEvents(id, signal, lastEventId, {
      onEvent: (event) => {
        count += 1;
        lastEventId = event.id;
        const atEnd = eventsList.scrollHeight - eventsList.scrollTop - eventsList.clientHeight < 160;
        eventsList.querySelector('.empty')?.remove();
        eventsList.append(eventItem(event));
        if (atEnd) eventsList.scrollTop = eventsList.scrollHeight;
        soon();
      },
      onEnd: (end) => { streaming = false; streamState.textContent = `run ${end.status}: stream ended`; soon(); },
      onState: (state, detail) => {
        if (state === 'error') streaming = false;
        streamState.className = `stream-state ${state}`;
        streamState.textContent = { live: 'live', reconnecting: 'reconnecting…', ended: 'ended', error: `stream failed: ${detail}` }[state] || state;
        if (state === 'ended' && count === 0) eventsList.append(el('li', { class: 'empty' }, 'No events.'));
      },
    });
  };
  refresh = async () => {
    const [fresh, attempts, files] = await Promise.all([
      api(`/api/v1/runs/${encodeURIComponent(id)}`, { signal }),
      api(`/api/v1/runs/${encodeURIComponent(id)}/attempts`, { signal }),
      api(`/api/v1/runs/${encodeURIComponent(id)}/artifacts`, { signal })]);
    run = fresh;
    drawHeader(header, run);
    drawActions(actions, run, refresh);
    drawNotices(notices, run);
    drawSteps(steps, run, attempts.items);
    drawArtifacts(artifacts, viewer, run, files.items, signal);
    if (['queued', 'running'].includes(run.status)) follow();
  };
  await refresh();
  follow();
  every(refresh);
}

function drawHeader(header, run) {
  const pr = run.pullRequest && safeURL(run.pullRequest.url);
  const facts = [
    ['Run', el('code', {}, run.id)],
    ['Workflow', `${run.workflow} v${run.workflowVersion} (queue ${run.queue})`],
    ['Repository', run.repository || '—'],
    ['Base branch', run.baseBranch || '—'],
    ['Branch', run.branch ? el('code', {}, run.branch) : '—'],
    ['Pull request', pr ? el('a', { href: pr, rel: 'noopener noreferrer', target: '_blank' }, `#${run.pullRequest.number || ''} ${pr}`)
      : run.pullRequest ? String(run.pullRequest.url || run.pullRequest.number || '—') : '—'],
    ['Started by', run.initiator],
    ['Last operator', run.lastActor || '—'],
    ['Created', when(run.createdAt)],
    ['Duration', duration(run.startedAt || run.createdAt, run.finishedAt)],
    ['Priority', String(run.priority)],
  ];
  replace(header,
    el('div', { class: 'page-head' }, el('h1', {}, run.featureKey || 'Run', ' ', badge(run.status)),
      run.cancelRequested && run.status === 'running' ? el('span', { class: 'badge status-cancelled' }, 'cancel requested') : null),
    el('dl', { class: 'facts' }, facts.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v)))));
}

function drawNotices(notices, run) {
  replace(notices,
    run.error ? el('div', { class: 'notice error', role: 'note' }, el('strong', {}, 'Error '), el('code', {}, run.error.code || 'error'), ': ', run.error.message || '') : null,
    run.waiting ? el('div', { class: 'notice info', role: 'note' }, el('strong', {}, 'Waiting: '), run.waiting) : null,
    run.next ? el('div', { class: 'notice next', role: 'note' }, el('strong', {}, 'What to do next: '), run.next) : null);
}

function drawActions(actions, run, refresh) {
  if (!canOperate()) { actions.replaceChildren(); return; }
  // Rebuilt only when what the buttons offer changes, so a refresh never pulls a button from under the pointer or focus.
  const key = `${run.status}|${run.cancelRequested}|${(run.steps || []).map((s) => `${s.name}:${s.status}:${s.attempts}`).join(',')}`;
  if (actions.dataset.key === key) return;
  const previous = actions.querySelector('.action-result');
  actions.dataset.key = key;
  const result = previous || el('span', { class: 'action-result', 'aria-live': 'polite' });
  const retryable = ['failed', 'blocked', 'cancelled'].includes(run.status);
  const active = ['queued', 'running'].includes(run.status);
  const failedStep = (run.steps || []).find((s) => s.status !== 'succeeded' && s.status !== 'pending' && s.status !== 'skipped');
  const act = async (path, body, done) => {
    replace(result, 'working…');
    try {
      const answer = await api(`/api/v1/runs/${encodeURIComponent(run.id)}/${path}`, { method: 'POST', body });
      replace(result, done(answer));
      announce(done(answer));
      await refresh();
    } catch (error) { replace(result, el('span', { class: 'error-text', role: 'alert' }, `${error.message}${error.code ? ` (${error.code})` : ''}`)); }
  };
  replace(actions,
    retryable ? actionButton('Retry failed step', async () => {
      const notes = el('textarea', { name: 'notes', id: 'retry-notes', rows: '2' });
      const ok = await confirmDialog({ title: 'Retry this run?', confirm: 'Retry',
        body: el('p', {}, `Baton queues a new attempt of step “${failedStep ? failedStep.name : 'the first unfinished step'}” with the same frozen input (sha256 `,
          el('code', {}, failedStep && failedStep.inputSha256 ? failedStep.inputSha256.slice(0, 12) : '—'),
          '). Steps that succeeded are kept. The run goes back to queued and the step gets its full retry budget again.'),
        fields: [el('label', { for: 'retry-notes' }, 'Note for the event log (optional)'), notes] });
      if (ok) act('retry', { mode: 'resume_failed', ...(ok.notes.trim() ? { notes: ok.notes.trim() } : {}) }, (a) => `Retried: ${a.step} attempt ${a.attempt} queued.`);
    }, 'primary', { id: 'retry-run' }) : null,
    retryable ? actionButton('Restart from the first step', async () => {
      const ok = await confirmDialog({ title: 'Restart this run?', confirm: 'Restart', danger: true,
        body: el('p', {}, 'Baton queues a new attempt of the first step with the input its first attempt had, and the whole chain runs again. Side effects of earlier steps (branches, pull requests) are redone by idempotent steps.') });
      if (ok) act('retry', { mode: 'restart' }, (a) => `Restarted: ${a.step} attempt ${a.attempt} queued.`);
    }, 'quiet', { id: 'restart-run' }) : null,
    active ? actionButton('Cancel run', async () => {
      const ok = await confirmDialog({ title: 'Cancel this run?', confirm: 'Cancel run', danger: true,
        body: el('p', {}, run.status === 'running'
          ? `Step “${run.currentStep || ''}” is running: its worker stops it at its next heartbeat and the run ends cancelled. You can retry it later.`
          : 'The run has not started its next step: it ends cancelled at once. You can retry it later.') });
      if (ok) act('cancel', undefined, (a) => a.cancel === 'cancelled' ? 'Cancelled.' : 'Cancel requested: the step stops at its next heartbeat.');
    }, 'danger', { id: 'cancel-run' }) : null,
    result);
}

function drawSteps(section, run, attempts) {
  const byStep = new Map();
  for (const attempt of attempts) {
    if (!byStep.has(attempt.step)) byStep.set(attempt.step, []);
    byStep.get(attempt.step).push(attempt);
  }
  const list = el('ol', { class: 'timeline' }, (run.steps || []).map((step) => {
    const tries = (byStep.get(step.name) || []).sort((a, b) => a.attempt - b.attempt);
    return el('li', { class: `step step-${step.status}`, 'data-step': step.name },
      el('div', { class: 'step-head' }, el('span', { class: 'step-dot', 'aria-hidden': 'true' }), el('h3', {}, step.name), badge(step.status),
        el('span', { class: 'muted' }, step.attempts === 1 ? '1 attempt' : `${step.attempts} attempts`)),
      tries.length ? el('div', { class: 'table-wrap' }, el('table', { class: 'data attempts' },
        el('caption', { class: 'visually-hidden' }, `Attempts of step ${step.name}`),
        el('thead', {}, el('tr', {}, ['#', 'Status', 'Started', 'Duration', 'Worker', 'Input sha256', 'Error'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, tries.map((a) => el('tr', { 'data-attempt': a.attempt },
          el('td', { 'data-label': '#' }, String(a.attempt)),
          el('td', { 'data-label': 'Status' }, badge(a.status)),
          el('td', { 'data-label': 'Started' }, when(a.startedAt)),
          el('td', { 'data-label': 'Duration' }, a.startedAt ? duration(a.startedAt, a.finishedAt) : '—'),
          el('td', { 'data-label': 'Worker' }, a.workerId ? el('code', {}, a.workerId) : '—'),
          el('td', { 'data-label': 'Input sha256' }, shortSha(a.inputSha256)),
          el('td', { 'data-label': 'Error', class: 'error-cell' }, a.error ? [el('code', {}, a.error.code || 'error'), ' ', a.error.message || ''] : '—'))))))
        : el('p', { class: 'muted' }, step.status === 'pending' ? 'Not reached yet.' : 'No attempts.'));
  }));
  replace(section, el('h2', { id: 'steps-title' }, 'Steps'), list);
}

function drawArtifacts(section, viewer, run, items, signal) {
  const known = section.dataset.ids || '';
  const ids = items.map((a) => a.id).join(',');
  if (known === ids && section.childElementCount > 1) return; // unchanged: keep focus and the open viewer
  section.dataset.ids = ids;
  replace(section, el('h2', { id: 'artifacts-title' }, 'Artifacts'),
    !items.length ? el('p', { class: 'muted' }, 'No artifacts yet. Steps record their prompts, agent logs and diffs here.')
      : el('div', { class: 'table-wrap' }, el('table', { class: 'data artifacts' },
        el('caption', { class: 'visually-hidden' }, 'Artifacts of this run'),
        el('thead', {}, el('tr', {}, ['Name', 'Step', 'Kind', 'Size', 'sha256', ''].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, items.map((a) => el('tr', { 'data-artifact': a.id },
          el('td', { 'data-label': 'Name' }, el('code', {}, a.name)),
          el('td', { 'data-label': 'Step' }, a.step),
          el('td', { 'data-label': 'Kind' }, a.kind),
          el('td', { 'data-label': 'Size' }, bytes(a.sizeBytes)),
          el('td', { 'data-label': 'sha256' }, shortSha(a.sha256)),
          el('td', {}, el('button', { type: 'button', class: 'button quiet', 'aria-label': `Open artifact ${a.name}`,
            onclick: () => openArtifact(viewer, run, a, signal) }, isInline(a) ? 'View' : 'Download'))))))));
}

function isInline(artifact) {
  const type = String(artifact.contentType).split(';')[0].trim().toLowerCase();
  return INLINE_TYPES.includes(type) && artifact.sizeBytes <= INLINE_LIMIT;
}

async function openArtifact(viewer, run, artifact, signal) {
  replace(viewer, stateBox('loading', `Loading ${artifact.name}…`));
  try {
    const response = await fetch(`/api/v1/runs/${encodeURIComponent(run.id)}/artifacts/${encodeURIComponent(artifact.id)}/content`,
      { headers: { Authorization: `Bearer ${session.token}` }, signal, credentials: 'omit', cache: 'no-store' });
    if (!response.ok) await readAnswer(response);
    if (!isInline(artifact)) {
      const blob = await response.blob();
      const url = URL.createObjectURL(new Blob([blob], { type: 'application/octet-stream' }));
      const link = el('a', { href: url, download: artifact.name }, `Save ${artifact.name}`);
      replace(viewer, el('section', { class: 'card' }, el('h2', {}, artifact.name), el('p', {}, 'This file is not shown inline. ', link,
        ` (${bytes(artifact.sizeBytes)}, sha256 `, el('code', {}, artifact.sha256), ').')));
      link.click();
      return;
    }
    const text = await response.text();
    const type = artifact.contentType.split(';')[0].trim();
    const body = el('pre', { class: `artifact-body type-${type.replace(/[^a-z]/g, '-')}`, tabindex: '0', 'aria-label': `Contents of ${artifact.name}` });
    const lines = text.split('\n');
    const isDiff = type === 'text/x-diff' || /\.(diff|patch)$/.test(artifact.name);
    const isJSONL = type === 'application/x-ndjson' || type === 'application/jsonl' || /\.jsonl$/.test(artifact.name);
    if (isDiff) {
      for (const line of lines) {
        const kind = line.startsWith('+++') || line.startsWith('---') ? 'file' : line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : line.startsWith('@@') ? 'hunk' : '';
        body.append(el('span', { class: `line ${kind}` }, line), '\n');
      }
    } else if (isJSONL) {
      for (const line of lines) {
        if (!line.trim()) continue;
        let shown = line;
        try { shown = JSON.stringify(JSON.parse(line)); } catch { /* shown as it is */ }
        body.append(el('span', { class: 'line' }, shown), '\n');
      }
    } else if (type === 'application/json') {
      try { body.textContent = JSON.stringify(JSON.parse(text), null, 2); } catch { body.textContent = text; }
    } else {
      body.textContent = text;
    }
    replace(viewer, el('section', { class: 'card', 'aria-labelledby': 'artifact-title' },
      el('div', { class: 'section-head' }, el('h2', { id: 'artifact-title' }, artifact.name),
        el('button', { type: 'button', class: 'button quiet', onclick: () => viewer.replaceChildren() }, 'Close')),
      el('p', { class: 'muted' }, `${artifact.contentType} · ${bytes(artifact.sizeBytes)} · step ${artifact.step} · sha256 `, el('code', { class: 'sha-full' }, artifact.sha256)),
      body));
    body.focus();
  } catch (error) {
    if (!signal.aborted) replace(viewer, errorBox(error, `open ${artifact.name}`));
  }
}

function eventItem(event) {
  const payload = event.payload && typeof event.payload === 'object' && Object.keys(event.payload).length ? event.payload : null;
  return el('li', { class: `event level-${String(event.level).replace(/[^a-z]/g, '')}`, 'data-event-id': event.id, 'data-kind': event.kind, 'data-step': event.step },
    el('div', { class: 'event-head' },
      el('time', { datetime: event.createdAt }, new Date(event.createdAt).toISOString().slice(11, 23)),
      el('span', { class: 'event-kind' }, event.kind),
      event.step ? el('span', { class: 'muted' }, `${event.step}${event.attempt ? ` #${event.attempt}` : ''}`) : null),
    el('div', { class: 'event-message' }, event.message),
    payload ? el('details', {}, el('summary', {}, 'payload'), el('pre', {}, JSON.stringify(payload, null, 2))) : null);
}

// ---------------------------------------------------------------------------------------------- dead letters

async function renderDeadLetters(main, params, signal) {
  const filters = { triageStatus: params.get('triageStatus') || '', workflow: params.get('workflow') || '', step: params.get('step') || '',
    errorCode: params.get('errorCode') || '', runId: params.get('runId') || '' };
  const counts = el('div', { class: 'counts', role: 'group', 'aria-label': 'Dead letters by triage status' });
  const table = el('div', { 'aria-live': 'polite' }, stateBox('loading', 'Loading dead letters…'));
  const replayBox = el('div', { id: 'replay-box' });
  const field = (name, label, input) => el('div', { class: 'field' }, el('label', { for: `dl-${name}` }, label), input);
  const text = (name, placeholder) => el('input', { id: `dl-${name}`, name, type: 'search', value: filters[name], placeholder, autocomplete: 'off' });
  const form = el('form', { class: 'filters', role: 'search', 'aria-label': 'Filter dead letters' },
    field('triageStatus', 'Triage', el('select', { id: 'dl-triageStatus', name: 'triageStatus' }, el('option', { value: '' }, 'any'),
      TRIAGE_STATUSES.map((s) => el('option', { value: s, selected: s === filters.triageStatus }, s)))),
    field('workflow', 'Workflow', text('workflow', 'spec')),
    field('step', 'Step', text('step', 'submit')),
    field('errorCode', 'Error code', text('errorCode', 'agent_failed')),
    field('runId', 'Run id', text('runId', 'uuid')),
    el('div', { class: 'field actions' }, el('button', { type: 'submit', class: 'button primary' }, 'Apply'),
      el('button', { type: 'button', class: 'button quiet', onclick: () => setHashParams('dead-letters', []) }, 'Clear')));
  form.addEventListener('submit', (event) => { event.preventDefault(); setHashParams('dead-letters', [...new FormData(form).entries()]); });

  const bulk = canOperate() ? el('div', { class: 'actions-bar' },
    actionButton('Dry-run replay of manual_replay entries', () => dryRun(replayBox, { filter: replayFilter(filters) }, load), 'quiet', { id: 'dry-run-all' }),
    el('span', { class: 'muted' }, 'Replay takes only entries triaged manual_replay that match the filters.')) : null;

  replace(main, el('div', { class: 'page-head' }, el('h1', {}, 'Dead letters')), counts, form, bulk, replayBox, table);

  async function load() {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
    query.set('limit', '100');
    const [page, stats] = await Promise.all([api(`/api/v1/dead-letters?${query}`, { signal }), api('/api/v1/stats', { signal })]);
    showIfChanged(counts, stats.deadLetters, () => TRIAGE_STATUSES.map((s) => el('a', { class: `count-chip${filters.triageStatus === s ? ' active' : ''}`,
      href: `#/dead-letters?triageStatus=${s}` }, badge(s), el('span', { class: 'count' }, String(stats.deadLetters[s] || 0)))));
    if (!page.items.length) {
      table.dataset.shown = '';
      replace(table, Object.values(filters).some(Boolean) ? stateBox('empty', 'No dead letters match these filters.', 'Change or clear the filters.')
        : stateBox('empty', 'No dead letters.', 'Steps that exhaust their retries or keep crashing their worker land here for triage.'));
      return;
    }
    showIfChanged(table, page.items, () => el('div', { class: 'table-wrap' }, el('table', { class: 'data dead-letters' },
      el('caption', { class: 'visually-hidden' }, 'Dead letters, oldest first'),
      el('thead', {}, el('tr', {}, ['#', 'Run', 'Step', 'Reason', 'Error', 'Triage', canOperate() ? 'Actions' : null].filter(Boolean).map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, page.items.map((d) => el('tr', { 'data-dead-letter': d.id },
        el('td', { 'data-label': '#' }, String(d.id)),
        el('td', { 'data-label': 'Run' }, el('a', { href: `#/runs/${encodeURIComponent(d.runId)}` }, d.runId.slice(0, 8)), el('div', { class: 'muted' }, `${d.workflow}${d.repository ? ` · ${d.repository}` : ''}`)),
        el('td', { 'data-label': 'Step' }, `${d.step} #${d.attempt}`, el('div', {}, shortSha(d.inputSha256))),
        el('td', { 'data-label': 'Reason' }, d.reason.replace(/_/g, ' ')),
        el('td', { 'data-label': 'Error', class: 'error-cell' }, d.error ? [el('code', {}, d.error.code || 'error'), ' ', d.error.message || ''] : '—'),
        el('td', { 'data-label': 'Triage' }, badge(d.triageStatus),
          d.triagedBy ? el('div', { class: 'muted' }, `by ${d.triagedBy}`) : null,
          d.triageNotes ? el('div', { class: 'note' }, d.triageNotes) : null,
          d.replayedAt ? el('div', { class: 'muted' }, 'replayed ', when(d.replayedAt)) : null),
        canOperate() ? el('td', { 'data-label': 'Actions', class: 'row-actions' },
          actionButton('Triage…', () => triage(d, load), 'quiet', { 'aria-label': `Triage dead letter ${d.id}` }),
          d.triageStatus === 'manual_replay' && !d.replayedAt
            ? actionButton('Dry-run replay', () => dryRun(replayBox, { ids: [d.id] }, load), 'quiet', { 'aria-label': `Dry-run replay of dead letter ${d.id}` }) : null) : null))))));
  }
  await load();
  every(load);
}

function replayFilter(filters) {
  const filter = {};
  for (const key of ['workflow', 'step', 'errorCode', 'runId']) if (filters[key]) filter[key] = filters[key];
  return filter;
}

async function triage(letter, reload) {
  const select = el('select', { name: 'triageStatus', id: 'triage-status' },
    TRIAGE_STATUSES.map((s) => el('option', { value: s, selected: s === (letter.triageStatus === 'new' ? 'manual_replay' : letter.triageStatus) }, s)));
  const notes = el('textarea', { name: 'notes', id: 'triage-notes', rows: '3' }, letter.triageNotes || '');
  const values = await confirmDialog({ title: `Triage dead letter ${letter.id}`, confirm: 'Save triage',
    body: el('p', {}, `Step ${letter.step} of run ${letter.runId.slice(0, 8)} (${letter.reason.replace(/_/g, ' ')}). `,
      el('strong', {}, 'manual_replay'), ' marks it for replay (nothing runs until you replay); ', el('strong', {}, 'discarded'), ' keeps it for the record only.'),
    fields: [el('label', { for: 'triage-status' }, 'Triage status'), select, el('label', { for: 'triage-notes' }, 'Note'), notes] });
  if (!values) return;
  try {
    await api(`/api/v1/dead-letters/${encodeURIComponent(letter.id)}`, { method: 'PATCH',
      body: { triageStatus: values.triageStatus, ...(values.notes.trim() ? { notes: values.notes.trim() } : {}) } });
    announce(`Dead letter ${letter.id} triaged ${values.triageStatus}`);
    await reload();
  } catch (error) {
    await confirmDialog({ title: 'Triage failed', confirm: 'OK', body: el('p', { role: 'alert' }, error.message) });
  }
}

async function dryRun(box, selection, reload) {
  replace(box, stateBox('loading', 'Asking the server what would be replayed…'));
  try {
    const answer = await api('/api/v1/dead-letters/replay', { method: 'POST', body: { ...selection, dryRun: true } });
    const chosen = answer.items.filter((i) => i.replayed).map((i) => i.id);
    replace(box, el('section', { class: 'card', 'aria-labelledby': 'dry-run-title' },
      el('h2', { id: 'dry-run-title' }, `Dry run: ${answer.replayed} would be replayed, ${answer.skipped} skipped`),
      replayItems(answer.items, 'would replay'),
      chosen.length ? el('div', { class: 'actions-bar' },
        actionButton(`Replay ${chosen.length}`, async () => {
          const ok = await confirmDialog({ title: `Replay ${chosen.length} dead letter${chosen.length === 1 ? '' : 's'}?`, confirm: 'Replay',
            body: el('p', {}, 'Each listed step runs again as a new attempt with its frozen input (same sha256); its run goes back to queued. Entries replayed meanwhile are skipped.') });
          if (ok) replay(box, chosen, reload);
        }, 'primary', { id: 'replay-confirm' }),
        el('button', { type: 'button', class: 'button quiet', onclick: () => box.replaceChildren() }, 'Close'))
        : el('p', { class: 'muted' }, 'Nothing to replay: triage entries as manual_replay first.')));
  } catch (error) { replace(box, errorBox(error, 'dry-run the replay')); }
}

function replayItems(items, verb) {
  if (!items.length) return el('p', { class: 'muted' }, 'No entries selected.');
  return el('ul', { class: 'replay-items' }, items.map((i) => el('li', { 'data-replay-item': i.id },
    el('strong', {}, `#${i.id}`), ' ', i.replayed ? `${verb} ` : `skipped (${i.skippedReason || 'not replayable'}) `,
    i.step ? `step ${i.step} ` : '', i.runId ? el('a', { href: `#/runs/${encodeURIComponent(i.runId)}` }, `run ${i.runId.slice(0, 8)}`) : '',
    i.inputSha256 ? [' · input ', shortSha(i.inputSha256)] : '',
    el('span', { class: 'replay-progress', 'data-run': i.runId || '' }))));
}

async function replay(box, ids, reload) {
  replace(box, stateBox('loading', 'Replaying…'));
  const signal = view.controller.signal;
  try {
    const answer = await api('/api/v1/dead-letters/replay', { method: 'POST', body: { ids, dryRun: false } });
    const progress = el('progress', { max: String(Math.max(1, answer.replayed)), value: '0', 'aria-label': 'Replayed runs finished' });
    const summary = el('p', { id: 'replay-summary', 'aria-live': 'polite' }, `${answer.replayed} replayed, ${answer.skipped} skipped. Waiting for the runs…`);
    replace(box, el('section', { class: 'card', 'aria-labelledby': 'replay-title' }, el('h2', { id: 'replay-title' }, 'Replay'), progress, summary, replayItems(answer.items, 'replayed')));
    announce(`${answer.replayed} dead letters replayed`);
    await reload();
    const runs = [...new Set(answer.items.filter((i) => i.replayed && i.runId).map((i) => i.runId))];
    while (!signal.aborted && runs.length) {
      const states = await Promise.all(runs.map((id) => api(`/api/v1/runs/${encodeURIComponent(id)}`, { signal }).then((r) => [id, r.status])));
      let done = 0;
      for (const [id, status] of states) {
        if (!['queued', 'running'].includes(status)) done += 1;
        for (const slot of box.querySelectorAll('.replay-progress')) if (slot.dataset.run === id) replace(slot, ' → ', badge(status));
      }
      progress.value = done;
      summary.textContent = `${answer.replayed} replayed, ${answer.skipped} skipped. ${done} of ${runs.length} run${runs.length === 1 ? '' : 's'} finished.`;
      if (done === runs.length) { announce('Replayed runs finished'); return; }
      await wait(1000, signal);
    }
  } catch (error) { if (!signal.aborted) replace(box, errorBox(error, 'replay')); }
}

// ---------------------------------------------------------------------------------------------- workers

async function renderWorkers(main, params, signal) {
  const includeStopped = params.get('stopped') === '1';
  const queues = el('section', { class: 'card', 'aria-labelledby': 'queues-title' });
  const list = el('div', { 'aria-live': 'polite' }, stateBox('loading', 'Loading workers…'));
  const toggle = el('input', { type: 'checkbox', id: 'include-stopped', checked: includeStopped,
    onchange: (event) => setHashParams('workers', event.target.checked ? [['stopped', '1']] : []) });
  replace(main, el('div', { class: 'page-head' }, el('h1', {}, 'Workers'),
    el('label', { class: 'inline-check' }, toggle, ' Show stopped workers')), queues, list);

  const load = async () => {
    const [workers, stats] = await Promise.all([api(`/api/v1/workers${includeStopped ? '?includeStopped=true' : ''}`, { signal }), api('/api/v1/stats', { signal })]);
    drawQueues(queues, stats);
    if (!workers.items.length) {
      replace(list, stateBox('empty', 'No worker is running.', 'Start one with ', el('code', {}, 'baton worker'), ' (or ', el('code', {}, 'baton up'),
        '); it runs its preflight checks and appears here with what it proved it can do.'));
      return;
    }
    replace(list, el('div', { class: 'worker-grid' }, workers.items.map(workerCard)));
  };
  await load();
  every(load);
}

function drawQueues(section, stats) {
  const byQueue = new Map();
  for (const job of stats.jobs) {
    if (!byQueue.has(job.queue)) byQueue.set(job.queue, { ready: 0, scheduled: 0, leased: 0 });
    byQueue.get(job.queue)[job.state] = job.count;
  }
  replace(section, el('h2', { id: 'queues-title' }, 'Queues'),
    byQueue.size ? el('div', { class: 'table-wrap' }, el('table', { class: 'data queues' },
      el('thead', {}, el('tr', {}, ['Queue', 'Ready', 'Scheduled (retry later)', 'Running'].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, [...byQueue].map(([name, c]) => el('tr', {}, el('td', { 'data-label': 'Queue' }, name), el('td', { 'data-label': 'Ready' }, String(c.ready)),
        el('td', { 'data-label': 'Scheduled' }, String(c.scheduled)), el('td', { 'data-label': 'Running' }, String(c.leased)))))))
      : el('p', { class: 'muted' }, 'Every queue is empty: no step is waiting or running.'),
    el('p', { class: 'help' }, 'Oldest-ready age and queue pause need the queue-health routes, which this server does not have yet.'));
}

function workerCard(worker) {
  const age = Math.max(0, Math.round((Date.now() - new Date(worker.lastSeenAt)) / 1000));
  const proved = new Set(worker.capabilities);
  const failed = worker.preflight.filter((c) => c.status === 'failed');
  return el('article', { class: `card worker${worker.live ? '' : ' stale'}`, 'data-worker': worker.id, 'aria-labelledby': `worker-${cssId(worker.id)}` },
    el('div', { class: 'section-head' }, el('h2', { id: `worker-${cssId(worker.id)}` }, el('code', {}, worker.id)),
      badge(worker.live ? worker.status : `${worker.status} (not live)`)),
    el('dl', { class: 'facts compact' },
      el('div', {}, el('dt', {}, 'Host'), el('dd', {}, `${worker.host} (pid ${worker.pid})`)),
      el('div', {}, el('dt', {}, 'Queue'), el('dd', {}, `${worker.queue} · ${worker.concurrency} at once`)),
      el('div', {}, el('dt', {}, 'Heartbeat'), el('dd', { class: age > 30 ? 'warn-text' : '' }, `${age} s ago`)),
      el('div', {}, el('dt', {}, 'Started'), el('dd', {}, when(worker.startedAt)))),
    el('h3', {}, 'Capabilities'),
    el('ul', { class: 'chips', 'aria-label': 'Capabilities' }, worker.offered.length ? worker.offered.map((c) => el('li', { class: `chip ${proved.has(c) ? 'ok' : 'bad'}` },
      proved.has(c) ? '✓ ' : '✗ ', c, el('span', { class: 'visually-hidden' }, proved.has(c) ? ' (proved by preflight)' : ' (offered, failed preflight)')))
      : el('li', { class: 'chip' }, 'none offered')),
    failed.length ? [el('h3', {}, `Failed checks (${failed.length})`), el('ul', { class: 'checks' }, failed.map((c) => el('li', { class: 'check failed' },
      el('strong', {}, c.name), c.capability ? el('span', { class: 'muted' }, ` · ${c.capability}`) : null, c.repository ? el('span', { class: 'muted' }, ` · ${c.repository}`) : null,
      el('div', {}, c.detail), c.fix ? el('div', { class: 'fix' }, el('strong', {}, 'Fix: '), c.fix) : null)))]
      : el('p', { class: 'ok-text' }, worker.preflight.length ? `All ${worker.preflight.length} preflight checks passed.` : 'No preflight checks reported.'));
}

function cssId(text) { return String(text).replace(/[^A-Za-z0-9_-]/g, '-'); }

// ---------------------------------------------------------------------------------------------- activity (charts)

/** Samples /api/v1/stats while signed in, so the charts have a history from the moment the console opened. */
const sampler = {
  samples: [], timer: null, listeners: new Set(),
  start() {
    if (this.timer) return;
    const tick = async () => {
      try {
        const stats = await api('/api/v1/stats');
        const depth = { ready: 0, scheduled: 0, leased: 0 };
        for (const job of stats.jobs) depth[job.state] = (depth[job.state] || 0) + job.count;
        const finished = Object.values(stats.attempts).reduce((a, b) => a + b, 0);
        this.samples.push({ at: Date.now(), depth, finished });
        if (this.samples.length > 720) this.samples.shift();
        for (const listener of this.listeners) listener();
      } catch { /* signed out or the server is away: the next tick tries again */ }
    };
    tick();
    this.timer = setInterval(tick, REFRESH_MS);
  },
  stop() { clearInterval(this.timer); this.timer = null; this.samples = []; },
};

async function renderActivity(main, signal) {
  const depthBox = el('section', { class: 'card chart-card', 'aria-labelledby': 'depth-title' });
  const rateBox = el('section', { class: 'card chart-card', 'aria-labelledby': 'rate-title' });
  const outcomesBox = el('section', { class: 'card chart-card wide', 'aria-labelledby': 'outcomes-title' });
  replace(main, el('div', { class: 'page-head' }, el('h1', {}, 'Activity')),
    el('p', { class: 'help' }, 'Queue depth and step throughput are sampled every 5 s since this console opened; outcomes come from the server. Oldest-ready age needs the queue-health routes, which this server does not have yet.'),
    el('div', { class: 'chart-grid' }, depthBox, rateBox, outcomesBox));

  const drawLive = () => {
    const s = sampler.samples;
    const depth = s.map((x) => ({ at: x.at, values: [x.depth.ready, x.depth.scheduled, x.depth.leased] }));
    replace(depthBox, el('h2', { id: 'depth-title' }, 'Queue depth'),
      s.length < 2 ? stateBox('loading', 'Collecting samples…', 'The first points appear within 10 seconds.')
        : lineChart(depth, ['ready', 'scheduled', 'running'], 'Jobs in the queue over time'));
    const rates = [];
    for (let i = 1; i < s.length; i += 1) {
      const seconds = (s[i].at - s[i - 1].at) / 1000;
      rates.push({ at: s[i].at, values: [Math.max(0, (s[i].finished - s[i - 1].finished) / seconds)] });
    }
    replace(rateBox, el('h2', { id: 'rate-title' }, 'Steps finished per second'),
      rates.length < 2 ? stateBox('loading', 'Collecting samples…', 'The first points appear within 15 seconds.')
        : lineChart(rates, ['steps/s'], 'Step attempts finished per second over time'));
  };
  const drawOutcomes = async () => {
    const answer = await api('/api/v1/stats/outcomes?minutes=60', { signal });
    replace(outcomesBox, el('h2', { id: 'outcomes-title' }, 'Run outcomes, last hour (per minute)'),
      answer.items.length ? barChart(answer.items) : stateBox('empty', 'No run finished in the last hour.'));
  };
  drawLive();
  sampler.listeners.add(drawLive);
  signal.addEventListener('abort', () => sampler.listeners.delete(drawLive));
  await drawOutcomes();
  every(drawOutcomes, 15000);
}

const SERIES_CLASSES = ['series-0', 'series-1', 'series-2'];

function chartFrame(label, width, height) {
  return el('svg:svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': label, preserveAspectRatio: 'none' },
    el('svg:title', {}, label));
}

function lineChart(points, names, label) {
  const width = 600; const height = 220; const pad = { l: 44, r: 12, t: 12, b: 26 };
  const max = Math.max(1, ...points.flatMap((p) => p.values));
  const t0 = points[0].at; const t1 = points[points.length - 1].at;
  const x = (at) => pad.l + ((at - t0) / Math.max(1, t1 - t0)) * (width - pad.l - pad.r);
  const y = (v) => height - pad.b - (v / max) * (height - pad.t - pad.b);
  const svg = chartFrame(label, width, height);
  for (const fraction of [0, 0.5, 1]) {
    const value = max * fraction;
    svg.append(el('svg:line', { x1: pad.l, x2: width - pad.r, y1: y(value), y2: y(value), class: 'grid' }),
      el('svg:text', { x: pad.l - 6, y: y(value) + 4, class: 'axis', 'text-anchor': 'end' }, value >= 10 ? Math.round(value) : value.toFixed(1)));
  }
  svg.append(el('svg:text', { x: pad.l, y: height - 6, class: 'axis' }, new Date(t0).toTimeString().slice(0, 8)),
    el('svg:text', { x: width - pad.r, y: height - 6, class: 'axis', 'text-anchor': 'end' }, new Date(t1).toTimeString().slice(0, 8)));
  names.forEach((name, index) => {
    const d = points.map((p, i) => `${i ? 'L' : 'M'}${x(p.at).toFixed(1)},${y(p.values[index]).toFixed(1)}`).join(' ');
    svg.append(el('svg:path', { d, class: `line ${SERIES_CLASSES[index]}` }));
  });
  const last = points[points.length - 1].values;
  return [svg, el('ul', { class: 'legend' }, names.map((name, index) => el('li', {}, el('span', { class: `swatch ${SERIES_CLASSES[index]}`, 'aria-hidden': 'true' }),
    `${name}: ${Number.isInteger(last[index]) ? last[index] : last[index].toFixed(2)} now`)))];
}

function barChart(items) {
  const width = 900; const height = 220; const pad = { l: 36, r: 8, t: 12, b: 26 };
  const now = Date.now();
  const start = Math.floor((now - 59 * 60000) / 60000) * 60000;
  const minutes = Array.from({ length: 60 }, (_, i) => ({ at: start + i * 60000, counts: {} }));
  for (const item of items) {
    const index = Math.round((new Date(item.minute).getTime() - start) / 60000);
    if (index >= 0 && index < 60) minutes[index].counts[item.status] = (minutes[index].counts[item.status] || 0) + item.count;
  }
  const order = ['succeeded', 'failed', 'blocked', 'cancelled'];
  const max = Math.max(1, ...minutes.map((m) => order.reduce((a, s) => a + (m.counts[s] || 0), 0)));
  const slot = (width - pad.l - pad.r) / 60;
  const svg = chartFrame('Runs finished per minute over the last hour, by outcome', width, height);
  const y = (v) => height - pad.b - (v / max) * (height - pad.t - pad.b);
  svg.append(el('svg:line', { x1: pad.l, x2: width - pad.r, y1: y(0), y2: y(0), class: 'grid' }),
    el('svg:text', { x: pad.l - 6, y: y(max) + 4, class: 'axis', 'text-anchor': 'end' }, String(max)),
    el('svg:text', { x: pad.l, y: height - 6, class: 'axis' }, '60 min ago'),
    el('svg:text', { x: width - pad.r, y: height - 6, class: 'axis', 'text-anchor': 'end' }, 'now'));
  minutes.forEach((minute, i) => {
    let base = 0;
    for (const status of order) {
      const n = minute.counts[status] || 0;
      if (!n) continue;
      svg.append(el('svg:rect', { x: (pad.l + i * slot + 1).toFixed(1), y: y(base + n).toFixed(1), width: Math.max(1, slot - 2).toFixed(1),
        height: (y(base) - y(base + n)).toFixed(1), class: `bar status-${status}` },
      el('svg:title', {}, `${new Date(minute.at).toTimeString().slice(0, 5)}: ${n} ${status}`)));
      base += n;
    }
  });
  const totals = {};
  for (const item of items) totals[item.status] = (totals[item.status] || 0) + item.count;
  return [svg, el('ul', { class: 'legend' }, order.map((status) => el('li', {}, el('span', { class: `swatch status-${status}`, 'aria-hidden': 'true' }),
    `${status}: ${totals[status] || 0}`)))];
}

// ---------------------------------------------------------------------------------------------- start

document.getElementById('sign-out').addEventListener('click', () => signOut(null));
window.addEventListener('hashchange', () => { if (session.token && session.me) render(); });
render();
