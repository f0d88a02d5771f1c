/**
 * The dashboard page (Leaf's /cache page, done better): static HTML; the data comes from the
 * admin API (/admin/segments, /admin/rates) with the token the visitor types in (kept in
 * sessionStorage, never in the URL) and from /health/ready. Every figure is a cell with a
 * `data-field` so the browser test reads exactly what a person sees.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>id-allocator dashboard</title>
<!-- no icon to fetch: the browser's /favicon.ico was a 404 counted as NOT_FOUND among the errors this page shows -->
<link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --up: #137333; --down: #b3261e; --warn: #a15c00; --muted: #5f6b7a; --line: #d7dbe0; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.25rem 1.5rem; color: #1d232b; background: #f7f8fa; }
  header { display: flex; align-items: center; gap: 1rem; flex-wrap: wrap; margin-bottom: .75rem; }
  h1 { font-size: 1.3rem; margin: 0; }
  h2 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
  table { border-collapse: collapse; background: #fff; }
  th, td { border: 1px solid var(--line); padding: .3rem .55rem; text-align: left; font-variant-numeric: tabular-nums; vertical-align: middle; }
  th { background: #eef1f4; font-weight: 600; }
  /* a figure and its unit on one line: "< 0.0001 %" wrapped before its % sign */
  td.num { text-align: right; white-space: nowrap; }
  .badge { display: inline-block; padding: .15rem .55rem; border-radius: .8rem; color: #fff; font-weight: 600; }
  .badge.up { background: var(--up); } .badge.down { background: var(--down); }
  .up { color: var(--up); font-weight: 600; } .down { color: var(--down); font-weight: 600; } .warn { color: var(--warn); font-weight: 600; }
  .badge.up, .badge.down { color: #fff; }
  tr.halted td { background: #fdecea; }
  .tiles { display: flex; gap: .6rem; flex-wrap: wrap; }
  .tile { background: #fff; border: 1px solid var(--line); border-left: 6px solid var(--up); padding: .45rem .7rem; min-width: 9rem; }
  .tile.down { border-left-color: var(--down); }
  .tile .name { font-weight: 600; } .tile .why { color: var(--muted); font-size: 12px; max-width: 22rem; }
  .callout { background: #fdecea; border: 1px solid #f2b8b5; padding: .5rem .75rem; }
  .callout.none { background: #e6f4ea; border-color: #a8dab5; }
  /* before the token nothing is known about the keys: neither green (all well) nor red */
  .callout.neutral { background: #eef1f4; border-color: var(--line); color: var(--muted); }
  svg.spark text { font-size: 9px; fill: var(--muted); }
  #status { color: var(--muted); } .muted { color: var(--muted); }
  svg.spark { display: block; }
  .grid { display: flex; gap: 2rem; flex-wrap: wrap; align-items: flex-start; }
</style>
</head>
<body>
<header>
  <h1>id-allocator</h1>
  <span id="ready" class="badge">?</span>
  <form id="login">
    <label>Admin token <input id="token" type="password" autocomplete="off" size="28"></label>
    <button type="submit">Show</button>
  </form>
  <span id="status"></span>
</header>

<h2>Readiness per strategy</h2>
<div id="strategies" class="tiles"></div>

<h2>Halted keys</h2>
<div id="halted" class="callout neutral">unknown: enter the admin token to see the keys</div>

<h2>Segment keys <span class="muted" id="window"></span></h2>
<p class="muted">The 50 busiest keys here (halted keys first), then others in key order; search for any key by its start.
  <label>Search <input id="search" type="search" placeholder="key prefix" size="24" autocomplete="off"></label></p>
<table id="keys">
  <thead><tr><th>key</th><th>ids/s (last minute)</th><th>ids/s over the last minutes</th><th>ids buffered here</th><th>buffer lasts</th>
  <th>% of the id space used</th><th>step stored / in use</th><th>current range</th><th>status</th></tr></thead>
  <tbody><tr><td colspan="9" class="muted" data-field="before-token">enter the admin token above to see the keys</td></tr></tbody>
</table>

<h2>Other strategies</h2>
<table id="others"><thead><tr><th>strategy</th><th>ids/s (last minute)</th><th>ids/s over the last minutes</th></tr></thead><tbody><tr><td colspan="3" class="muted" data-field="before-token">enter the admin token above to see the rates</td></tr></tbody></table>

<div class="grid">
<section>
  <h2>Errors per second, by code</h2>
  <table id="errors"><thead><tr><th>code</th><th>errors/s (last minute)</th><th>errors/s over the last minutes</th></tr></thead><tbody><tr><td colspan="3" class="muted" data-field="before-token">enter the admin token above to see the errors</td></tr></tbody></table>
</section>
<section>
  <h2>Request latency of the id routes</h2>
  <table id="latency"><thead><tr><th>percentile</th><th>last interval</th><th>over the last minutes</th></tr></thead><tbody><tr><td colspan="3" class="muted" data-field="before-token">enter the admin token above to see the latency</td></tr></tbody></table>
</section>
</div>

<div class="grid">
<section>
  <h2>Snowflake</h2>
  <table id="snowflake"><tbody></tbody></table>
</section>
<section>
  <h2>Partitions (go-id-alloc)</h2>
  <table id="partition-summary"><tbody></tbody></table>
  <table id="partitions" style="margin-top:.5rem"><thead><tr><th>partition</th><th>status</th><th>why</th></tr></thead><tbody></tbody></table>
</section>
</div>

<script>
(function () {
  var MAX_ID = BigInt('9223372036854775807');
  var tokenInput = document.getElementById('token');
  tokenInput.value = sessionStorage.getItem('idallocToken') || '';
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { if (attrs[k] != null) e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function cell(field, text, cls) { return el('td', { 'data-field': field, 'class': cls }, [text == null ? '' : String(text)]); }
  function fill(id, rows) { var body = document.querySelector('#' + id + ' tbody'); body.replaceChildren.apply(body, rows); }
  function num(n) { return n == null ? '-' : Number(n).toLocaleString('en-US', { maximumFractionDigits: 2 }); }
  function duration(seconds) {
    if (seconds == null || !isFinite(seconds)) return 'never at this rate';
    var units = [['years', 31557600], ['days', 86400], ['h', 3600], ['min', 60], ['s', 1]];
    for (var i = 0; i < units.length; i++) if (seconds >= units[i][1]) return num(Math.round(seconds / units[i][1] * 10) / 10) + ' ' + units[i][0];
    return '< 1 s';
  }
  function svgEl(tag, attrs, text) {
    var e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text != null) e.textContent = text;
    return e;
  }
  /**
   * One bar per sample, newest at the right; the chart fills as the history grows. Axes: the
   * y axis from 0 to the largest sample (labelled with it and the unit), the x axis from the
   * window's start to now (labelled), so a bar reads as a figure, not only a shape.
   */
  function spark(values, slots, unit, windowSeconds) {
    var w = 260, h = 48, left = 1, top = 12, bottom = 36, plot = bottom - top;
    var max = Math.max.apply(null, [0].concat(values.map(function (v) { return v || 0; })));
    var bar = (w - left) / Math.max(slots, values.length, 1);
    var svg = svgEl('svg', { 'class': 'spark', width: w, height: h, 'data-points': String(values.length), 'data-y-max': String(max) });
    svg.appendChild(svgEl('text', { x: left + 2, y: 9, 'data-axis': 'y-max' }, num(max) + ' ' + unit));
    svg.appendChild(svgEl('line', { x1: left, x2: left, y1: top, y2: bottom, stroke: '#aab2bd' }));
    svg.appendChild(svgEl('line', { x1: left, x2: w, y1: bottom + 0.5, y2: bottom + 0.5, stroke: '#aab2bd' }));
    svg.appendChild(svgEl('text', { x: left, y: h - 2, 'data-axis': 'x-start' }, '-' + Math.round(windowSeconds / 60) + ' min'));
    svg.appendChild(svgEl('text', { x: w, y: h - 2, 'text-anchor': 'end', 'data-axis': 'x-end' }, 'now'));
    values.forEach(function (v, i) {
      var bh = v > 0 ? Math.max(1, (v / (max || 1)) * plot) : 0;
      var r = svgEl('rect', { x: (w - (values.length - i) * bar).toFixed(2), width: Math.max(1, bar - 0.5).toFixed(2),
        y: (bottom - bh).toFixed(2), height: bh.toFixed(2), fill: '#1a73e8' });
      r.appendChild(svgEl('title', {}, v == null ? 'no requests' : num(v) + ' ' + unit));
      svg.appendChild(r);
    });
    var td = el('td', { 'data-field': 'spark' }); td.appendChild(svg); return td;
  }
  /** share of the 2^63 id space below max_id, in percent with four decimals, exact (BigInt) */
  function spaceUsed(maxId) {
    var ppm = BigInt(maxId) * BigInt(1000000) / MAX_ID; // in units of 0.0001 %
    if (ppm === BigInt(0)) return BigInt(maxId) > BigInt(1) ? '< 0.0001 %' : '0 %';
    var s = ppm.toString().padStart(5, '0');
    return Number(s.slice(0, -4)).toLocaleString('en-US') + '.' + s.slice(-4) + ' %';
  }
  /** the same for a share given as a fraction (the partitions' 2^53 space), written the same way */
  function fractionUsed(f) {
    var pct = f * 100;
    if (pct === 0) return '0 %';
    return pct < 0.0001 ? '< 0.0001 %' : pct.toLocaleString('en-US', { minimumFractionDigits: 4, maximumFractionDigits: 4 }) + ' %';
  }
  function range(r) { return r ? '[' + r.start + ', ' + r.end + ')' : '-'; }
  function kv(rows) { return rows.map(function (r) { return el('tr', { 'data-row': r[0] }, [el('th', {}, [r[1]]), cell(r[0], r[2], r[3])]); }); }

  function showReadiness(h) {
    var ready = $('ready');
    ready.textContent = h.status === 'ok' ? 'ready' : 'NOT READY';
    ready.className = 'badge ' + (h.status === 'ok' ? 'up' : 'down');
    var details = h.details || {};
    $('strategies').replaceChildren.apply($('strategies'), Object.keys(details).map(function (name) {
      var d = details[name];
      var why = d.reason || (d.database && d.database.status === 'down' ? 'database: ' + (d.database.message || 'down') : '') || d.warning || '';
      return el('div', { 'class': 'tile ' + d.status, 'data-strategy': name }, [
        el('div', { 'class': 'name' }, [name]),
        el('div', { 'data-field': 'status', 'class': d.status }, [d.status]),
        el('div', { 'class': 'why', 'data-field': 'why' }, [why])]);
    }));
    var s = details.snowflake;
    fill('snowflake', s ? kv([
      ['workerId', 'worker id', s.workerId + ' (' + s.workerIdMode + ')'],
      ['lease', 'lease', s.lease.held ? (s.lease.fresh ? 'held, fresh' : 'held, NOT fresh') : 'not held', s.lease.held && s.lease.fresh ? 'up' : 'down'],
      ['reservedUntil', 'reserved until', s.lease.reservedUntil ? s.lease.reservedUntil + ' (' + duration((Date.parse(s.lease.reservedUntil) - Date.now()) / 1000) + ' ahead)' : '-'],
      ['lastRenew', 'last renewal', s.lease.lastRenewMsAgo != null ? num(s.lease.lastRenewMsAgo) + ' ms ago' : '-'],
      ['clockOffset', 'clock offset to the database', s.lease.clockOffsetMs != null ? num(s.lease.clockOffsetMs) + ' ms' : '-'],
      ['clockBehind', 'clock behind the last id', num(s.clockBehindMs) + ' ms', s.clockBehindMs > 0 ? 'down' : ''],
      ['layout', 'layout', s.layout + ' bits from ' + s.epoch],
      ['endOfLife', 'layout end of life', s.lastValidDate.slice(0, 10) + ' (' + s.yearsLeft + ' years left)', s.yearsLeft < 1 ? 'warn' : ''],
    ].concat(s.reason ? [['reason', 'not ready because', s.reason, 'down']] : [])) : [el('tr', {}, [el('td', {}, ['snowflake is not running here'])])]);
    var p = details.partition;
    fill('partition-summary', p ? kv([
      ['total', 'partitions (TotalPartition)', p.total],
      ['preferred', 'preferred here', p.preferred],
      ['segmentSize', 'segment size', num(p.segmentSize)],
      ['idsLeft', 'ids left here', num(p.idsLeft)],
      ['spaceUsed', '% of the id space used (2^53)', fractionUsed(p.spaceUsed), p.warning ? 'warn' : ''],
    ]) : []);
    fill('partitions', p ? Object.keys(p.partitions).map(function (idx) {
      var part = p.partitions[idx];
      return el('tr', { 'data-partition': idx }, [cell('idx', idx), cell('status', part.status, part.status), cell('why', part.reason || '')]);
    }) : []);
  }

  function showKeys(segments, rates) {
    var byKey = {};
    rates.series.forEach(function (s) { byKey[s.strategy + '/' + s.key] = s; });
    $('window').textContent = '(rates sampled every ' + rates.intervalSeconds + ' s, last ' + Math.round(rates.windowSeconds / 60) + ' minutes)';
    var halted = [], slots = Math.round(rates.windowSeconds / rates.intervalSeconds);
    fill('keys', segments.map(function (k) {
      var b = k.buffer, r = byKey['segment/' + k.key];
      var rate = r ? r.lastMinute : 0;
      var status = !b ? 'not in use here' : b.reason ? 'halted: ' + b.reason : 'up';
      if (b && b.reason) halted.push(k.key + ': ' + b.reason + (k.requiredSkipTarget ? ' (skip to at least ' + k.requiredSkipTarget + ')' : ''));
      return el('tr', { 'data-key': k.key, 'class': b && b.reason ? 'halted' : '' }, [
        cell('key', k.key + (k.public ? ' (public)' : '')),
        cell('rate', num(rate), 'num'),
        spark(r ? r.perSecond : [], slots, 'ids/s', rates.windowSeconds),
        cell('idsLeft', b ? num(b.idsLeft) : '-', 'num'),
        cell('bufferLasts', !b ? '-' : b.reason ? 'halted' : rate > 0 ? duration(b.idsLeft / rate) : 'never at this rate'),
        cell('spaceUsed', spaceUsed(k.maxId), 'num'),
        cell('step', k.step + ' / ' + (b ? b.stepInUse : '-'), 'num'),
        cell('range', b ? range(b.current) : '-'),
        cell('status', status, !b ? 'muted' : b.reason ? 'down' : 'up')]);
    }));
    var callout = $('halted');
    callout.className = 'callout' + (halted.length ? '' : ' none');
    callout.replaceChildren.apply(callout, halted.length ? halted.map(function (h) { return el('div', { 'data-field': 'halted' }, [h]); }) : [document.createTextNode('none')]);
    fill('others', rates.series.filter(function (s) { return s.strategy !== 'segment'; }).map(function (s) {
      return el('tr', { 'data-strategy': s.strategy }, [cell('strategy', s.strategy), cell('rate', num(s.lastMinute), 'num'), spark(s.perSecond, slots, 'ids/s', rates.windowSeconds)]);
    }));
    fill('errors', rates.errors.length ? rates.errors.map(function (e) {
      return el('tr', { 'data-code': e.code }, [cell('code', e.code), cell('rate', num(e.lastMinute), 'num'), spark(e.perSecond, slots, 'errors/s', rates.windowSeconds)]);
    }) : [el('tr', {}, [el('td', { colspan: '3', 'data-field': 'none' }, ['no error answers in the last ' + Math.round(rates.windowSeconds / 60) + ' minutes'])])]);
    fill('latency', [['p50', 'p50'], ['p99', 'p99'], ['p999', 'p99.9']].map(function (q) {
      var series = rates.latency[q[0]], last = series.length ? series[series.length - 1] : null;
      return el('tr', { 'data-percentile': q[1] }, [cell('name', q[1]), cell('last', last == null ? 'no requests' : num(last) + ' ms', 'num'), spark(series, slots, 'ms', rates.windowSeconds)]);
    }));
  }

  function admin(path, token) {
    return fetch(path, { headers: { authorization: 'Bearer ' + token } }).then(function (r) {
      return r.json().then(function (body) { if (!r.ok) throw new Error(body.code + ': ' + body.message); return body; });
    });
  }
  function refresh() {
    var token = tokenInput.value;
    fetch('/health/ready').then(function (r) { return r.json(); }).then(showReadiness)
      .catch(function (e) { $('status').textContent = 'readiness: ' + e; });
    if (!token) { $('status').textContent = 'enter the admin token to see the keys, errors and latency'; return; }
    // at most 100 rows whatever the number of keys: the busiest, then the first in key order
    var q = $('search').value.trim();
    var lists = q ? [admin('/admin/segments?limit=50&q=' + encodeURIComponent(q), token)]
      : [admin('/admin/segments?sort=rate&limit=50', token), admin('/admin/segments?limit=50', token)];
    Promise.all([admin('/admin/rates', token)].concat(lists)).then(function (res) {
      var seen = {}, segments = [];
      res.slice(1).forEach(function (page) {
        page.segments.forEach(function (k) { if (!seen[k.key]) { seen[k.key] = true; segments.push(k); } });
      });
      showKeys(segments, res[0]);
      $('status').textContent = 'updated ' + new Date().toLocaleTimeString();
    }).catch(function (e) { $('status').textContent = e.message; });
  }
  $('login').addEventListener('submit', function (e) {
    e.preventDefault();
    sessionStorage.setItem('idallocToken', tokenInput.value);
    refresh();
  });
  $('search').addEventListener('input', refresh);
  refresh();
  setInterval(refresh, 2000);
})();
</script>
</body>
</html>
`;
