// Baton operator console: DOM helpers and shared constants. Plain JavaScript, no build step, no libraries.
//
// Safety rules every console file keeps (docs/console.md):
// - Every value from the server reaches the page as text: elements are built with `el()` (createElement +
//   textContent + setAttribute); nothing is ever assigned to innerHTML/outerHTML or passed to insertAdjacentHTML.
// - Links from data (pull request URLs) are used only when they are http(s) URLs.
// - The token lives in sessionStorage and goes out only as the Authorization header of this origin's API calls.
'use strict';

const TOKEN_KEY = 'baton.console.token';
const REFRESH_MS = 5000;
const RUN_STATUSES = ['queued', 'deferred', 'running', 'succeeded', 'failed', 'blocked', 'cancelled'];
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
