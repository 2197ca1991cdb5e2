/**
 * The status page's HTML, rendered on the server: the whole page for the first paint (so
 * it works with JavaScript off) and the live part alone for each update the page's script
 * receives. One renderer for both, so the page never shows two versions of the truth.
 * Layout and the meaning of each part: docs/operating.md, "The status page".
 * @module
 */
import type { KeyStatus, ReservedStatus, StatusDocument } from '../cli/admin.js';
import { describeSchedule, isJobSummary as isJob, type RunSummary } from '../cli/state.js';
import { formatDuration } from '../duration.js';
import { CONTROL_ACTIONS } from './controls.js';
import { ago, countdown, esc, timeTag } from './html.js';

/** What one render shows: the last good read, the latest error, and how old the read is. */
export interface View {
  /** The last document read; undefined until a read succeeded. */
  readonly doc: StatusDocument | undefined;
  /** The latest read's error (one line, without credentials), when it failed. */
  readonly error: string | undefined;
  /** How long ago `doc` was read, ms. */
  readonly ageMs: number;
}

/** How the page is served. */
export interface PageOptions {
  /** Show the operator controls form (the server checks the secret on every request). */
  readonly controls: boolean;
  /** The page's title. */
  readonly title: string;
}

/** Runs listed per job before the rest fold away ("N older"). */
const RUNS_SHOWN = 5;

/** The whole page: head, header, the live part, the controls form when enabled, the footer. */
export function renderPage(view: View, options: PageOptions): string {
  const title = esc(options.title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title}</title>
<link rel="stylesheet" href="app.css">
<script src="app.js" defer></script>
</head>
<body>
<header class="top"><h1>${title}</h1><span id="live" class="live off" aria-live="polite">snapshot</span></header>
<main id="status">${renderLive(view)}</main>
${options.controls ? renderControlsForm(view.doc) : ''}
<footer class="foot">Times in UTC · <a href="status.json">status.json</a> · <a href="metrics">metrics</a> · ${
    options.controls ? 'controls enabled (secret required)' : 'read-only'
  }</footer>
</body>
</html>
`;
}

/** The live part of the page: what the script swaps in on each update. */
export function renderLive(view: View): string {
  const { doc } = view;
  const parts = [`<div id="snapshot" data-age-ms="${Math.round(view.ageMs)}"></div>`];
  parts.push(renderMeta(view));
  if (doc) {
    const hosts = hostNumbers(doc);
    const jobs = doc.keys.filter(isJob);
    const leases = doc.keys.filter((k) => !isJob(k));
    const now = Date.parse(doc.readAt);
    if (doc.keys.length === 0) parts.push('<p class="empty">No keys yet: a job shows here once it has run.</p>');
    if (jobs.length > 0) {
      const cards = jobs.map((k) => renderJob(k, hosts, now)).join('');
      parts.push(section('Jobs', cards, hosts.size > 0 ? renderLegend(hosts) : ''));
    }
    if (leases.length > 0) parts.push(section('Leases', leases.map((k) => renderLease(k)).join('')));
    if (doc.reserved.length > 0) parts.push(renderReserved(doc.reserved));
  }
  return parts.join('\n');
}

function renderMeta(view: View): string {
  const { doc, error } = view;
  const alert = error
    ? `<p class="alert" role="alert">Store unreachable: ${esc(error)}${
        doc ? ` — showing the read from ${ago(view.ageMs)} ago.` : ''
      }</p>`
    : '';
  if (!doc) return `<p class="meta">Reading the store…</p>${alert}`;
  const jobs = doc.keys.filter(isJob);
  const failing = jobs.filter((k) => k.lastOutcome && !['ok', 'skipped'].includes(k.lastOutcome)).length;
  const facts = [
    `<b>${esc(doc.store)}</b> store`,
    `read ${ago(view.ageMs)} ago`,
    plural(jobs.length, 'job'),
    plural(doc.keys.length - jobs.length, 'lease'),
  ];
  if (failing > 0) facts.push(`<span class="bad">${plural(failing, 'failing job')}</span>`);
  return `<p class="meta">${facts.join(' · ')}</p>${alert}`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function section(title: string, cards: string, intro = ''): string {
  const id = title.toLowerCase().replace(/\W+/g, '-');
  const heading = `<h2 id="h-${id}">${esc(title)}</h2>`;
  return `<section aria-labelledby="h-${id}">${heading}${intro}<div class="cards">${cards}</div></section>`;
}

/**
 * Every holder the page names gets a number, so a timeline cell can say which host ran
 * it in one character; sorted by name, so numbers stay put between updates.
 */
function hostNumbers(doc: StatusDocument): Map<string, number> {
  const names = new Set<string>();
  for (const k of doc.keys) for (const run of k.recentRuns) if (run.outcome !== 'skipped') names.add(run.holder);
  return new Map([...names].sort().map((name, index) => [name, index + 1]));
}

/** Which holder each timeline number stands for. */
function renderLegend(hosts: Map<string, number>): string {
  const items = [...hosts].map(
    ([name, n]) => `<li><span class="hn">${n}</span> <span class="mono">${esc(name)}</span></li>`,
  );
  return `<ul class="legend" aria-label="hosts in the timelines">${items.join('')}</ul>`;
}

function renderJob(k: KeyStatus, hosts: Map<string, number>, now: number): string {
  const state = k.running ? '<span class="badge running">running</span>' : outcomeBadge(k.lastOutcome);
  const badges = k.control?.paused
    ? `<span class="badges"><span class="badge paused">paused</span>${state}</span>`
    : state;
  const facts = [holderFact(k)];
  if (k.schedule) facts.push(fact('Schedule', esc(describeSchedule(k.schedule)), 'schedule'));
  facts.push(fact('Last slot', lastSlotText(k, now), 'last-slot'));
  if (k.nextSlot) {
    const next = Date.parse(k.nextSlot) - now;
    facts.push(fact('Next slot', `${timeTag(k.nextSlot, now)} · ${countdown(next, 'due now', 'in ')}`, 'next-slot'));
  }
  if (k.running) facts.push(fact('Running', runningText(k, now), 'running'));
  if (k.control) facts.push(fact('Controls', controlText(k.control, now), 'control'));
  return `<article class="card job" data-key="${esc(k.key)}">
<div class="card-head"><h3 class="key">${esc(k.key)}</h3>${badges}</div>
<dl class="facts">${facts.join('')}</dl>
${renderTimeline(k.recentRuns, hosts)}${renderRuns(k, now)}${renderAudit(k, now)}</article>`;
}

/** Operator controls in force or waiting for the job's next holder, with who asked. */
function controlText(control: NonNullable<KeyStatus['control']>, now: number): string {
  const by = (asked: { by: string; at: string }) => `by <span class="mono">${esc(asked.by)}</span>`;
  const parts: string[] = [];
  if (control.paused) parts.push(`paused ${by(control.paused)} since ${timeTag(control.paused.at, now)}`);
  if (control.skipNext) parts.push(`the next slot will be skipped (${by(control.skipNext)})`);
  if (control.trigger) parts.push(`a triggered run is waiting (${by(control.trigger)})`);
  if (control.backfill) {
    const count = control.backfill.slots.length;
    parts.push(`a backfill of ${plural(count, 'slot')} is waiting (${by(control.backfill)})`);
  }
  return parts.join('<br>');
}

/** The operator controls asked for, newest first, folded: who, when, what, what it did. */
function renderAudit(k: KeyStatus, now: number): string {
  if (k.audit.length === 0) return '';
  const rows = k.audit.map((entry) => {
    const action = `<span class="badge kind">${esc(entry.action)}</span>`;
    const by = `<span class="by mono">${esc(entry.by)}</span>`;
    const detail = entry.detail ? `<span class="reason">${esc(entry.detail)}</span>` : '';
    return `<li class="audit-entry">${timeTag(entry.at, now)} ${action} ${by}${detail}</li>`;
  });
  const summary = `<summary>${plural(k.audit.length, 'operator control')}</summary>`;
  const list = `<ol class="runs">${rows.join('')}</ol>`;
  return `<details class="more audit" data-id="audit:${esc(k.key)}">${summary}${list}</details>`;
}

function renderLease(k: KeyStatus): string {
  const badge = k.held ? '<span class="badge held">held</span>' : '<span class="badge free">free</span>';
  const state = k.state === undefined ? '' : fact('State', `<code>${esc(JSON.stringify(k.state))}</code>`, 'state');
  return `<article class="card lease" data-key="${esc(k.key)}">
<div class="card-head"><h3 class="key">${esc(k.key)}</h3>${badge}</div>
<dl class="facts">${holderFact(k)}${state}</dl></article>`;
}

function fact(label: string, body: string, name: string): string {
  return `<div class="fact ${name}"><dt>${esc(label)}</dt><dd>${body}</dd></div>`;
}

function holderFact(k: KeyStatus): string {
  if (!k.held) {
    const last = k.token > 0 ? `free · last token ${k.token}` : 'free · never acquired';
    return fact('Holder', `<span class="holder none">${last}</span>`, 'holder');
  }
  const expiry = k.expiresInMs === null ? '' : ` · ${countdown(k.expiresInMs, 'expiring', 'expires in ')}`;
  const body = `<span class="holder mono">${esc(k.holder)}</span> <span class="token">token ${k.token}</span>${expiry}`;
  return fact('Holder', body, 'holder');
}

function lastSlotText(k: KeyStatus, now: number): string {
  if (!k.lastSlot) return '<span class="none">none yet</span>';
  const run = k.recentRuns.find((r) => r.slot === k.lastSlot);
  const parts = [timeTag(k.lastSlot, now), outcomeBadge(k.lastOutcome)];
  if (run && run.outcome !== 'skipped') {
    if (run.durationMs !== undefined) parts.push(`<span class="dur">${esc(formatDuration(run.durationMs))}</span>`);
    parts.push(`by <span class="mono">${esc(run.holder)}</span>`);
  }
  return parts.join(' ');
}

function runningText(k: KeyStatus, now: number): string {
  const running = k.running as NonNullable<KeyStatus['running']>;
  // A start record left while the key is free (or held by another) is a run cut short.
  const live = k.held && k.holder === running.holder;
  const since = now - Date.parse(running.start);
  const state = live
    ? `since ${Number.isFinite(since) ? ago(since) : '?'}`
    : '<span class="bad">unfinished: its holder stopped before recording the end</span>';
  return `slot ${timeTag(running.slot, now)} by <span class="mono">${esc(running.holder)}</span> ${state}`;
}

function outcomeBadge(outcome: string | null): string {
  return outcome ? `<span class="badge ${esc(outcome)}">${esc(outcome)}</span>` : '';
}

/** The recent slots as a strip of cells, oldest left: colour for the outcome, number for the host. */
function renderTimeline(runs: readonly RunSummary[], hosts: Map<string, number>): string {
  if (runs.length === 0) return '';
  const cells = [...runs].reverse().map((run) => {
    const host = run.outcome === 'skipped' ? '–' : String(hosts.get(run.holder) ?? '?');
    const label = [run.slot.slice(11, 19), run.outcome, ...runDetail(run)].join(' · ');
    return `<li class="cell ${esc(run.outcome)}" title="${esc(label)}" aria-label="${esc(label)}">${esc(host)}</li>`;
  });
  return `<ol class="timeline" aria-label="recent slots, oldest first">${cells.join('')}</ol>`;
}

function runDetail(run: RunSummary): string[] {
  if (run.outcome === 'skipped') return [run.error ?? 'skipped'];
  const out = [run.holder];
  if (run.operator) out.push(`${run.operator.action} by ${run.operator.by}`);
  if (run.durationMs !== undefined) out.push(formatDuration(run.durationMs));
  if (run.error) out.push(run.error);
  return out;
}

/** The newest runs as rows (time, outcome, duration, host, reason); older ones fold away. */
function renderRuns(k: KeyStatus, now: number): string {
  if (k.recentRuns.length === 0) return '';
  const rows = k.recentRuns.map((run) => renderRun(run, now));
  const shown = `<ol class="runs">${rows.slice(0, RUNS_SHOWN).join('')}</ol>`;
  if (rows.length <= RUNS_SHOWN) return shown;
  const more = rows.length - RUNS_SHOWN;
  return `${shown}<details class="more" data-id="${esc(k.key)}"><summary>${more} older</summary><ol class="runs">${rows
    .slice(RUNS_SHOWN)
    .join('')}</ol></details>`;
}

function renderRun(run: RunSummary, now: number): string {
  const skipped = run.outcome === 'skipped';
  const duration = !skipped && run.durationMs !== undefined ? formatDuration(run.durationMs) : '';
  const attempts = run.attempts > 1 ? ` · ${run.attempts} tries` : '';
  const parts = [
    timeTag(run.slot, now),
    outcomeBadge(run.outcome),
    `<span class="dur">${esc(duration)}${attempts}</span>`,
  ];
  if (!skipped) parts.push(`<span class="by mono">${esc(run.holder)}</span>`);
  if (run.operator) parts.push(`<span class="op">${esc(run.operator.action)} by ${esc(run.operator.by)}</span>`);
  if (run.error) parts.push(`<span class="reason">${esc(run.error)}</span>`);
  const data = `data-outcome="${esc(run.outcome)}" data-slot="${esc(run.slot)}"`;
  return `<li class="run" ${data}>${parts.join(' ')}</li>`;
}

/** Placement's hosts, waiters and other keys of leasehold's own, apart from the user's keys. */
function renderReserved(reserved: readonly ReservedStatus[]): string {
  // Free entries (slots of hosts that left, waiters gone, internal records) are counted, not listed.
  const rows = reserved
    .filter((r) => r.held)
    .map((r) => {
      const expiry = r.expiresInMs === null ? '' : ` · ${countdown(r.expiresInMs, 'expiring', 'expires in ')}`;
      const jobs = r.jobs === undefined ? '' : ` · ${plural(r.jobs, 'job')}`;
      const kind = `<span class="badge kind">${esc(r.kind)}</span>`;
      const who = `<span class="mono">${esc(r.holder)}</span>`;
      const key = `<span class="rkey mono">${esc(r.key)}</span>`;
      return `<li class="reserved ${esc(r.kind)}">${kind} ${who}${expiry}${jobs} ${key}</li>`;
    });
  const free = reserved.length - rows.length;
  if (free > 0)
    rows.push(`<li class="none">${free} free (hosts that left, waiters gone, records of leasehold's own)</li>`);
  const heading = '<h2 id="h-own">Hosts and waiters</h2>';
  return `<section aria-labelledby="h-own">${heading}<ul class="own">${rows.join('')}</ul></section>`;
}

/**
 * The operator controls, outside the live part (an update never wipes what is being
 * typed). Each request carries the secret; the server checks it (handler.ts).
 */
function renderControlsForm(doc: StatusDocument | undefined): string {
  const jobs = (doc?.keys ?? []).filter(isJob).map((k) => `<option value="${esc(k.key)}"></option>`);
  return `<section id="controls" aria-labelledby="h-controls"><h2 id="h-controls">Controls</h2>
<form method="post" action="controls" class="controls">
<label>Job <input name="key" list="job-keys" required autocomplete="off"></label>
<datalist id="job-keys">${jobs.join('')}</datalist>
<label>Action <select name="action">${CONTROL_ACTIONS.map((a) => `<option>${a}</option>`).join('')}</select></label>
<label>From <input name="from" placeholder="backfill: ISO time"></label>
<label>To <input name="to" placeholder="backfill: ISO time"></label>
<label>Your name <input name="by" required autocomplete="name"></label>
<label>Secret <input name="secret" type="password" required autocomplete="current-password"></label>
<button type="submit">Send</button>
<output id="control-answer" role="status"></output>
</form></section>`;
}
