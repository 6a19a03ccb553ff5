// The map pages in a real browser: Debian's chromium, headless, driven by puppeteer-core. The test
// fails (it does not skip) when the browser cannot start: CI installs it (.ci/run).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { packageRoot } from '../../src/cli/package-root.ts';
import { explainGuestAccess, type Machine } from '../../src/machine/index.ts';
import { formatExplanationData } from '../../src/memory/index.ts';
import { machinePage } from './helpers.ts';

/** Screenshots and pages land here (gitignored). */
const OUT = join(packageRoot(), 'test-output', 'map');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
let browser: Browser;

test.before(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium, as .ci/run does) or ` +
        'set CHROMIUM',
    );
  mkdirSync(OUT, { recursive: true });
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
});
test.after(async () => {
  await browser?.close();
});

/** Opens a machine's map page from file:// at 1280x800. */
async function open(name: string): Promise<{ page: Page; machine: Machine }> {
  const { machine, html } = await machinePage(name);
  const file = join(OUT, `${name}.html`);
  writeFileSync(file, html);
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.setViewport({ width: 1280, height: 800 });
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('svg [data-lane]');
  assert.equal(errors, [], 'the page script runs without errors');
  return { page, machine };
}

/** The screen box of the first element matching `sel`. */
async function box(page: Page, sel: string): Promise<{ x: number; y: number; width: number; height: number }> {
  const b = await (await page.$(sel))?.boundingBox();
  assert.ok(b, `${sel} is drawn`);
  return b!;
}

const lanes = (page: Page) => page.$$eval('svg [data-lane]', (gs) => gs.map((g) => g.getAttribute('data-lane')));
const explained = (page: Page) => page.$eval('#explain', (e) => e.textContent ?? '');

test('q35: lanes for memory and I/O; RAM left of the BAR; the MSI-X table inside the BAR; a click explains as ' +
  '--explain does', async () => {
  const { page, machine } = await open('q35');
  assert.equal(await lanes(page), ['memory', 'I/O']);
  const ram = await box(page, '[data-lane="memory"] rect.box[data-region="pc.ram"]');
  const bar = await box(page, '[data-lane="memory"] rect.box[data-region="0000:01:00.0 base BAR 0"]');
  const table = await box(page, '[data-lane="memory"] rect.box[data-region="msix-table"]');
  assert.ok(ram.x + ram.width <= bar.x, 'guest RAM below the BAR');
  assert.ok(
    table.x >= bar.x && table.x + table.width <= bar.x + bar.width + 0.5,
    'the table overlay lies inside its BAR',
  );
  assert.ok(table.y > bar.y, 'the overlay is drawn a level under its BAR container');
  // Click the middle of the table's segment in the "answers" row.
  const seg = await box(page, '[data-lane="memory"] rect.seg[data-region="msix-table"]');
  await page.mouse.click(seg.x + seg.width / 2, seg.y + seg.height / 2);
  const addr = BigInt(await page.$eval('#addr', (i) => (i as HTMLInputElement).value));
  const text = await explained(page);
  assert.match(text, 'served by: msix-table (i/o)');
  assert.is(text, formatExplanationData(explainGuestAccess(machine, machine.addressSpaceMemory, addr)));
  await page.screenshot({ path: join(OUT, 'q35.png') });
  await page.close();
});

test('virt on a 64 KiB host: the BAR page shared with the MSI-X table is hatched; typing the doorbell address ' +
  'explains the exit', async () => {
  const { page, machine } = await open('virt');
  assert.equal(await lanes(page), ['memory']);
  const bar = machine.devices[0]!.bars[0]!.addr;
  const hatched = await page.$$eval('[data-lane="memory"] rect.seg[data-path="mmapExit"]', (rs) =>
    rs.map((r) => [r.getAttribute('fill'), r.getAttribute('data-start')]),
  );
  assert.ok(hatched.length > 0);
  for (const [fill, start] of hatched) {
    assert.is(fill, 'url(#hatch)');
    assert.ok(BigInt(start!) >= bar && BigInt(start!) < bar + 0x10000n);
  }
  // Keyboard only: "/" jumps to the address box, Enter explains.
  await page.focus('#map');
  await page.keyboard.press('/');
  await page.keyboard.type(`0x${(bar + 8n).toString(16)}`);
  await page.keyboard.press('Enter');
  const text = await explained(page);
  assert.match(text, 'EXITS to the VMM');
  assert.is(text, formatExplanationData(explainGuestAccess(machine, machine.addressSpaceMemory, bar + 8n)));
  assert.ok(await page.$('svg line.mark'), 'the explained address is marked');
  // "+" zooms in around it: the BAR gets wider on screen.
  const before = await box(page, 'rect.box[data-region="0000:01:00.0 base BAR 0"]');
  await page.focus('#map');
  await page.keyboard.press('+');
  const after = await box(page, 'rect.box[data-region="0000:01:00.0 base BAR 0"]');
  assert.ok(after.width > before.width, `zoomed: ${before.width} -> ${after.width}`);
  await page.keyboard.press('0');
  await page.screenshot({ path: join(OUT, 'virt.png') });
  await page.close();
});

test('pseries: no MSI-X overlay (RTAS programs MSI-X), the whole BAR mmapped without exits', async () => {
  const { page, machine } = await open('pseries');
  assert.equal(await lanes(page), ['memory']);
  assert.is(await page.$('rect.box[data-region="msix-table"]'), null);
  assert.is(await page.$('rect.seg[data-path="mmapExit"]'), null);
  const bar = machine.devices[0]!.bars[0]!.addr;
  const mm = await page.$$eval('[data-lane="memory"] rect.seg[data-path="mmap"]', (rs) =>
    rs.map((r) => r.getAttribute('data-start')),
  );
  assert.ok(
    mm.some((s) => BigInt(s!) === bar),
    'the BAR starts mmapped',
  );
  await page.screenshot({ path: join(OUT, 'pseries.png') });
  await page.close();
});

test.run();
