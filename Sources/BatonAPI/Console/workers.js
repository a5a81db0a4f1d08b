// Baton console: workers (capabilities, failed preflight checks, heartbeats) and queue health, with pause and resume.
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
    const [workers, health] = await Promise.all([api(`/api/v1/workers${includeStopped ? '?includeStopped=true' : ''}`, { signal }), api('/api/v1/queues', { signal })]);
    drawQueues(queues, health, load);
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

function drawQueues(section, health, reload) {
  const queues = health.items;
  const secs = (v) => (typeof v === 'number' ? `${v.toFixed(1)} s` : '—');
  const change = async (queue, verb) => {
    const reason = el('textarea', { name: 'reason', id: 'queue-reason', rows: '2', required: true, maxlength: '500' });
    const values = await confirmDialog({
      title: verb === 'pause' ? `Pause queue ${queue.queue}?` : `Resume queue ${queue.queue}?`,
      confirm: verb === 'pause' ? 'Pause queue' : 'Resume queue', danger: verb === 'pause',
      body: el('p', {}, verb === 'pause'
        ? 'Workers stop claiming from this queue. Steps already running finish; new runs are still accepted and wait.'
        : 'Workers start claiming from this queue again at once.'),
      fields: [el('label', { for: 'queue-reason' }, 'Reason (recorded in the queue event)'), reason] });
    if (!values || !values.reason.trim()) return;
    try {
      await api(`/api/v1/queues/${encodeURIComponent(queue.queue)}/${verb}`, { method: 'POST', body: { reason: values.reason.trim() } });
      announce(`Queue ${queue.queue} ${verb === 'pause' ? 'paused' : 'resumed'}`);
      await reload();
    } catch (error) {
      await confirmDialog({ title: `Could not ${verb} the queue`, confirm: 'OK', body: el('p', { role: 'alert' }, error.message) });
    }
  };
  const headers = ['Queue', 'State', 'Ready', 'Scheduled (retry later)', 'Running', 'Oldest ready', 'Claim wait p50 / p99 (5 min)',
    'New dead letters', 'Workers fresh / stale', canOperate() ? 'Actions' : null].filter(Boolean);
  replace(section, el('h2', { id: 'queues-title' }, 'Queues'),
    queues.length ? el('div', { class: 'table-wrap' }, el('table', { class: 'data queues' },
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, queues.map((q) => el('tr', { 'data-queue': q.queue },
        el('td', { 'data-label': 'Queue' }, q.queue),
        el('td', { 'data-label': 'State' }, q.paused
          ? [badge('paused'), el('div', { class: 'muted' }, `by ${q.pause.by}: ${q.pause.reason}`)]
          : badge(q.ready > 0 && q.workers.fresh === 0 ? 'stalled' : 'active')),
        el('td', { 'data-label': 'Ready' }, String(q.ready)),
        el('td', { 'data-label': 'Scheduled' }, String(q.scheduled)),
        el('td', { 'data-label': 'Running' }, String(q.leased)),
        el('td', { 'data-label': 'Oldest ready', class: q.oldestReadyAgeSeconds > 300 ? 'warn-text' : '' }, q.ready ? secs(q.oldestReadyAgeSeconds) : '—'),
        el('td', { 'data-label': 'Claim wait' }, `${secs(q.claimWaitP50Seconds)} / ${secs(q.claimWaitP99Seconds)}`),
        el('td', { 'data-label': 'New dead letters' }, String(q.deadLettersNew)),
        el('td', { 'data-label': 'Workers', class: q.ready > 0 && q.workers.fresh === 0 ? 'warn-text' : '' }, `${q.workers.fresh} / ${q.workers.stale}`),
        canOperate() ? el('td', { 'data-label': 'Actions', class: 'row-actions' }, q.paused
          ? actionButton('Resume', () => change(q, 'resume'), 'primary', { 'data-action': 'resume' })
          : actionButton('Pause', () => change(q, 'pause'), 'danger', { 'data-action': 'pause' })) : null)))))
      : el('p', { class: 'muted' }, 'No queue has work, workers or a pause.'),
    el('p', { class: 'help' }, 'Paused queues are skipped by claims; running steps finish and new runs wait. ',
      el('code', {}, 'baton queues'), ' shows the same from the command line.'));
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
