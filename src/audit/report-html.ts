/**
 * The auditor's copy of an audit: one self-contained HTML file (`hem-forwarder audit --report FILE.html`).
 * Inline CSS and SVG only, no script and no external resource, so it opens offline, prints on A4 and can be
 * attached as evidence as it is. Pure: takes the report model, returns the markup.
 *
 * Every string in the report may come from a device or a cluster, so nothing is trusted: all markup is built
 * with the `html` template tag, which passes each interpolated value through `escapeHtml` unless it is markup
 * that `html` itself produced. Forgetting to escape is then impossible rather than merely unlikely.
 */
import { type AuditReport, type DeviceAudit, FINDING_KINDS, type Finding, type FindingKind } from './report.js';

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return String(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Markup known to be safe: only `html` and `trusted` (for this module's constants) make one. */
class Html {
  constructor(readonly markup: string) {}
}
type Part = Html | string | number | boolean | null | undefined | readonly Part[];

function partToString(part: Part): string {
  if (part instanceof Html) return part.markup;
  if (Array.isArray(part)) return part.map(partToString).join('');
  if (part === null || part === undefined || part === false || part === true) return '';
  return escapeHtml(String(part));
}

function html(strings: TemplateStringsArray, ...parts: Part[]): Html {
  let out = strings[0] ?? '';
  for (let i = 0; i < parts.length; i++) out += partToString(parts[i]) + (strings[i + 1] ?? '');
  return new Html(out);
}

/** For this module's own constants (the style sheet), never for report data. */
const trusted = (markup: string): Html => new Html(markup);

/** Human wording next to each kind's code; the Record type makes a new kind a compile error until it is worded. */
const KIND_LABEL: Record<FindingKind, string> = {
  digest_signature: 'Digest signature does not verify',
  chain_gap: 'Gap in the digest chain',
  chain_fork: 'Fork in the digest chain',
  truncated: 'Chain or log truncated',
  document_missing: 'Document missing from the cluster',
  document_altered: 'Document altered in the cluster',
  document_extra: 'Document not named by any digest',
  record_tag: 'Device record tag does not verify',
  unknown_key: 'Digest signed by an untrusted key',
};

const TRUST_LABEL: Record<string, string> = {
  pinned: 'pinned (given with --public-key)',
  state: "the forwarder's own key (read from its state directory)",
  rotation: 'named by a rotation digest signed by a trusted key',
};

/** Grouped thousands with a fixed separator: the report must read the same whatever the machine's locale. */
function int(n: number): string {
  return Number.isInteger(n) ? String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',') : String(n);
}

/** An ISO time that may wrap between date and time of day rather than anywhere in the middle. */
function breakableTime(at: string): Html {
  const t = at.indexOf('T');
  return t > 0 ? html`${at.slice(0, t)}<wbr>${at.slice(t)}` : html`${at}`;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${int(n)} ${n === 1 ? one : many}`;

// ---------------------------------------------------------------------------------------------------------------
// Days: the timeline works on integer UTC day numbers so that ranges, gaps and positions are plain arithmetic.

const DAY_MS = 86_400_000;

/** The UTC day number of a `YYYY-MM-DD` string, or null when it is not a real calendar day. */
function dayNumber(day: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return null;
  const ms = Date.parse(`${day}T00:00:00Z`);
  // The round trip rejects days such as 02-30, which Date.parse quietly rolls over into the next month.
  return Number.isNaN(ms) || dayString(ms / DAY_MS) !== day ? null : ms / DAY_MS;
}

function dayString(n: number): string {
  return new Date(n * DAY_MS).toISOString().slice(0, 10);
}

/** The UTC day number of an ISO 8601 time, or null when it does not parse. */
function dayOfTime(at: string): number | null {
  const ms = Date.parse(at);
  return Number.isNaN(ms) ? null : Math.floor(ms / DAY_MS);
}

/** 1, 2 or 5 times a power of ten, at least `raw`: axis steps a reader can add up. */
function niceStep(raw: number): number {
  if (raw <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
}

/** Coordinates with at most two decimals keep the SVG small for long ranges. */
const c = (n: number): string => String(Math.round(n * 100) / 100);

// ---------------------------------------------------------------------------------------------------------------
// Timeline chart

const W = 720;
const H = 220;
const M = { top: 20, right: 28, bottom: 34, left: 58 };
const PLOT_W = W - M.left - M.right;
const PLOT_H = H - M.top - M.bottom;
/** A date label is about 50 units wide at 9px: at most this many fit without touching. */
const MAX_X_LABELS = Math.floor(PLOT_W / 72);
/** Label steps in days that read naturally (a day, a week, a month, a quarter, a year...). */
const LABEL_STEPS = [1, 2, 3, 7, 14, 30, 61, 91, 182, 365, 730, 1461, 3652];

function findingLine(f: Finding): string {
  const where = [f.fileId ? `file ${f.fileId}` : '', f.documentId ? `document ${f.documentId}` : '']
    .filter(Boolean)
    .join(', ');
  return `${f.kind}: ${f.detail}${where ? ` (${where})` : ''}`;
}

function timeline(device: DeviceAudit, index: number): Html {
  const perDay = new Map<number, { records: number; files: number }>();
  for (const d of device.days) {
    const n = dayNumber(d.day);
    if (n === null) continue;
    const seen = perDay.get(n) ?? { records: 0, files: 0 };
    perDay.set(n, { records: seen.records + d.records, files: seen.files + d.files });
  }
  const timed = device.findings.filter((f) => f.at !== undefined);
  const label = `Records per day of collection for ${device.device}`;

  if (perDay.size === 0) {
    return html`<figure class="timeline">
<svg data-testid="chart-${index}" class="chart" viewBox="0 0 ${W} 60" role="img" aria-label="${label}: no records">
<rect x="0.5" y="0.5" width="${W - 1}" height="59" class="empty-frame"/>
<text x="${W / 2}" y="34" text-anchor="middle" class="empty-text">No records collected in the audited range</text>
</svg>
${timed.length > 0 ? html`<figcaption>${plural(timed.length, 'finding')} with a collection time not charted.</figcaption>` : ''}
</figure>`;
  }

  // Loops, not Math.min(...spread): a long history must not hit the engine's argument limit.
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  let maxRecords = 1;
  for (const [d, v] of perDay) {
    first = Math.min(first, d);
    last = Math.max(last, d);
    maxRecords = Math.max(maxRecords, v.records);
  }
  const n = last - first + 1;
  const slot = PLOT_W / n;
  const x = (i: number): number => M.left + i * slot;
  // Thin ranges become a continuous area rather than hairlines that vanish: each bar overlaps the next a little
  // so that anti-aliased edges do not leave light seams between neighbours.
  const barW = slot < 3 ? slot + 0.5 : Math.min(slot * 0.8, 28);
  const yStep = niceStep(maxRecords / 4);
  const yTop = Math.ceil(maxRecords / yStep) * yStep;
  const y = (v: number): number => M.top + PLOT_H - (v / yTop) * PLOT_H;

  const bars: Html[] = [];
  const gaps: Html[] = [];
  let gapDays = 0;
  for (let i = 0; i < n; i++) {
    const v = perDay.get(first + i);
    if (v && v.records > 0) {
      // At least one unit tall: a day with a handful of records among busy days must still show.
      const h = Math.max(1, (v.records / yTop) * PLOT_H);
      bars.push(
        html`<rect data-testid="bar" class="bar" x="${c(x(i) + (slot - barW) / 2)}" y="${c(M.top + PLOT_H - h)}" width="${c(barW)}" height="${c(h)}"><title>${dayString(first + i)}: ${plural(v.records, 'record')} in ${plural(v.files, 'file')}</title></rect>`,
      );
      continue;
    }
    // One marker per run of empty days, not per day: a long outage is one readable slot, not a hundred.
    let end = i;
    while (end + 1 < n && (perDay.get(first + end + 1)?.records ?? 0) <= 0) end++;
    const len = end - i + 1;
    gapDays += len;
    const range = len === 1 ? dayString(first + i) : `${dayString(first + i)} to ${dayString(first + end)}`;
    gaps.push(
      html`<rect data-testid="gap" class="gap" x="${c(x(i))}" y="${M.top}" width="${c(len * slot)}" height="${PLOT_H}" fill="url(#gap-hatch-${index})"><title>No records: ${range} (${plural(len, 'day')})</title></rect>`,
    );
    i = end;
  }

  const byDay = new Map<number, Finding[]>();
  let unplaced = device.findings.length - timed.length;
  for (const f of timed) {
    const d = dayOfTime(f.at!);
    if (d === null || d < first || d > last) {
      unplaced++;
      continue;
    }
    byDay.set(d, [...(byDay.get(d) ?? []), f]);
  }
  const markers = [...byDay].map(([d, fs]) => {
    const cx = x(d - first) + slot / 2;
    const evidence = fs.map((f) => `\n- ${findingLine(f)}`).join('');
    return html`<g data-testid="finding-marker" class="marker"><title>${dayString(d)}: ${plural(fs.length, 'finding')}${evidence}</title><line x1="${c(cx)}" y1="${M.top}" x2="${c(cx)}" y2="${M.top + PLOT_H}"/><path d="M${c(cx - 5)} ${M.top - 13}h10l-5 9z"/></g>`;
  });

  const yTicks: Html[] = [];
  for (let v = 0; v <= yTop; v += yStep) {
    yTicks.push(
      html`<line class="grid" x1="${M.left}" x2="${M.left + PLOT_W}" y1="${c(y(v))}" y2="${c(y(v))}"/><text data-testid="y-label" x="${M.left - 6}" y="${c(y(v) + 3)}" text-anchor="end">${int(v)}</text>`,
    );
  }

  // Label only as many days as fit, on a step that reads naturally; every day gets a tick while ticks stay apart.
  const labelStep = LABEL_STEPS.find((s) => Math.ceil(n / s) <= MAX_X_LABELS) ?? Math.ceil(n / MAX_X_LABELS);
  const xTicks: Html[] = [];
  const axisY = M.top + PLOT_H;
  for (let i = 0; i < n; i++) {
    const labelled = i % labelStep === 0;
    if (!labelled && slot < 6) continue;
    const tx = c(x(i) + slot / 2);
    xTicks.push(html`<line class="tick" x1="${tx}" x2="${tx}" y1="${axisY}" y2="${axisY + (labelled ? 5 : 3)}"/>`);
    if (labelled) {
      xTicks.push(
        html`<text data-testid="x-label" x="${tx}" y="${axisY + 16}" text-anchor="middle">${dayString(first + i)}</text>`,
      );
    }
  }

  const summary = `${dayString(first)} to ${dayString(last)}: ${plural(n, 'day')}, ${plural(gapDays, 'day')} without records`;
  return html`<figure class="timeline">
<svg data-testid="chart-${index}" class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${label}, ${summary}">
<defs><pattern id="gap-hatch-${index}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" class="hatch-bg"/><line x1="0" y1="0" x2="0" y2="6" class="hatch-line"/></pattern></defs>
<g class="axis">${yTicks}</g>
<g class="gaps">${gaps}</g>
<g class="bars">${bars}</g>
<g class="axis"><line x1="${M.left}" x2="${M.left + PLOT_W}" y1="${axisY}" y2="${axisY}"/>${xTicks}</g>
<g class="markers">${markers}</g>
<text class="axis-title" x="12" y="${M.top + PLOT_H / 2}" transform="rotate(-90 12 ${M.top + PLOT_H / 2})" text-anchor="middle">records / day</text>
</svg>
<figcaption>Records per UTC day of collection, ${summary}.${
    unplaced > 0
      ? ` ${plural(unplaced, 'finding')} of this device ${unplaced === 1 ? 'has' : 'have'} no day on this chart.`
      : ''
  }</figcaption>
</figure>`;
}

// ---------------------------------------------------------------------------------------------------------------
// Page sections

function header(report: AuditReport): Html {
  const keys =
    report.keys.length === 0
      ? html`<span class="muted">none</span>`
      : html`<ul class="keys">${report.keys.map(
          (k) =>
            html`<li data-testid="key"><code>${k.fingerprint}</code> <span class="muted">&mdash; ${TRUST_LABEL[k.trust] ?? k.trust}</span></li>`,
        )}</ul>`;
  return html`<header>
<h1>Audit trail custody report</h1>
<dl class="meta">
<dt>Tool</dt><dd data-testid="tool">${report.tool.name} ${report.tool.version}</dd>
<dt>Generated at</dt><dd data-testid="generated-at">${report.generatedAt}</dd>
<dt>Source</dt><dd data-testid="source"><code>${report.source}</code></dd>
<dt>Time range</dt><dd data-testid="range">${report.range.since ?? 'start of the records'} &ndash; ${report.range.until ?? 'time of the audit'}</dd>
<dt>Digest directory</dt><dd data-testid="digest-dir">${report.digestDir === null ? html`<span class="muted">none (--digest-dir not given)</span>` : html`<code>${report.digestDir}</code>`}</dd>
<dt>Forwarder keys</dt><dd data-testid="keys">${keys}</dd>
</dl>
</header>`;
}

function verdict(report: AuditReport, findings: readonly Finding[]): Html {
  const devices = report.devices;
  const records = devices.reduce((s, d) => s + d.records, 0);
  const scope = `${plural(devices.length, 'device')}, ${plural(records, 'record')}, ${plural(
    devices.reduce((s, d) => s + d.chain.digests, 0),
    'digest',
  )}`;
  // A report that says intact yet lists findings contradicts itself: the safe reading for an auditor is FINDINGS.
  if (report.intact && findings.length === 0) {
    return html`<section class="verdict intact" data-testid="verdict">
<p class="verdict-word">INTACT</p>
<p>No findings on any device (${scope}).</p>
</section>`;
  }
  const counts = FINDING_KINDS.map((k) => [k, findings.filter((f) => f.kind === k).length] as const).filter(
    ([, n]) => n > 0,
  );
  const affected = devices.filter((d) => d.findings.length > 0).length;
  return html`<section class="verdict findings" data-testid="verdict">
<p class="verdict-word">FINDINGS</p>
<p>${plural(findings.length, 'finding')} on ${int(affected)} of ${plural(devices.length, 'device')} (${scope}).</p>
${
  counts.length > 0
    ? html`<ul class="kind-counts">${counts.map(
        ([k, n]) =>
          html`<li data-testid="verdict-kind" data-kind="${k}"><span class="count">${int(n)}</span> <code>${k}</code> <span class="muted">${KIND_LABEL[k]}</span></li>`,
      )}</ul>`
    : html`<p>The audit did not conclude that the trail is intact, but names no individual finding.</p>`
}
</section>`;
}

function deviceTable(devices: readonly DeviceAudit[]): Html {
  if (devices.length === 0) {
    return html`<p data-testid="device-table" class="muted">No device in the audited range.</p>`;
  }
  const rows = devices.map((d) => {
    const positions = d.chain.first === null ? '—' : `${int(d.chain.first)}–${int(d.chain.last ?? d.chain.first)}`;
    return html`<tr data-testid="device-row">
<td data-testid="device-name" class="text name">${d.device}<div class="muted small">${d.output}</div></td>
<td data-testid="device-serial" class="text id"><code>${d.serial}</code></td>
<td data-testid="device-files">${int(d.files)}</td>
<td data-testid="device-records">${int(d.records)}</td>
<td data-testid="device-verified">${int(d.verified)}</td>
<td data-testid="device-documents">${int(d.documents)}</td>
<td data-testid="device-dead-letters">${int(d.deadLetters)}</td>
<td data-testid="device-positions">${positions}</td>
<td data-testid="device-digests">${int(d.chain.digests)}${d.chain.localDigests === null ? '' : html`<div class="muted small">local ${int(d.chain.localDigests)}</div>`}</td>
<td data-testid="device-chain" class="text ${d.chain.intact ? 'ok' : 'bad'}">${d.chain.intact ? 'intact' : 'NOT intact'}</td>
<td data-testid="device-findings" class="${d.findings.length > 0 ? 'bad' : ''}">${int(d.findings.length)}</td>
</tr>`;
  });
  const sum = (f: (d: DeviceAudit) => number): string => int(devices.reduce((s, d) => s + f(d), 0));
  return html`<table data-testid="device-table" class="data devices">
<thead><tr><th class="text">Device</th><th class="text">Serial</th><th>Files</th><th>Records</th><th>Verified</th><th>Documents</th><th>Dead letters</th><th>Chain positions</th><th>Digests</th><th class="text">Chain</th><th>Findings</th></tr></thead>
<tbody>${rows}</tbody>
<tfoot><tr><td class="text" colspan="2">Total</td><td>${sum((d) => d.files)}</td><td>${sum((d) => d.records)}</td><td>${sum((d) => d.verified)}</td><td>${sum((d) => d.documents)}</td><td>${sum((d) => d.deadLetters)}</td><td></td><td>${sum((d) => d.chain.digests)}</td><td></td><td>${sum((d) => d.findings.length)}</td></tr></tfoot>
</table>`;
}

function findingsSection(findings: readonly Finding[]): Html {
  if (findings.length === 0) {
    return html`<section data-testid="findings"><h2>Findings</h2><p data-testid="no-findings">No findings.</p></section>`;
  }
  const rows = findings.map(
    (f) => html`<tr data-testid="finding">
<td data-testid="finding-kind" class="text kind"><code>${f.kind}</code><div class="muted small">${KIND_LABEL[f.kind] ?? ''}</div></td>
<td data-testid="finding-device" class="text name">${f.device}</td>
<td data-testid="finding-file" class="text id">${f.fileId === undefined ? '' : html`<code>${f.fileId}</code>`}</td>
<td data-testid="finding-position">${f.position === undefined ? '' : int(f.position)}</td>
<td data-testid="finding-lines">${f.lines === undefined ? '' : `${int(f.lines.first)}–${int(f.lines.last)}`}</td>
<td data-testid="finding-document" class="text id">${f.documentId === undefined ? '' : html`<code>${f.documentId}</code>`}</td>
<td data-testid="finding-at" class="text">${f.at === undefined ? '' : breakableTime(f.at)}</td>
<td data-testid="finding-detail" class="text detail">${f.detail}</td>
</tr>`,
  );
  return html`<section data-testid="findings">
<h2>Findings</h2>
<table class="data findings-table">
<thead><tr><th class="text">Kind</th><th class="text">Device</th><th class="text">File</th><th>Position</th><th>Lines</th><th class="text">Document</th><th class="text">Collected</th><th class="text">Detail</th></tr></thead>
<tbody>${rows}</tbody>
</table>
</section>`;
}

const STYLE = `
@page { size: A4; margin: 14mm 12mm; }
:root { color-scheme: light; --ink: #1d232a; --muted: #5f6b76; --rule: #c9d0d6; --ok: #1e6b34; --bad: #a8191f; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1000px; padding: 24px; color: var(--ink); background: #fff;
  font: 13px/1.45 "Helvetica Neue", Helvetica, Arial, "Liberation Sans", sans-serif; }
h1 { font-size: 22px; margin: 0 0 12px; padding-bottom: 8px; border-bottom: 2px solid var(--ink); }
h2 { font-size: 16px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--rule); break-after: avoid; }
h3 { font-size: 13px; margin: 18px 0 4px; break-after: avoid; }
code { font: 12px/1.3 "DejaVu Sans Mono", Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.small { font-size: 11px; }
dl.meta { display: grid; grid-template-columns: 10em 1fr; gap: 3px 12px; margin: 0; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
ul.keys { margin: 0; padding: 0; list-style: none; }
.verdict { margin: 20px 0; padding: 10px 14px; border: 2px solid; border-left-width: 10px; break-inside: avoid;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.verdict p { margin: 2px 0; }
.verdict .verdict-word { font-size: 22px; font-weight: 700; letter-spacing: 0.08em; }
.verdict.intact { border-color: var(--ok); background: #eef7f0; }
.verdict.intact .verdict-word { color: var(--ok); }
.verdict.findings { border-color: var(--bad); background: #fbeeee; }
.verdict.findings .verdict-word { color: var(--bad); }
.kind-counts { margin: 6px 0 0; padding: 0; list-style: none; display: grid; grid-template-columns: auto auto 1fr;
  gap: 1px 10px; align-items: baseline; }
.kind-counts li { display: contents; }
.kind-counts .count { text-align: right; font-weight: 700; color: var(--bad); }
table.data { width: 100%; border-collapse: collapse; font-size: 12px; font-variant-numeric: tabular-nums; }
table.data th, table.data td { padding: 4px 6px; border-bottom: 1px solid var(--rule); vertical-align: top;
  text-align: right; }
table.data th { border-bottom: 1.5px solid var(--ink); font-weight: 600; white-space: nowrap; }
/* Only untrusted names, ids and details may break anywhere (a hostile device can send one endless word); headers
   and short words keep whole. */
table.data .text { text-align: left; overflow-wrap: break-word; }
table.data td.name, table.data td.id, table.data td.detail { overflow-wrap: anywhere; }
table.data tfoot td { border-top: 1.5px solid var(--ink); border-bottom: 0; font-weight: 600; }
table.data tr { break-inside: avoid; }
td.detail { min-width: 16em; }
/* Kinds are short codes that must read whole; ids may be long, but a column should not shrink below a few
   characters and break every one. */
td.kind code { white-space: nowrap; }
td.id, td.name { min-width: 6em; }
.ok { color: var(--ok); }
.bad { color: var(--bad); font-weight: 700; }
figure.timeline { margin: 4px 0 12px; break-inside: avoid; }
figcaption { font-size: 11px; color: var(--muted); }
svg.chart { display: block; width: 100%; height: auto; }
.chart text { font: 9px "Helvetica Neue", Helvetica, Arial, sans-serif; fill: var(--muted); }
.chart .axis line { stroke: var(--ink); stroke-width: 0.75; }
.chart .axis line.grid { stroke: #e3e7ea; }
.chart .axis-title { font-size: 9px; }
.chart .bar { fill: #47627d; }
.chart .gap { stroke: #c0392b; stroke-width: 0.75; }
.chart .hatch-bg { fill: #fdf1f0; }
.chart .hatch-line { stroke: #e2a29b; stroke-width: 2; }
.chart .marker line { stroke: var(--bad); stroke-width: 1; stroke-dasharray: 2 2; }
.chart .marker path { fill: var(--bad); }
.chart .empty-frame { fill: #fafbfc; stroke: var(--rule); }
.chart .empty-text { font-size: 11px; }
.legend { font-size: 11px; color: var(--muted); margin: 0 0 8px; }
.legend .swatch { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; vertical-align: -1px; }
.legend .swatch:first-child { margin-left: 0; }
.legend .s-bar { background: #47627d; }
.legend .s-gap { background: #fdf1f0; border: 1px solid #c0392b; }
.legend .s-marker { width: 0; height: 0; border: 5px solid transparent; border-top: 9px solid var(--bad);
  border-bottom: 0; vertical-align: 0; }
footer { margin-top: 32px; padding-top: 6px; border-top: 1px solid var(--rule); font-size: 11px; color: var(--muted); }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  table.data { font-size: 8pt; }
  table.data th { white-space: normal; }
  td.detail { min-width: 11em; }
  td.id, td.name { min-width: 5.6em; }
  code { font-size: 8pt; }
  thead { display: table-header-group; }
  .legend span { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
`;

/** Renders the whole report as one self-contained HTML document. */
export function renderReportHtml(report: AuditReport): string {
  const findings = report.devices.flatMap((d) => d.findings);
  const legend = html`<p class="legend"><span class="swatch s-bar"></span>records per day<span class="swatch s-gap"></span>day without records<span class="swatch s-marker"></span>finding (hover for the evidence)</p>`;
  const timelines = report.devices.map(
    (d, i) => html`<section class="device" data-testid="device-section">
<h3>${d.device} <span class="muted">&middot; serial <code>${d.serial}</code> &middot; ${plural(d.findings.length, 'finding')}</span></h3>
${timeline(d, i)}
</section>`,
  );
  // The CSP is a second line of defence: should markup ever slip through unescaped, it still cannot run a
  // script or fetch anything, and the file stays the same evidence offline and online.
  const page = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="${report.tool.name} ${report.tool.version}">
<title>Audit trail custody report &mdash; ${report.generatedAt}</title>
<style>${trusted(STYLE)}</style>
</head>
<body>
${header(report)}
${verdict(report, findings)}
<section>
<h2>Devices</h2>
${deviceTable(report.devices)}
</section>
<section>
<h2>Timelines</h2>
${report.devices.length > 0 ? legend : ''}
${timelines.length > 0 ? timelines : html`<p class="muted">No device in the audited range.</p>`}
</section>
${findingsSection(findings)}
<footer>Produced by ${report.tool.name} ${report.tool.version} at ${report.generatedAt}. This file is self-contained: it
holds no script and loads nothing, so it reads the same offline. Record counts are per UTC day of collection.</footer>
</body>
</html>
`;
  return page.markup;
}
