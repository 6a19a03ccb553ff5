// CLI hygiene: every error is one line naming what was wrong (no stack trace unless --debug),
// unknown flags and conflicting options are refused, inputs are read with a bound.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, errorResult } from '../../src/cli/main.ts';
import { readInputFile } from '../../src/util/json-reader.ts';
import { HostFileError } from '../../src/host/index.ts';
import { QEMU_DIR } from '../memory/qemu-golden.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const dump = QEMU_DIR + 'pc-basic.txt';
const tmp = mkdtempSync(join(tmpdir(), 'vdm-hygiene-'));
const STACK = /\n\s+at /;

test('unknown flags are refused by every command, with exit 2 and the command to ask', () => {
  for (const c of ['boot', 'machines', 'pci', 'mtree', 'host', 'hosts', 'demo']) {
    const r = runCli([c, '--frobnicate']);
    assert.is(r.code, 2, c);
    assert.match(r.err, `vdm ${c}: Unknown option '--frobnicate'`);
    assert.match(r.err, `"vdm ${c} --help"`);
  }
  assert.is(runCli(['hosts', 'extra']).code, 2, 'positionals too');
});

test('an error that is not a VdmError is one line, called a bug; --debug adds the stack', () => {
  const bug = new TypeError('x is undefined');
  const plain = errorResult('boot', bug, false);
  assert.is(plain.code, 1);
  assert.is(
    plain.err,
    'vdm boot: internal error (a bug in vdm, please report it): TypeError: x is undefined\nrun again with ' +
      '--debug for the stack trace\n',
  );
  const debug = errorResult('boot', bug, true);
  assert.match(debug.err, STACK);
  const usage = runCli(['boot', '--debug', '--machine', join(tmp, 'none.json')]);
  assert.is(usage.code, 2);
  assert.match(usage.err, STACK, '--debug shows the stack of a VdmError too');
  assert.not.match(runCli(['boot', '--machine', join(tmp, 'none.json')]).err, STACK);
});

test('a device file is read with a bound: vdm host /dev/zero is refused, not read until memory runs out', () => {
  const r = runCli(['host', '/dev/zero']);
  assert.is(r.code, 2);
  assert.match(r.err, '/dev/zero: (file): a host file of at most 64 MiB');
  const f = join(tmp, 'big.json');
  writeFileSync(f, ' '.repeat(200));
  assert.throws(
    () => readInputFile(f, 'host file', HostFileError, 100),
    (e: Error) => e instanceof HostFileError && /at most 100 bytes/.test(e.message),
  );
  assert.is(readInputFile(f, 'host file', HostFileError, 200).length, 200, 'exactly the cap is fine');
  const m = runCli(['mtree', '--import-qemu', '/dev/zero']);
  assert.is(m.code, 2);
  assert.match(m.err, 'at most 64 MiB');
});

test('--explain rejects what is not an address, including "-1"', () => {
  for (const a of ['-1', 'zz', '0x', '1e3']) {
    const r = runCli(['mtree', '--import-qemu', dump, '--explain', a]);
    assert.is(r.code, 2, a);
    assert.match(r.err, `"${a}" is not an address`);
  }
});

test('mtree: conflicting options are refused; --as is honoured with --machine --explain', () => {
  const both = runCli(['mtree', '--machine', 'q35', '--import-qemu', dump]);
  assert.is(both.code, 2);
  assert.match(both.err, '--machine and --import-qemu are two sources');
  assert.match(runCli(['mtree', '--import-qemu', dump, '--host', 'x86-4k-ir']).err, '--host applies to --machine');
  assert.match(
    runCli(['mtree', '--import-qemu', dump, '--as', 'I/O']).err,
    '--as names the address space for --explain',
  );
  assert.match(runCli(['mtree', '--import-qemu', dump, '--explain', '0x0', '-f']).err, 'give one or the other');
  const io = runCli(['mtree', '--machine', 'q35', '--explain', '0x80', '--as', 'I/O']);
  assert.is(io.code, 0, io.err);
  assert.match(io.out, 'in address space "I/O"');
  const none = runCli(['mtree', '--machine', 'q35', '--explain', '0x80', '--as', 'nope']);
  assert.is(none.code, 2);
  assert.match(none.err, '--as nope: the booted machine has no such address space (have: I/O, memory)');
});

test('EPIPE on stdout ends quietly (vdm mtree ... | head -1)', () => {
  // Larger than a pipe's buffer, so the write is still going when head exits.
  const big = join(tmp, 'big.txt');
  const lines = Array.from(
    { length: 3000 },
    (_, i) =>
      `    ${(i * 0x1000).toString(16).padStart(16, '0')}-${(i * 0x1000 + 0xfff).toString(16).padStart(16, '0')} (prio 0, i/o): r${i}`,
  );
  writeFileSync(
    big,
    ['address-space: memory', '  0000000000000000-ffffffffffffffff (prio 0, container): system', ...lines, ''].join(
      '\n',
    ),
  );
  const r = spawnSync('sh', ['-c', `node --import tsx src/cli/bin.ts mtree --import-qemu ${big} | head -1`], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.is(r.stdout, 'address-space: memory\n');
  assert.is(r.stderr, '');
});

test("host= as QEMU takes it: [DOMAIN:]BUS:SLOT.FN; the same host twice and duplicate id= refused with QEMU's " +
  'messages', () => {
  const short = runCli(['boot', '--device', 'host=01:00.0']);
  assert.is(short.code, 0, short.err);
  assert.match(short.out, 'device hostdev0 = host 0000:01:00.0');
  const twice = runCli(['boot', '--device', 'host=01:00.0', '--device', 'host=0000:01:00.0']);
  assert.is(twice.code, 2);
  assert.is(twice.err, 'vdm boot: vfio 0000:01:00.0: device is already attached\n'); // hw/vfio/pci.c:vfio_realize
  const ids = runCli(['boot', '--device', 'host=0000:01:00.0,id=nic', '--device', 'host=0000:00:02.0,id=nic']);
  assert.is(ids.code, 2);
  assert.is(ids.err, "vdm boot: Duplicate ID 'nic' for device\n"); // util/qemu-option.c:qemu_opts_create
  for (const bad of ['1:2:3:4', '01:20.0', '01:00.8', '10000:00:00.0', 'x']) {
    const r = runCli(['boot', '--device', `host=${bad}`]);
    assert.is(r.code, 2, bad);
    assert.match(r.err, `Property 'vfio-pci.host' doesn't take value '${bad}'`);
  }
});

test('unknown machine, host or guest names list the valid ones', () => {
  const m = runCli(['boot', '--machine', 'q36']);
  assert.is(m.code, 2);
  assert.match(m.err, 'unknown machine "q36": shipped machines are pc, ppce500, pseries, q35, virt, virt-gicv2m');
  assert.match(runCli(['host', 'nope']).err, /unknown host "nope": shipped hosts are arm64-64k-its, .*x86-4k-ir/);
  assert.match(
    runCli(['boot', '--guest', 'nope']).err,
    'unknown guest "nope": shipped guests are nic, nic-misbehaving',
  );
});

test("paths are relative to the user's directory (INIT_CWD under npm run), shipped names still resolve", () => {
  const saved = process.env.INIT_CWD;
  try {
    process.env.INIT_CWD = join(ROOT, 'machines');
    const r = runCli(['host', 'hosts/x86-4k-ir.json']);
    assert.is(r.code, 0, r.err);
    assert.match(r.out, 'host x86-4k-ir');
    const boot = runCli(['boot', '--machine', './q35.json', '--host', 'x86-4k-ir']);
    assert.is(boot.code, 0, boot.err);
    assert.match(boot.out, '(per-path costs from ./q35.json)', 'the report cites the file that was used');
    const missing = runCli(['host', 'x86-4k-ir.json']);
    assert.is(missing.code, 2);
    assert.match(missing.err, 'x86-4k-ir.json: (file): a readable host file (ENOENT)');
  } finally {
    if (saved === undefined) delete process.env.INIT_CWD;
    else process.env.INIT_CWD = saved;
  }
});

test("the cost table shows a trapped access as the machine file's two costs", () => {
  const r = runCli(['boot']);
  assert.match(r.out, /slow: trapped to kernel \(pread\/pwrite\)\s+\d+\s+4,500\+6,500 ns/);
  assert.match(r.out, '(per-path costs from machines/q35.json)');
});

test.run();
