// Baton console: dead letters (filters, triage, dry-run replay, replay with progress).
// index.html loads dom.js, app.js, runs.js, dead-letters.js, workers.js, charts.js in that order (deferred; one
// global scope). The safety rules are at the top of dom.js.
'use strict';

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
