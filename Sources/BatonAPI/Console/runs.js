// Baton console: the runs list and a run's page (steps, attempts, live events, artifacts, retry, cancel).
// index.html loads dom.js, app.js, runs.js, dead-letters.js, workers.js, charts.js in that order (deferred; one
// global scope). The safety rules are at the top of dom.js.
'use strict';

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
  let endedAt = null; // the run's updatedAt when its stream last ended
  let count = 0;
  let refresh = null;
  // Events change the run: refresh the rest of the page at most every 500 ms while they arrive.
  let pending = null;
  const soon = () => {
    if (pending) return;
    pending = setTimeout(async () => { pending = null; try { await refresh(); } catch { /* the next event or the timer retries */ } }, 500);
  };
  signal.addEventListener('abort', () => clearTimeout(pending));
  // The stream ends when the run settles. A retry or a replay changes the run (it may even settle again before the
  // next refresh sees it active): then the stream resumes after the last event shown.
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
      onEnd: (end) => { streaming = false; endedAt = run && run.updatedAt; streamState.textContent = `run ${end.status}: stream ended`; soon(); },
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
    if (['queued', 'deferred', 'running'].includes(run.status) || (endedAt !== null && run.updatedAt !== endedAt)) follow();
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
    // The run ledger's head (docs/ledger.md): record it to check later that the history was not rewritten.
    ['Ledger head', run.ledger && run.ledger.head
      ? el('code', { title: `${run.ledger.head} (${run.ledger.events} events; check with baton runs verify)` }, `${run.ledger.head.slice(0, 16)}… · ${run.ledger.events} events`)
      : '—'],
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
  const active = ['queued', 'deferred', 'running'].includes(run.status);
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
