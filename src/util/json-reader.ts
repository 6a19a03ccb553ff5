import { closeSync, openSync, readSync } from 'node:fs';
import { BadInputError } from './errors.ts';

/**
 * A malformed input file (host, machine or guest): names the file, the field path and what was
 * expected, so the user can fix it without reading vdm's source.
 */
export class FileError extends BadInputError {
  override name = 'FileError';

  constructor(
    readonly file: string,
    readonly path: string,
    readonly expected: string,
  ) {
    super(`${file}: ${path || '(top level)'}: ${expected}`);
  }
}

export type FileErrorClass = new (file: string, path: string, expected: string) => FileError;

/** No input file vdm reads is near this; anything larger (or endless, like /dev/zero) is refused. */
export const INPUT_SIZE_CAP = 64 * 1024 * 1024;

/**
 * Reads an input file, at most `cap` bytes: reading stops there whatever the file is (a device,
 * a FIFO), so /dev/zero is refused rather than read until memory runs out. A missing, unreadable
 * or oversized file is a FileError naming it and what it should be.
 */
export function readInputFile(
  path: string,
  what: string,
  ErrorClass: FileErrorClass = FileError,
  cap = INPUT_SIZE_CAP,
  display = path,
): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new ErrorClass(
      display,
      '(file)',
      `a readable ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(1 << 20, cap + 1 - total));
      let n: number;
      try {
        n = readSync(fd, chunk, 0, chunk.length, null);
      } catch (e) {
        throw new ErrorClass(
          display,
          '(file)',
          `a readable ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        );
      }
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > cap)
        throw new ErrorClass(
          display,
          '(file)',
          `a ${what} of at most ${cap >= 1 << 20 ? `${cap / (1 << 20)} MiB` : `${cap} bytes`}; this one is ` +
            'larger (or has no end, like a device)',
        );
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Parses JSON text, turning a syntax error into a FileError. */
export function parseJson(text: string, file: string, ErrorClass: FileErrorClass = FileError): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ErrorClass(file, '(file)', `valid JSON (${(e as Error).message})`);
  }
}

/** A cursor over untrusted JSON that names the field path in every error. */
export class Reader {
  constructor(
    readonly file: string,
    readonly value: unknown,
    readonly path: string,
    private readonly ErrorClass: FileErrorClass = FileError,
  ) {}

  fail(expected: string): never {
    throw new this.ErrorClass(this.file, this.path, expected);
  }

  at(key: string): Reader {
    const obj = this.object();
    return new Reader(this.file, obj[key], this.path ? `${this.path}.${key}` : key, this.ErrorClass);
  }

  has(key: string): boolean {
    const v = this.object()[key];
    return v !== undefined && v !== null;
  }

  object(): Record<string, unknown> {
    if (typeof this.value !== 'object' || this.value === null || Array.isArray(this.value))
      this.fail(`expected an object, got ${describe(this.value)}`);
    return this.value as Record<string, unknown>;
  }

  onlyKeys(keys: string[]): void {
    for (const k of Object.keys(this.object()))
      if (!keys.includes(k))
        new Reader(this.file, undefined, `${this.path ? this.path + '.' : ''}${k}`, this.ErrorClass).fail(
          `unknown field (expected one of: ${keys.join(', ')})`,
        );
  }

  array(): Reader[] {
    if (!Array.isArray(this.value)) this.fail(`expected an array, got ${describe(this.value)}`);
    return (this.value as unknown[]).map((v, i) => new Reader(this.file, v, `${this.path}[${i}]`, this.ErrorClass));
  }

  string(): string {
    if (typeof this.value !== 'string') this.fail(`expected a string, got ${describe(this.value)}`);
    return this.value as string;
  }

  oneOf<T extends string>(choices: readonly T[]): T {
    const s = this.string();
    if (!choices.includes(s as T)) this.fail(`expected one of ${choices.join(', ')}, got ${describe(s)}`);
    return s as T;
  }

  bool(): boolean {
    if (typeof this.value !== 'boolean') this.fail(`expected true or false, got ${describe(this.value)}`);
    return this.value as boolean;
  }

  /** A non-negative integer given as a number or a "0x..." string. */
  big(): bigint {
    const v = this.value;
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
    if (typeof v === 'string' && /^(0x[0-9a-fA-F]+|\d+)$/.test(v.replace(/_/g, ''))) return BigInt(v.replace(/_/g, ''));
    this.fail(`expected a non-negative integer (number or "0x..." string), got ${describe(v)}`);
  }

  int(min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const n = this.big();
    if (n < BigInt(min) || n > BigInt(max)) this.fail(`expected an integer from ${min} to ${max}, got ${n}`);
    return Number(n);
  }

  /** A size: a power of two. */
  pow2(min = 1n): bigint {
    const n = this.big();
    if (n < min || (n & (n - 1n)) !== 0n)
      this.fail(`expected a power of two of at least ${min}, got 0x${n.toString(16)}`);
    return n;
  }
}

/** A value as an error message shows it: short, whatever its size or depth. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  // Never the whole value: it may be huge or nested deeper than JSON.stringify can go.
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return v.length > 60 ? `"${v.slice(0, 60)}..." (${v.length} characters)` : `"${v}"`;
  return `${typeof v} ${JSON.stringify(v)}`;
}
