import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport, DayCount, DeviceAudit, Finding } from '../../src/audit/report.js';
import { renderReportHtml } from '../../src/audit/report-html.js';

/**
 * The auditor's HTML report opened in a real browser (Debian's chromium through playwright-core): what an
 * auditor sees is asserted through the DOM, and the file is shown to be inert: no request beyond itself, and
 * a script smuggled in through a device name is text, not code.
 */

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const DAY_MS = 86_400_000;
const START = Date.UTC(2025, 2, 1); // 2025-03-01
const day = (i: number): string => new Date(START + i * DAY_MS).toISOString().slice(0, 10);

/** `count` days from 2025-03-01, leaving out the days in `skip`: records vary so that bars differ in height. */
function days(count: number, skip: ReadonlySet<number> = new Set()): DayCount[] {
  const out: DayCount[] = [];
  for (let i = 0; i < count; i++)
    if (!skip.has(i)) out.push({ day: day(i), records: 200 + ((i * 37) % 150), files: 2 });
  return out;
}

const sum = (ds: readonly DayCount[]): number => ds.reduce((s, d) => s + d.records, 0);

function device(name: string, serial: string, ds: DayCount[], findings: Finding[] = []): DeviceAudit {
  const records = sum(ds);
  return {
    device: name,
    serial,
    output: 'elasticsearch:7f3c2a1e-cluster',
    files: ds.length * 2,
    records,
    verified: records,
    documents: records,
    deadLetters: 0,
    chain: {
      first: ds.length > 0 ? 1 : null,
      last: ds.length > 0 ? ds.length * 2 : null,
      digests: ds.length * 2,
      localDigests: ds.length * 2,
      intact: true,
    },
    days: ds,
    findings,
  };
}

function report(devices: DeviceAudit[]): AuditReport {
  return {
    tool: { name: 'hem-forwarder', version: '0.1.0' },
    generatedAt: '2025-04-15T09:30:00.000Z',
    source: 'https://es.example.internal:9200',
    range: { since: '2025-03-01T00:00:00Z', until: null },
    keys: [
      { fingerprint: 'SHA256:q1Vd3bR2m0Kc9xYfP7sT4uWz8aLhJ6nE5gC0iO2pQ3r', trust: 'pinned' },
      { fingerprint: 'SHA256:Zk8wQ2e4R6t8Y0u2I4o6P8a0S2d4F6g8H0j2K4l6Z8x', trust: 'rotation' },
    ],
    digestDir: '/var/lib/hem-forwarder/digests',
    devices,
    intact: devices.every((d) => d.findings.length === 0),
  };
}

// Device B: 40 days, nothing on days 15 to 19 (a five-day gap), and a name that tries to run a script.
const EVIL = '<script>window.__pwned = 1</script>hem-b';
const GAP = new Set([15, 16, 17, 18, 19]);
const daysB = days(40, GAP);
const findingsB: Finding[] = [
  {
    kind: 'document_missing',
    device: EVIL,
    fileId: 'f-0000031',
    position: 52,
    lines: { first: 120, last: 131 },
    documentId: 'hem-b:f-0000031:120',
    at: `${day(25)}T14:02:11Z`,
    detail: 'Twelve records named by digest 52 are not in the cluster.',
  },
  {
    kind: 'document_altered',
    device: EVIL,
    fileId: 'f-0000009',
    position: 14,
    lines: { first: 7, last: 7 },
    documentId: 'hem-b:f-0000009:7',
    at: `${day(5)}T08:00:00Z`,
    // Untrusted text with markup that would load a remote image and run a handler if it were parsed as HTML.
    detail:
      'event.action differs from the digest: <img src="https://attacker.example/x.png" onerror="window.__pwned2=1">',
  },
  {
    kind: 'chain_gap',
    device: EVIL,
    position: 33,
    detail: 'Digests 31 and 32 are missing between position 30 and 33.',
  },
  { kind: 'record_tag', device: EVIL, fileId: 'f-0000012', lines: { first: 3, last: 3 }, detail: 'Tag mismatch.' },
];
const devB: DeviceAudit = {
  ...device(EVIL, 'HEM-0002-B', daysB, findingsB),
  chain: { first: 1, last: 78, digests: 76, localDigests: null, intact: false },
};
const devA = device('hem-vault-a', 'HEM-0001-A', days(40));
const withFindings = report([devA, devB]);

let launched: Promise<Browser> | undefined;
let dir: string;

/**
 * The browser, launched on first use: without chromium every test fails with this message (vitest would report
 * a failing beforeAll as skipped tests, which reads like a pass).
 */
function browser(): Promise<Browser> {
  launched ??= (async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM_PATH. ` +
          'The HTML report test needs a real browser and is never skipped.',
      );
    }
    // Root in a container has no user namespace for chromium's sandbox; the page is our own inert file.
    return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  })();
  return launched;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-report-'));
});

afterAll(async () => {
  await (await launched?.catch(() => undefined))?.close();
  // KEEP_REPORT=1 leaves the HTML files and screenshots behind to look at.
  if (process.env.KEEP_REPORT) process.stderr.write(`audit report files kept in ${dir}\n`);
  else if (dir) await rm(dir, { recursive: true, force: true });
});

/** Writes the report to a file and opens it, recording every request the page makes and every page error. */
async function open(
  name: string,
  r: AuditReport,
): Promise<{ page: Page; url: string; requests: string[]; errors: string[] }> {
  const file = join(dir, name);
  await writeFile(file, renderReportHtml(r));
  const url = pathToFileURL(file).href;
  const page = await (await browser()).newPage({ viewport: { width: 1100, height: 900 } });
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (req) => requests.push(req.url()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url, { waitUntil: 'load' });
  return { page, url, requests, errors };
}

const fmt = (n: number): string => n.toLocaleString('en-US');

describe('audit HTML report in a real browser', () => {
  it('shows the findings, the devices, the timelines and stays inert', async () => {
    const { page, url, requests, errors } = await open('findings.html', withFindings);
    try {
      await expect(page.title()).resolves.toContain('Audit trail custody report');
      expect(await page.locator('h1').textContent()).toBe('Audit trail custody report');
      expect(await page.getByTestId('tool').textContent()).toBe('hem-forwarder 0.1.0');
      expect(await page.getByTestId('key').count()).toBe(2);

      // Verdict: FINDINGS with the count per kind.
      const verdict = page.getByTestId('verdict');
      expect(await verdict.textContent()).toContain('FINDINGS');
      expect(await verdict.textContent()).toContain('4 findings on 1 of 2 devices');
      expect(
        await page.locator('[data-testid="verdict-kind"][data-kind="document_missing"] .count').textContent(),
      ).toBe('1');
      expect(await page.getByTestId('verdict-kind').count()).toBe(4);

      // Device table: one row per device with its record count.
      const rows = page.getByTestId('device-row');
      expect(await rows.count()).toBe(2);
      expect(await rows.nth(0).getByTestId('device-records').textContent()).toBe(fmt(sum(days(40))));
      expect(await rows.nth(1).getByTestId('device-records').textContent()).toBe(fmt(sum(daysB)));
      expect(await rows.nth(1).getByTestId('device-chain').textContent()).toBe('NOT intact');
      expect(await rows.nth(1).getByTestId('device-findings').textContent()).toBe('4');

      // Device A's chart: a bar per day, no gap, no finding.
      const chartA = page.getByTestId('chart-0');
      expect(await chartA.getByTestId('bar').count()).toBe(40);
      expect(await chartA.getByTestId('gap').count()).toBe(0);
      expect(await chartA.getByTestId('finding-marker').count()).toBe(0);

      // Device B's chart: 35 bars, the five empty days as one marked gap, a marker on each finding's day.
      const chartB = page.getByTestId('chart-1');
      expect(await chartB.getByTestId('bar').count()).toBe(35);
      expect(await chartB.getByTestId('gap').count()).toBe(1);
      expect(await chartB.locator('[data-testid="gap"] title').textContent()).toBe(
        `No records: ${day(15)} to ${day(19)} (5 days)`,
      );
      const markers = chartB.getByTestId('finding-marker');
      expect(await markers.count()).toBe(2);
      const missing = markers.filter({ has: page.locator('title', { hasText: 'document_missing' }) });
      expect(await missing.locator('title').textContent()).toContain(`${day(25)}: 1 finding`);
      expect(await missing.locator('title').textContent()).toContain('Twelve records named by digest 52');
      // The gap and the bars are really drawn: they have a size on screen.
      expect((await chartB.getByTestId('gap').boundingBox())?.width).toBeGreaterThan(0);
      expect((await chartB.getByTestId('bar').first().boundingBox())?.height).toBeGreaterThan(0);
      // Two findings have no collection time: the caption says they are not on the chart.
      expect(await page.getByTestId('device-section').nth(1).locator('figcaption').textContent()).toContain(
        '2 findings of this device have no day on this chart',
      );

      // Findings table: one row per finding, kind and detail shown.
      const findingRows = page.getByTestId('finding');
      expect(await findingRows.count()).toBe(4);
      const missingRow = findingRows.filter({ hasText: 'document_missing' });
      expect(await missingRow.getByTestId('finding-kind').textContent()).toContain('document_missing');
      expect(await missingRow.getByTestId('finding-detail').textContent()).toBe(
        'Twelve records named by digest 52 are not in the cluster.',
      );
      expect(await missingRow.getByTestId('finding-lines').textContent()).toBe('120–131');
      expect(await missingRow.getByTestId('finding-document').textContent()).toBe('hem-b:f-0000031:120');

      // Inert: the injected script never ran and shows as text; the injected image is text, not an element.
      expect(await page.evaluate(() => (globalThis as Record<string, unknown>).__pwned)).toBeUndefined();
      expect(await page.evaluate(() => (globalThis as Record<string, unknown>).__pwned2)).toBeUndefined();
      expect(await page.locator('script').count()).toBe(0);
      expect(await page.locator('img').count()).toBe(0);
      expect(await rows.nth(1).getByTestId('device-name').textContent()).toContain(EVIL);
      expect(
        await findingRows.filter({ hasText: 'event.action differs' }).getByTestId('finding-detail').textContent(),
      ).toContain('<img src="https://attacker.example/x.png"');
      expect(errors).toEqual([]);
      // Self-contained: the only request is the file itself.
      expect(requests).toEqual([url]);

      // A screenshot an engineer can look at, and an A4 print that renders.
      const png = join(dir, 'findings.png');
      await page.screenshot({ path: png, fullPage: true });
      const bytes = await readFile(png);
      expect(bytes.length).toBeGreaterThan(10_000);
      expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      const pdf = await page.pdf({ format: 'A4', printBackground: true });
      expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    } finally {
      await page.close();
    }
  });

  it('says INTACT and "No findings" for an intact report', async () => {
    const intact = report([devA, device('hem-vault-c', 'HEM-0003-C', days(12))]);
    expect(intact.intact).toBe(true);
    const { page, url, requests } = await open('intact.html', intact);
    try {
      const verdict = await page.getByTestId('verdict').textContent();
      expect(verdict).toContain('INTACT');
      expect(verdict).not.toContain('FINDINGS');
      expect(await page.getByTestId('findings').textContent()).toContain('No findings');
      expect(await page.getByTestId('finding').count()).toBe(0);
      expect(await page.getByTestId('device-row').count()).toBe(2);
      expect(requests).toEqual([url]);
      const png = join(dir, 'intact.png');
      await page.screenshot({ path: png, fullPage: true });
      expect((await readFile(png)).subarray(1, 4).toString('latin1')).toBe('PNG');
    } finally {
      await page.close();
    }
  });

  it('charts no day, one day and more than a thousand days readably', async () => {
    const long = days(1200, new Set([400, 401, 402, 900]));
    const r = report([
      device('empty', 'HEM-E', []),
      device('one-day', 'HEM-1', days(1)),
      device('long', 'HEM-L', long, [
        { kind: 'truncated', device: 'long', at: `${day(1100)}T00:00:00Z`, detail: 'The chain ends early.' },
      ]),
    ]);
    const { page } = await open('ranges.html', r);
    try {
      const empty = page.getByTestId('chart-0');
      expect(await empty.getByTestId('bar').count()).toBe(0);
      expect(await empty.textContent()).toContain('No records');

      const one = page.getByTestId('chart-1');
      expect(await one.getByTestId('bar').count()).toBe(1);
      expect(await one.getByTestId('x-label').allTextContents()).toEqual([day(0)]);
      // A single day is a bar, not a slab across the whole chart.
      const oneBar = await one.getByTestId('bar').boundingBox();
      const oneChart = await one.boundingBox();
      expect(oneBar!.width).toBeLessThan(oneChart!.width / 10);

      const chart = page.getByTestId('chart-2');
      expect(await chart.getByTestId('bar').count()).toBe(long.length);
      expect(await chart.getByTestId('gap').count()).toBe(2);
      expect(await chart.getByTestId('finding-marker').count()).toBe(1);
      // Only some days are labelled, and no two labels touch.
      const labels = await chart.getByTestId('x-label').all();
      expect(labels.length).toBeGreaterThan(2);
      expect(labels.length).toBeLessThanOrEqual(10);
      const boxes = await Promise.all(labels.map((l) => l.boundingBox()));
      for (let i = 1; i < boxes.length; i++) expect(boxes[i]!.x).toBeGreaterThan(boxes[i - 1]!.x + boxes[i - 1]!.width);
      // Every label is inside the chart.
      const box = (await chart.boundingBox())!;
      for (const b of boxes) {
        expect(b!.x).toBeGreaterThanOrEqual(box.x);
        expect(b!.x + b!.width).toBeLessThanOrEqual(box.x + box.width);
      }
      await page.screenshot({ path: join(dir, 'ranges.png'), fullPage: true });
    } finally {
      await page.close();
    }
  });
});
