// One error base for the whole project: every vdm error is a VdmError carrying its exit code.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { VdmError, BadInputError, EXIT_BAD_INPUT, EXIT_FAILURE } from '../../src/util/errors.ts';
import { FileError } from '../../src/util/json-reader.ts';
import { UsageError } from '../../src/cli/errors.ts';
import { VfioError, KernelBug, HostFileError } from '../../src/host/index.ts';
import { MachineError, MachineFileError } from '../../src/machine/index.ts';
import { GuestError, GuestFileError } from '../../src/guest/index.ts';
import { MtreeImportError } from '../../src/memory/index.ts';
import { PciBusError, MsiSetupError, CapabilityError } from '../../src/pci/index.ts';
import { VfioRealizeError } from '../../src/vfio/index.ts';

const SRC = new URL('../../src/', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('no error class in src/ extends Error directly except VdmError', () => {
  const offenders = sources(SRC).flatMap((f) =>
    [...readFileSync(f, 'utf8').matchAll(/class (\w+) extends (?:Error|RangeError|TypeError)\b/g)].map(
      (m) => `${f.slice(SRC.length)}: ${m[1]}`,
    ),
  );
  assert.equal(offenders, ['util/errors.ts: VdmError']);
});

test('every error class is a VdmError; bad input exits 2, a failure exits 1', () => {
  const bad = [
    new UsageError('x'),
    new FileError('f', 'p', 'e'),
    new HostFileError('f', 'p', 'e'),
    new MachineFileError('f', 'p', 'e'),
    new GuestFileError('f', 'p', 'e'),
    new MtreeImportError('f', 1, 'm'),
  ];
  const failures = [
    new VfioError('EINVAL', 'x'),
    new KernelBug('x'),
    new MachineError('x'),
    new GuestError('x'),
    new PciBusError('x'),
    new MsiSetupError('x'),
    new CapabilityError('x'),
    new VfioRealizeError('x'),
  ];
  for (const e of bad) {
    assert.ok(e instanceof BadInputError, e.name);
    assert.is(e.exitCode, EXIT_BAD_INPUT, e.name);
  }
  for (const e of failures) {
    assert.ok(e instanceof VdmError, e.name);
    assert.is(e.exitCode, EXIT_FAILURE, e.name);
  }
});

test('a VdmError carries its cause', () => {
  const root = new Error('ENOSPC');
  const e = new VdmError('could not write', { cause: root });
  assert.is(e.cause, root);
  assert.is(new VdmError('x', { exitCode: EXIT_BAD_INPUT }).exitCode, EXIT_BAD_INPUT);
});

test.run();
