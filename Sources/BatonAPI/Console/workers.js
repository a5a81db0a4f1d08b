// Baton console: workers (capabilities, failed preflight checks, heartbeats) and queue depth.
// index.html loads dom.js, app.js, runs.js, dead-letters.js, workers.js, charts.js in that order (deferred; one
// global scope). The safety rules are at the top of dom.js.
'use strict';

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
