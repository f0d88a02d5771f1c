/**
 * The dashboard page (Leaf's /cache page, done better): static HTML; the data comes from the
 * admin API with the token the visitor types in (kept in sessionStorage, never in the URL).
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>id-allocator dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d232b; background: #f7f8fa; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; }
  h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
  table { border-collapse: collapse; background: #fff; min-width: 60%; }
  th, td { border: 1px solid #d7dbe0; padding: .35rem .6rem; text-align: left; font-variant-numeric: tabular-nums; }
  th { background: #eef1f4; }
  .up { color: #137333; font-weight: 600; } .down { color: #b3261e; font-weight: 600; }
  #login { margin-bottom: 1rem; } #status { margin-left: 1rem; color: #5f6b7a; }
  code { background: #eef1f4; padding: 0 .25rem; }
</style>
</head>
<body>
<h1>id-allocator</h1>
<form id="login">
  <label>Admin token <input id="token" type="password" autocomplete="off" size="32"></label>
  <button type="submit">Show</button><span id="status"></span>
</form>
<section>
  <h2>Readiness: <span id="ready">?</span></h2>
  <table id="strategies"><thead><tr><th>strategy</th><th>status</th><th>detail</th></tr></thead><tbody></tbody></table>
</section>
<section>
  <h2>Segment keys</h2>
  <table id="keys"><thead><tr><th>key</th><th>max_id</th><th>step (stored / in use)</th><th>current range</th><th>next id</th><th>next segment</th><th>ids left here</th><th>status</th></tr></thead><tbody></tbody></table>
</section>
<section>
  <h2>Snowflake</h2>
  <table id="snowflake"><tbody></tbody></table>
</section>
<script>
(function () {
  var tokenInput = document.getElementById('token');
  tokenInput.value = sessionStorage.getItem('idallocToken') || '';
  function cell(text, cls) { var td = document.createElement('td'); td.textContent = text == null ? '' : String(text); if (cls) td.className = cls; return td; }
  function row(cells) { var tr = document.createElement('tr'); cells.forEach(function (c) { tr.appendChild(c); }); return tr; }
  function fill(id, rows) { var body = document.querySelector('#' + id + ' tbody'); body.replaceChildren.apply(body, rows); }
  function range(r) { return r ? '[' + r.start + ', ' + r.end + ')' : '-'; }
  function refresh() {
    var token = tokenInput.value;
    fetch('/health/ready').then(function (r) { return r.json(); }).then(function (h) {
      var ready = document.getElementById('ready');
      ready.textContent = h.status === 'ok' ? 'ready' : 'NOT READY';
      ready.className = h.status === 'ok' ? 'up' : 'down';
      var details = h.details || {};
      fill('strategies', Object.keys(details).map(function (name) {
        var d = details[name];
        var rest = Object.assign({}, d); delete rest.status;
        return row([cell(name), cell(d.status, d.status), cell(JSON.stringify(rest))]);
      }));
      var s = details.snowflake;
      fill('snowflake', s ? [
        row([cell('worker id'), cell(s.workerId)]),
        row([cell('lease'), cell(JSON.stringify(s.lease))]),
        row([cell('layout'), cell(s.layout + ' from ' + s.epoch)]),
        row([cell('layout end of life'), cell(s.lastValidDate + ' (' + s.yearsLeft + ' years left)')]),
      ] : [row([cell('snowflake is not running here')])]);
    }).catch(function (e) { document.getElementById('status').textContent = 'readiness: ' + e; });
    if (!token) { document.getElementById('status').textContent = 'enter the admin token to see the keys'; return; }
    fetch('/admin/segments', { headers: { authorization: 'Bearer ' + token } }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      if (!res.ok) { document.getElementById('status').textContent = res.body.code + ': ' + res.body.message; return; }
      document.getElementById('status').textContent = 'updated ' + new Date().toLocaleTimeString();
      fill('keys', res.body.segments.map(function (k) {
        var b = k.buffer;
        var status = !b ? 'not in use here' : b.reason ? 'down: ' + b.reason : 'up';
        return row([cell(k.key), cell(k.maxId), cell(k.step + ' / ' + (b ? b.stepInUse : '-')), cell(b ? range(b.current) : '-'),
          cell(b && b.current ? b.current.next : '-'), cell(b ? range(b.nextSegment) : '-'), cell(b ? b.idsLeft : 0),
          cell(status, !b ? '' : b.reason ? 'down' : 'up')]);
      }));
    }).catch(function (e) { document.getElementById('status').textContent = String(e); });
  }
  document.getElementById('login').addEventListener('submit', function (e) {
    e.preventDefault();
    sessionStorage.setItem('idallocToken', tokenInput.value);
    refresh();
  });
  refresh();
  setInterval(refresh, 2000);
})();
</script>
</body>
</html>
`;
