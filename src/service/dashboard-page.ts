import { createHash } from 'node:crypto';

/**
 * The dashboard page (see dashboard.ts): HTML, CSS and script in one string, nothing loaded from
 * anywhere else. The script reads snapshots from `events` (relative, so the page also works
 * behind a path prefix) and writes every value with `textContent`: no snapshot text is ever
 * parsed as markup. The Content-Security-Policy allows exactly this script and this style.
 */

const STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #6e7781;
  --line: #d0d7de; --bg: #ffffff; --panel: #f6f8fa; --fg: #1f2328; }
@media (prefers-color-scheme: dark) { :root { --ok: #3fb950; --warn: #d29922; --bad: #f85149;
  --muted: #8b949e; --line: #30363d; --bg: #0d1117; --panel: #161b22; --fg: #e6edf3; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 24px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI",
  Roboto, sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 12px; }
h1 { font-size: 18px; margin: 0 8px 0 0; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted);
  margin: 20px 0 6px; }
.verdict { font-weight: 700; padding: 3px 12px; border-radius: 999px; border: 1px solid var(--line);
  text-transform: uppercase; letter-spacing: .05em; }
.verdict.ready { background: var(--ok); color: #fff; border-color: var(--ok); }
.verdict.degraded { background: var(--warn); color: #fff; border-color: var(--warn); }
.verdict.down { background: var(--bad); color: #fff; border-color: var(--bad); }
.muted, .stream { color: var(--muted); }
.stream.live::before { content: "\\25CF  "; color: var(--ok); }
.stream.broken::before { content: "\\25CF  "; color: var(--bad); }
button { font: inherit; padding: 3px 12px; border-radius: 6px; border: 1px solid var(--line);
  background: var(--panel); color: var(--fg); cursor: pointer; }
#reasons { margin: 8px 0 0; padding-left: 20px; color: var(--warn); }
table { border-collapse: collapse; width: 100%; background: var(--panel); border-radius: 6px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-weight: 600; font-size: 12px; color: var(--muted); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono, td.num, #timeline { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; }
.badge { display: inline-block; padding: 0 8px; border-radius: 4px; font-weight: 600;
  border: 1px solid var(--line); }
.badge.good { color: var(--ok); border-color: var(--ok); }
.badge.busy { color: var(--warn); border-color: var(--warn); }
.badge.bad { color: var(--bad); border-color: var(--bad); }
.sub { display: block; color: var(--muted); font-size: 12px; }
.age { display: block; white-space: nowrap; }
.age.ok { color: var(--ok); } .age.late { color: var(--warn); } .age.stale { color: var(--bad); }
.age.none, .age.off { color: var(--muted); }
.error { color: var(--bad); max-width: 28em; overflow-wrap: anywhere; }
.grid { display: grid; grid-template-columns: minmax(0, 3fr) minmax(280px, 1fr); gap: 0 24px; }
@media (max-width: 900px) { .grid { grid-template-columns: 1fr; } }
#timeline { list-style: none; margin: 0; padding: 0; max-height: 420px; overflow-y: auto;
  background: var(--panel); border-radius: 6px; }
#timeline li { padding: 4px 10px; border-bottom: 1px solid var(--line); }
#timeline li.new { animation: flash 2s ease-out; }
@keyframes flash { from { background: rgba(210, 153, 34, .35); } to { background: transparent; } }
#timeline .to { font-weight: 700; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 4px 12px; margin: 0; padding: 10px;
  background: var(--panel); border-radius: 6px; }
dt { color: var(--muted); } dd { margin: 0; font-variant-numeric: tabular-nums; }
`;

/* The page's script: ES2017, no template literals (this file is one). */
const SCRIPT = `
(function () {
  'use strict';
  var GOOD = ['subscribed', 'live', 'running', 'ok'];
  var BAD = ['error', 'failed', 'down', 'invalid', 'quarantined', 'stopped'];
  var lastSeq = -1;
  var byId = function (id) { return document.getElementById(id); };

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }
  function tone(state) {
    var word = String(state).split('.').pop();
    return GOOD.indexOf(word) >= 0 ? 'good' : BAD.indexOf(word) >= 0 ? 'bad' : 'busy';
  }
  function badge(state) { return el('span', state, 'badge ' + tone(state)); }
  function duration(ms) {
    if (ms === undefined || ms === null) return '\\u2014';
    if (ms < 1000) return Math.round(ms) + ' ms';
    var s = ms / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + 'm ' + Math.floor(s % 60) + 's';
    var h = Math.floor(m / 60);
    return h < 48 ? h + 'h ' + (m % 60) + 'm' : Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
  }
  function mib(bytes) { return (bytes / 1048576).toFixed(1) + ' MiB'; }
  function millis(ms) {
    return ms === undefined || ms === null ? '\\u2014' : ms.toFixed(1) + ' ms';
  }
  function rate(value) {
    if (value === undefined || value === null) return '\\u2014';
    return value >= 100 ? Math.round(value).toLocaleString('en') : value.toFixed(1);
  }
  function level(side) { return side ? side[0] + ' \\u00d7 ' + side[1] : '\\u2014'; }
  function clock(at) { return new Date(at).toISOString().slice(11, 23); }
  function cell(row, content, className) {
    var td = el('td', undefined, className);
    (Array.isArray(content) ? content : [content]).forEach(function (part) {
      td.append(typeof part === 'string' || typeof part === 'number' ? String(part) : part);
    });
    row.append(td);
    return td;
  }

  function renderVerdict(s) {
    var verdict = byId('verdict');
    verdict.textContent = s.verdict.state;
    verdict.className = 'verdict ' + s.verdict.state;
    var reasons = s.verdict.reasons.map(function (r) { return el('li', r); });
    byId('reasons').replaceChildren(...reasons);
    byId('uptime').textContent = 'up ' + duration(s.uptimeMs);
    byId('drop').hidden = s.actions.indexOf('drop-connections') < 0;
  }

  function renderCollectors(s) {
    var body = byId('collectors').tBodies[0];
    body.replaceChildren(...s.collectors.map(function (c) {
      var row = el('tr');
      row.setAttribute('data-collector', c.id);
      var symbols = c.exchange + ' \\u00b7 ' + c.symbols.join(', ');
      cell(row, [el('strong', c.id), el('span', symbols, 'sub')]);
      var state = cell(row, badge(c.state), 'state');
      c.connections.forEach(function (conn) {
        state.append(el('span', conn.id + ': ' + conn.state, 'sub mono'));
      });
      cell(row, duration(c.inStateMs), 'num in-state');
      cell(row, rate(c.messagesPerSecond), 'num rate');
      cell(row, c.data.map(function (d) {
        var limit = d.thresholdMs > 0 ? ' / ' + duration(d.thresholdMs) : ' (no limit)';
        var age = d.ageMs === undefined || d.ageMs === null ? 'none yet' : duration(d.ageMs);
        return el('span', d.dataType + ' ' + age + limit, 'age ' + d.freshness);
      }), 'ages');
      cell(row, c.reconnects, 'num reconnects');
      cell(row, c.restarts, 'num restarts');
      cell(row, c.lastError === undefined ? '' : c.lastError, 'error');
      return row;
    }));
  }

  function renderBooks(s) {
    byId('books-section').hidden = s.books.length === 0;
    var body = byId('books').tBodies[0];
    body.replaceChildren(...s.books.map(function (b) {
      var row = el('tr');
      row.setAttribute('data-book', b.collectorId + ' ' + b.symbol + ' ' + b.channel);
      var where = b.collectorId + ' \\u00b7 ' + b.channel;
      cell(row, [el('strong', b.symbol), el('span', where, 'sub')]);
      cell(row, badge(b.state), 'state');
      cell(row, level(b.bestBid), 'num');
      cell(row, level(b.bestAsk), 'num');
      var spread = b.bestBid && b.bestAsk ? (b.bestAsk[0] - b.bestBid[0]).toPrecision(4) : '-';
      cell(row, spread, 'num');
      cell(row, b.sequence === undefined ? '\\u2014' : b.sequence, 'num');
      cell(row, b.resyncs, 'num');
      return row;
    }));
  }

  function renderTimeline(s) {
    var list = byId('timeline');
    var first = lastSeq < 0;
    list.replaceChildren(...s.timeline.map(function (t) {
      var item = el('li', undefined, !first && t.seq > lastSeq ? 'new' : '');
      item.setAttribute('data-seq', String(t.seq));
      item.append(el('span', clock(t.at) + ' ', 'muted'), el('strong', t.actor), ' ');
      if (t.from !== undefined) item.append(el('span', t.from), ' \\u2192 ');
      item.append(el('span', t.to, 'to'), el('span', ' on ' + t.event, 'muted'));
      if (t.reason !== undefined) item.append(el('span', ' \\u2014 ' + t.reason, 'reason'));
      return item;
    }));
    if (s.timeline.length > 0) lastSeq = Math.max(lastSeq, s.timeline[0].seq);
    if (first && s.timeline.length === 0) lastSeq = 0;
  }

  function renderProcess(s) {
    var p = s.process;
    var rows = [
      ['RSS', mib(p.rssBytes)],
      ['heap used', (p.heapUsedBytes / 1048576).toFixed(1) + ' / ' + mib(p.heapTotalBytes)],
      ['event-loop delay p50', millis(p.eventLoopDelayP50Ms)],
      ['p99', millis(p.eventLoopDelayP99Ms)],
      ['max', millis(p.eventLoopDelayMaxMs)],
    ];
    var list = byId('process');
    list.replaceChildren();
    rows.forEach(function (pair) { list.append(el('dt', pair[0]), el('dd', pair[1])); });
  }

  function render(s) {
    renderVerdict(s);
    renderCollectors(s);
    renderBooks(s);
    renderTimeline(s);
    renderProcess(s);
    byId('stream').textContent = 'live \\u00b7 ' + clock(s.at) + ' UTC';
  }

  var stream = byId('stream');
  var source = new EventSource('events');
  source.onopen = function () { stream.className = 'stream live'; };
  source.onerror = function () {
    stream.className = 'stream broken';
    stream.textContent = 'disconnected \\u00b7 retrying';
  };
  source.onmessage = function (message) {
    stream.className = 'stream live';
    render(JSON.parse(message.data));
  };
  byId('drop').addEventListener('click', function () {
    var button = byId('drop');
    button.disabled = true;
    fetch('actions/drop-connections', { method: 'POST', headers: { 'x-dashboard': '1' } })
      .catch(function () { return undefined; })
      .then(function () { setTimeout(function () { button.disabled = false; }, 1000); });
  });
})();
`;

const BODY = `<header>
  <h1>market-collector</h1>
  <span id="verdict" class="verdict">connecting</span>
  <span id="uptime" class="muted"></span>
  <span id="stream" class="stream">connecting</span>
  <button id="drop" type="button" hidden title="The demo exchange ends every connection">
    Drop connections</button>
</header>
<ul id="reasons"></ul>
<h2>Collectors</h2>
<table id="collectors">
  <thead><tr><th>collector</th><th>state</th><th class="num">in state</th><th class="num">msg/s</th>
  <th>last message (age / threshold)</th><th class="num">reconnects</th>
  <th class="num">restarts</th><th>last error</th></tr></thead>
  <tbody></tbody>
</table>
<section id="books-section" hidden>
<h2>Order books</h2>
<table id="books">
  <thead><tr><th>symbol</th><th>book</th><th class="num">best bid</th><th class="num">best ask</th>
  <th class="num">spread</th><th class="num">sequence</th><th class="num">resyncs</th></tr></thead>
  <tbody></tbody>
</table>
</section>
<div class="grid">
  <section><h2>State transitions</h2><ol id="timeline"></ol></section>
  <section><h2>Process</h2><dl id="process"></dl></section>
</div>`;

export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>market-collector dashboard</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
${BODY}
<script>${SCRIPT}</script>
</body>
</html>
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** This page's script and style and nothing else; no frame, form, plugin or foreign connection. */
export const DASHBOARD_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
