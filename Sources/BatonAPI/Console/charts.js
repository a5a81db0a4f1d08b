// Baton console: the activity page, its stats sampler and its inline SVG charts.
// index.html loads dom.js, app.js, runs.js, dead-letters.js, workers.js, charts.js in that order (deferred; one
// global scope). The safety rules are at the top of dom.js.
'use strict';

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
