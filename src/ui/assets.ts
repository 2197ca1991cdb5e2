/**
 * The status page's style sheet and script, served as `app.css` and `app.js` (same origin,
 * so the page's Content-Security-Policy allows no inline code). The page works without the
 * script; with it, countdowns move and the live part is swapped in from the event stream.
 * @module
 */

/** `app.css`: phone first (one column under 26rem), light and dark. */
export const STYLE = `:root{--bg:#f6f8fa;--card:#fff;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--ok:#1a7f37;
--error:#cf222e;--timeout:#bc4c00;--lost:#8250df;--aborted:#6e7781;--skipped:#9a6700;--accent:#0969da;
--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#151b23;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;
--ok:#3fb950;--error:#f85149;--timeout:#db6d28;--lost:#a371f7;--aborted:#9198a1;--skipped:#d29922;--accent:#4493f8}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;background:var(--bg);
color:var(--fg)}
a{color:var(--accent)}
.top{display:flex;align-items:center;justify-content:space-between;gap:.5rem;padding:.6rem 1rem;
border-bottom:1px solid var(--line);background:var(--card);position:sticky;top:0;z-index:1}
.top h1{font-size:1.05rem;margin:0}
.live{font-size:.75rem;padding:.05rem .55rem;border-radius:999px;border:1px solid var(--line);color:var(--muted);
white-space:nowrap}
.live.on{color:var(--ok);border-color:var(--ok)}
.live.on::before{content:"\\25CF  "}
main,.foot,#controls{max-width:76rem;margin:0 auto;padding:0 1rem}
.meta{color:var(--muted);margin:.7rem 0}
.meta b{color:var(--fg)}
.alert{border-left:4px solid var(--error);background:var(--card);padding:.5rem .75rem;border-radius:4px}
.answer{border-left:4px solid var(--ok);background:var(--card);padding:.5rem .75rem;border-radius:4px}
h2{font-size:.75rem;text-transform:uppercase;letter-spacing:.07em;color:var(--muted);margin:1.1rem 0 .5rem}
.cards{display:grid;gap:.75rem;grid-template-columns:repeat(auto-fill,minmax(min(100%,26rem),1fr))}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.7rem .9rem;min-width:0}
.card-head{display:flex;align-items:center;justify-content:space-between;gap:.5rem}
.key{margin:0;font-size:1rem;font-family:var(--mono);overflow-wrap:anywhere}
.badge{display:inline-block;font-size:.72rem;font-weight:600;padding:0 .45rem;border-radius:999px;
border:1px solid currentColor;line-height:1.45;white-space:nowrap;font-family:system-ui,sans-serif}
.badge.ok{color:var(--ok)}.badge.error{color:var(--error)}.badge.timeout{color:var(--timeout)}
.badge.lost{color:var(--lost)}.badge.aborted,.badge.free,.badge.kind{color:var(--muted)}
.badge.skipped,.badge.paused{color:var(--skipped)}.badge.running,.badge.held{color:var(--accent)}
.badges{display:flex;gap:.3rem}
.op{color:var(--accent);font-size:.86em}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem .8rem;margin:.55rem 0;font-size:.9rem}
.fact{display:contents}
dt{color:var(--muted)}
dd{margin:0;min-width:0;overflow-wrap:anywhere}
.mono,.token,.countdown,.ago,time{font-family:var(--mono);font-size:.86em}
.countdown,.ago{font-variant-numeric:tabular-nums}
.token{color:var(--muted)}
.none{color:var(--muted)}
.bad{color:var(--error)}
.timeline{display:flex;flex-wrap:wrap;gap:3px;list-style:none;padding:0;margin:.45rem 0}
.cell{width:1.4rem;height:1.4rem;border-radius:3px;display:grid;place-items:center;font-size:.7rem;font-weight:700;
color:#fff;background:var(--aborted)}
.cell.ok{background:var(--ok)}.cell.error{background:var(--error)}.cell.timeout{background:var(--timeout)}
.cell.lost{background:var(--lost)}
.cell.skipped{background:repeating-linear-gradient(135deg,transparent 0 3px,var(--skipped) 3px 5px);
color:var(--skipped);border:1px solid var(--skipped)}
.runs{list-style:none;padding:0;margin:.2rem 0 0;font-size:.85rem}
.run{display:flex;flex-wrap:wrap;align-items:baseline;gap:.1rem .6rem;padding:.3rem 0;border-top:1px solid var(--line)}
.dur{color:var(--muted);font-family:var(--mono);font-size:.86em}
.run .reason{flex-basis:100%;color:var(--muted)}
.run[data-outcome=error] .reason,.run[data-outcome=timeout] .reason,.run[data-outcome=lost] .reason{color:var(--error)}
.more summary{cursor:pointer;color:var(--muted);font-size:.85rem;padding:.25rem 0}
.legend,.own{list-style:none;padding:0;margin:0 0 .6rem;display:flex;flex-wrap:wrap;gap:.35rem 1.1rem;font-size:.85rem}
.own{display:grid;gap:.3rem}
.own .rkey{color:var(--muted)}
.hn{display:inline-grid;place-items:center;width:1.25rem;height:1.25rem;border-radius:3px;background:var(--fg);
color:var(--bg);font-size:.7rem;font-weight:700}
.empty{color:var(--muted)}
.foot{color:var(--muted);font-size:.8rem;padding-top:1.5rem;padding-bottom:1.5rem}
.controls{display:grid;gap:.5rem;grid-template-columns:repeat(auto-fill,minmax(12rem,1fr));background:var(--card);
border:1px solid var(--line);border-radius:8px;padding:.75rem;align-items:end}
.controls label{display:grid;gap:.15rem;font-size:.8rem;color:var(--muted)}
input,select,button{font:inherit;padding:.3rem .45rem;border:1px solid var(--line);border-radius:6px;
background:var(--bg);color:var(--fg)}
button{background:var(--accent);border-color:var(--accent);color:#fff;cursor:pointer}
#control-answer{grid-column:1/-1}
#control-answer:empty{display:none}
@media (max-width:30rem){body{font-size:14px}main,.foot,#controls{padding:0 .6rem}.card{padding:.6rem .7rem}}
`;

/**
 * `app.js`: moves countdowns and "ago" figures every 200 ms, swaps in the live part from
 * the event stream (keeping open folds open), and sends the controls form with fetch.
 * The time texts follow the same rules as html.ts (clockText, agoText).
 */
export const SCRIPT = `'use strict';
(function () {
  var main = document.getElementById('status');
  var live = document.getElementById('live');
  var base = 0;
  function since() {
    var snapshot = document.getElementById('snapshot');
    base = performance.now() - Number(snapshot ? snapshot.getAttribute('data-age-ms') : 0);
  }
  function duration(ms) {
    ms = Math.round(ms);
    if (ms < 1000) return ms + 'ms';
    if (ms < 60000) return (ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1) + 's';
    var h = Math.floor(ms / 3600000), m = Math.floor((ms % 3600000) / 60000), s = Math.round((ms % 60000) / 1000);
    return (h ? h + 'h' : '') + (m ? m + 'm' : '') + (s ? s + 's' : '') || '0s';
  }
  function clock(ms) {
    return ms < 10000 ? (Math.ceil(ms / 100) / 10).toFixed(1) + 's' : duration(Math.ceil(ms / 1000) * 1000);
  }
  function ago(ms) {
    var whole = Math.max(0, Math.floor(ms / 1000)) * 1000;
    return whole === 0 ? '0s' : duration(whole);
  }
  function tick() {
    var elapsed = performance.now() - base;
    document.querySelectorAll('.countdown').forEach(function (el) {
      var left = Number(el.getAttribute('data-ms')) - elapsed;
      el.textContent = left > 0 ? (el.getAttribute('data-prefix') || '') + clock(left) : el.getAttribute('data-zero');
    });
    document.querySelectorAll('.ago').forEach(function (el) {
      el.textContent = ago(Number(el.getAttribute('data-ago-ms')) + elapsed);
    });
  }
  function state(text, on) {
    live.textContent = text;
    live.className = on ? 'live on' : 'live off';
  }
  function swap(html) {
    var open = [];
    main.querySelectorAll('details[open]').forEach(function (d) { open.push(d.getAttribute('data-id')); });
    main.innerHTML = html;
    main.querySelectorAll('details').forEach(function (d) {
      if (open.indexOf(d.getAttribute('data-id')) >= 0) d.open = true;
    });
    since();
    tick();
  }
  since();
  tick();
  setInterval(tick, 200);
  if (window.EventSource) {
    var events = new EventSource('events');
    events.addEventListener('page', function (e) { swap(e.data); state('live', true); });
    events.onerror = function () { state('reconnecting…', false); };
  }
  var form = document.querySelector('form.controls');
  if (form && window.fetch) {
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var out = document.getElementById('control-answer');
      out.textContent = 'sending…';
      fetch(form.getAttribute('action'), {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(new FormData(form)).toString(),
      }).then(function (r) { return r.json(); }).then(function (a) {
        out.textContent = a.message;
        out.className = a.ok ? 'answer' : 'alert';
      }, function (err) { out.textContent = String(err); out.className = 'alert'; });
    });
  }
})();
`;
