/**
 * The dashboard's page, style and script, served as they are (no build step, no CDN; uPlot comes from the
 * installed `uplot` package). Kept in a .ts module so `npm run build` ships them in dist/ with the rest.
 * The script asks for the admin token when /api/stats answers 401 and keeps it in sessionStorage.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tollgate dashboard</title>
<link rel="stylesheet" href="dashboard/uPlot.min.css">
<link rel="stylesheet" href="dashboard/app.css">
</head>
<body>
<header>
  <h1>Tollgate</h1>
  <span id="status" class="muted">connecting…</span>
  <button id="logout" hidden>Log out</button>
</header>
<form id="login" hidden>
  <label for="token">Admin token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required>
  <button type="submit">Log in</button>
  <p id="login-error" class="error"></p>
  <p class="muted">The token is the config's <code>admin.token</code> (or <code>TOLLGATE_ADMIN_TOKEN</code>); it stays in this tab only (sessionStorage).</p>
</form>
<main id="main" hidden>
  <p class="muted note">Last hour, kept in memory by this instance: after a restart the hour starts over. Updated every 2 s; latencies are estimated from histogram buckets.</p>
  <section class="tiles">
    <div class="tile"><span class="label">Requests (last hour)</span><span class="value" id="total-requests">–</span></div>
    <div class="tile"><span class="label">Requests/s (last 10 s)</span><span class="value" id="rps">–</span></div>
    <div class="tile"><span class="label">p50 / p99</span><span class="value" id="latency">–</span></div>
    <div class="tile"><span class="label">Upstream p50 / p99</span><span class="value" id="upstream-latency">–</span></div>
    <div class="tile"><span class="label">Cache hit ratio</span><span class="value" id="hit-ratio">–</span></div>
    <div class="tile"><span class="label">Bytes saved / upstream calls saved</span><span class="value" id="saved">–</span></div>
    <div class="tile"><span class="label">Rate-limit rejections</span><span class="value" id="limited">–</span></div>
    <div class="tile"><span class="label">Upstream errors</span><span class="value" id="upstream-errors">–</span></div>
  </section>
  <section class="charts">
    <figure><figcaption>Requests per second, by status class</figcaption><div id="chart-rps"></div></figure>
    <figure><figcaption>Latency (ms): gateway and upstream, p50 and p99</figcaption><div id="chart-latency"></div></figure>
    <figure><figcaption>Cache hit ratio (%)</figcaption><div id="chart-cache"></div></figure>
    <figure><figcaption>Rate-limit rejections per second</figcaption><div id="chart-limited"></div></figure>
  </section>
  <section>
    <h2>Routes (last hour)</h2>
    <div class="scroll"><table id="routes"><thead><tr><th>Route</th><th>Requests</th><th></th><th>2xx</th><th>4xx</th><th>5xx</th><th>p50</th><th>p99</th><th>Upstream p99</th><th>429</th><th>Upstream quota left</th></tr></thead><tbody></tbody></table></div>
  </section>
  <section>
    <h2>Top applications (requests, last hour)</h2>
    <div id="apps" class="bars"><p class="muted">No identified application yet.</p></div>
  </section>
  <section id="plan-usage" hidden>
    <h2>Applications: usage against plan limits, requests per 10 s</h2>
    <div id="app-limits" class="cards"></div>
  </section>
</main>
<script src="dashboard/uPlot.iife.min.js"></script>
<script src="dashboard/app.js"></script>
</body>
</html>
`;

export const PAGE_CSS = `
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; padding: 0 12px 24px; color: #1d2430; background: #f6f7f9; }
header { display: flex; align-items: center; gap: 12px; padding: 10px 0; }
header h1 { font-size: 20px; margin: 0; }
#status { flex: 1; }
.muted { color: #667085; }
.error { color: #b42318; }
.note { margin: 4px 0 12px; }
form#login { max-width: 360px; margin: 40px auto; display: grid; gap: 8px; background: #fff; padding: 16px; border-radius: 8px; box-shadow: 0 1px 3px #0002; }
input, button { font: inherit; padding: 6px 10px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 8px; }
.tile { background: #fff; border-radius: 8px; padding: 10px; box-shadow: 0 1px 2px #0001; display: flex; flex-direction: column; }
.tile .label { color: #667085; font-size: 12px; }
.tile .value { font-size: 20px; font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 8px; margin-top: 12px; }
figure { margin: 0; background: #fff; border-radius: 8px; padding: 8px; box-shadow: 0 1px 2px #0001; min-width: 0; }
figcaption { font-weight: 600; margin-bottom: 4px; }
h2 { font-size: 16px; margin: 18px 0 6px; }
.scroll { overflow-x: auto; background: #fff; border-radius: 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: right; padding: 4px 8px; border-bottom: 1px solid #eaecf0; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
.bar { height: 10px; background: #2e90fa; border-radius: 3px; min-width: 2px; }
td.barcell { width: 30%; min-width: 60px; }
.bars .row { display: grid; grid-template-columns: minmax(80px, 30%) 1fr auto; gap: 8px; align-items: center; margin: 4px 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 8px; }
.card { background: #fff; border-radius: 8px; padding: 8px; box-shadow: 0 1px 2px #0001; min-width: 0; }
.card h3 { font-size: 14px; margin: 0 0 4px; overflow-wrap: anywhere; }
.limit { display: grid; grid-template-columns: minmax(90px, 35%) 1fr auto; gap: 8px; align-items: center; margin: 4px 0; }
.gauge { height: 10px; background: #eaecf0; border-radius: 3px; overflow: hidden; }
.gauge .fill { height: 100%; background: #12b76a; }
.limit.high .fill { background: #d92d20; }
.limit.high .used { color: #b42318; font-weight: 600; }
`;

// Plain ES2017 without template literals (this text sits in one).
export const PAGE_JS = `
(function () {
  'use strict';
  var KEY = 'tollgate.adminToken';
  var token = sessionStorage.getItem(KEY) || '';
  var since = 0;
  var HOUR = 3600;
  var names = ['t', 'rps', 'c2xx', 'c3xx', 'c4xx', 'c5xx', 'p50', 'p99', 'up50', 'up99', 'hitRatio', 'servedBytes', 'limited'];
  var data = {};
  names.forEach(function (n) { data[n] = []; });
  var charts = [];
  var appCharts = {};
  var timer;
  function $(id) { return document.getElementById(id); }
  function ms(s) { if (s === null || s === undefined) return '–'; var v = s * 1000; return (v < 10 ? v.toFixed(2) : v.toFixed(0)) + ' ms'; }
  function bytes(n) { var u = ['B', 'KB', 'MB', 'GB', 'TB']; var i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return (i ? n.toFixed(1) : String(n)) + ' ' + u[i]; }
  function num(n) { return Number(n).toLocaleString('en-US'); }
  function text(el, s) { el.textContent = s; }
  function showLogin(message) {
    clearTimeout(timer);
    $('main').hidden = true; $('logout').hidden = true; $('login').hidden = false;
    text($('login-error'), message || '');
    text($('status'), 'not logged in');
    $('token').focus();
  }
  $('login').addEventListener('submit', function (e) {
    e.preventDefault();
    token = $('token').value;
    sessionStorage.setItem(KEY, token);
    poll();
  });
  $('logout').addEventListener('click', function () { sessionStorage.removeItem(KEY); token = ''; showLogin(''); });

  function ms1000(a) { return a.map(function (v) { return v === null ? null : v * 1000; }); }
  function pct(a) { return a.map(function (v) { return v === null ? null : v * 100; }); }
  function width(el) { return Math.max(260, el.clientWidth); }
  function makeChart(id, series, values) {
    var el = $(id);
    var opts = { width: width(el), height: 180, series: [{}].concat(series), axes: [{}, { size: 50 }], legend: { show: true }, scales: { x: { time: true } } };
    var u = new uPlot(opts, values(), el);
    charts.push({ u: u, el: el, values: values });
  }
  function initCharts() {
    if (charts.length) return;
    makeChart('chart-rps', [
      { label: '2xx', stroke: '#12b76a' }, { label: '3xx', stroke: '#2e90fa' }, { label: '4xx', stroke: '#f79009' }, { label: '5xx', stroke: '#d92d20' },
    ], function () { return [data.t, data.c2xx, data.c3xx, data.c4xx, data.c5xx]; });
    makeChart('chart-latency', [
      { label: 'p50', stroke: '#2e90fa' }, { label: 'p99', stroke: '#1849a9' }, { label: 'upstream p50', stroke: '#12b76a' }, { label: 'upstream p99', stroke: '#05603a' },
    ], function () { return [data.t, ms1000(data.p50), ms1000(data.p99), ms1000(data.up50), ms1000(data.up99)]; });
    makeChart('chart-cache', [{ label: 'hit %', stroke: '#7a5af8' }], function () { return [data.t, pct(data.hitRatio)]; });
    makeChart('chart-limited', [{ label: '429/s', stroke: '#d92d20' }], function () { return [data.t, data.limited]; });
    window.addEventListener('resize', function () {
      charts.forEach(function (c) { c.u.setSize({ width: width(c.el), height: 180 }); });
      Object.keys(appCharts).forEach(function (id) { var c = appCharts[id]; c.u.setSize({ width: width(c.el), height: 110 }); });
    });
  }
  function append(s) {
    for (var i = 0; i < s.t.length; i++) names.forEach(function (n) { data[n].push(s[n][i]); });
    if (s.t.length) since = s.t[s.t.length - 1];
    var cut = 0;
    while (cut < data.t.length && data.t[cut] <= since - HOUR) cut++;
    if (cut) names.forEach(function (n) { data[n].splice(0, cut); });
  }
  function render(j) {
    var h = j.hour;
    text($('total-requests'), num(h.requests));
    var last = data.rps.slice(-10);
    text($('rps'), last.length ? (last.reduce(function (a, b) { return a + b; }, 0) / last.length).toFixed(1) : '0');
    text($('latency'), ms(h.p50) + ' / ' + ms(h.p99));
    text($('upstream-latency'), ms(h.upstreamP50) + ' / ' + ms(h.upstreamP99));
    text($('hit-ratio'), h.cache && h.cache.hitRatio !== null ? (h.cache.hitRatio * 100).toFixed(1) + ' %' : '–');
    text($('saved'), h.cache ? bytes(h.cache.servedBytes) + ' / ' + num(h.cache.upstreamCallsSaved) : '–');
    text($('limited'), num(h.rateLimited));
    text($('upstream-errors'), num(h.upstreamErrors));
    var max = j.routes.reduce(function (m, r) { return Math.max(m, r.requests); }, 1);
    var tb = $('routes').tBodies[0];
    tb.textContent = '';
    j.routes.forEach(function (r) {
      var tr = document.createElement('tr');
      tr.dataset.route = r.name;
      [r.name, num(r.requests), null, num(r.classes['2xx']), num(r.classes['4xx']), num(r.classes['5xx']), ms(r.p50), ms(r.p99), ms(r.upstreamP99), num(r.rateLimited), r.upstreamQuota ? num(r.upstreamQuota.remaining) : '–'].forEach(function (v) {
        var td = document.createElement('td');
        if (v === null) {
          td.className = 'barcell';
          var bar = document.createElement('div'); bar.className = 'bar'; bar.style.width = (100 * r.requests / max) + '%';
          td.appendChild(bar);
        } else td.textContent = v;
        tr.appendChild(td);
      });
      tb.appendChild(tr);
    });
    var apps = $('apps');
    if (j.applications.length) {
      apps.textContent = '';
      var amax = j.applications[0].requests || 1;
      j.applications.forEach(function (a) {
        var row = document.createElement('div'); row.className = 'row';
        var name = document.createElement('span'); name.textContent = a.id;
        var bar = document.createElement('div'); bar.className = 'bar'; bar.style.width = (100 * a.requests / amax) + '%';
        var n = document.createElement('span'); n.textContent = num(a.requests);
        row.appendChild(name); row.appendChild(bar); row.appendChild(n);
        apps.appendChild(row);
      });
    }
    renderPlanUsage(j);
    charts.forEach(function (c) { c.u.setData(c.values()); });
    text($('status'), 'live · updated ' + new Date(j.now).toLocaleTimeString() + ' · instance up since ' + new Date(j.startedAt).toLocaleTimeString());
  }
  // One card per listed application: its requests per 10 s (uPlot) and a bar per plan limit, red above 80 %.
  function renderPlanUsage(j) {
    var section = $('plan-usage');
    if (!j.planUsage) { section.hidden = true; return; }
    section.hidden = !j.applications.length;
    var box = $('app-limits');
    var usage = {};
    j.planUsage.forEach(function (p) { usage[p.id] = p; });
    var seen = {};
    j.applications.forEach(function (a) {
      seen[a.id] = true;
      var c = appCharts[a.id];
      if (!c) {
        var card = document.createElement('div'); card.className = 'card'; card.dataset.app = a.id;
        var h = document.createElement('h3'); card.appendChild(h);
        var lim = document.createElement('div'); lim.className = 'limits'; card.appendChild(lim);
        var el = document.createElement('div'); card.appendChild(el);
        box.appendChild(card);
        var opts = { width: width(el), height: 110, series: [{}, { label: 'requests / 10 s', stroke: '#2e90fa', fill: '#2e90fa22' }], axes: [{}, { size: 50 }], legend: { show: false }, scales: {
          // At least a minute wide (one 10-s slot alone would stretch the axis over years), counts from 0.
          x: { time: true, range: function (u, lo, hi) { return [Math.min(lo, hi - 60), hi + 10]; } },
          y: { range: function (u, lo, hi) { return [0, Math.max(1, hi)]; } },
        } };
        c = appCharts[a.id] = { card: card, h: h, lim: lim, el: el, u: new uPlot(opts, [j.applicationSlots, a.series], el) };
      } else c.u.setData([j.applicationSlots, a.series]);
      box.appendChild(c.card);
      var p = usage[a.id];
      text(c.h, a.id + (p && p.plan ? ' · plan ' + p.plan : '') + ' · ' + num(a.requests) + ' requests');
      c.lim.textContent = '';
      if (p && p.error) { var e = document.createElement('p'); e.className = 'error'; e.textContent = p.error; c.lim.appendChild(e); }
      (p ? p.limits : []).forEach(function (l) {
        var row = document.createElement('div'); row.className = 'limit'; row.dataset.limit = l.metric + '-' + l.period;
        var ratio = l.max > 0 ? l.current / l.max : 1;
        if (ratio > 0.8) row.className += ' high';
        var name = document.createElement('span'); name.textContent = l.metric + ' per ' + l.period;
        var gauge = document.createElement('div'); gauge.className = 'gauge';
        var fill = document.createElement('div'); fill.className = 'fill'; fill.style.width = Math.min(100, ratio * 100) + '%';
        gauge.appendChild(fill);
        var used = document.createElement('span'); used.className = 'used'; used.textContent = num(l.current) + ' / ' + num(l.max);
        row.appendChild(name); row.appendChild(gauge); row.appendChild(used);
        c.lim.appendChild(row);
      });
    });
    Object.keys(appCharts).forEach(function (id) {
      if (seen[id]) return;
      appCharts[id].u.destroy(); box.removeChild(appCharts[id].card); delete appCharts[id];
    });
  }
  function poll() {
    clearTimeout(timer);
    var headers = token ? { authorization: 'Bearer ' + token } : {};
    fetch('api/stats?since=' + since, { headers: headers, cache: 'no-store' }).then(function (r) {
      if (r.status === 401) { showLogin(token ? 'That token was refused.' : ''); return; }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json().then(function (j) {
        $('login').hidden = true; $('main').hidden = false; $('logout').hidden = !token;
        initCharts();
        append(j.series);
        render(j);
        timer = setTimeout(poll, 2000);
      });
    }).catch(function (e) {
      text($('status'), 'cannot reach the gateway (' + e.message + '); retrying');
      timer = setTimeout(poll, 2000);
    });
  }
  poll();
})();
`;
