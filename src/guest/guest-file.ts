import { FileError, Reader, parseJson, readInputFile } from '../util/json-reader.ts';

/** A malformed guest program: names the file, the field path and what was expected. */
export class GuestFileError extends FileError {
  override name = 'GuestFileError';
}

/** A synthetic guest program (machines/guests/*.json): what its NIC driver does after firmware. */
export interface GuestProgram {
  file: string;
  name: string;
  description: string;
  /** MSI-X vectors the driver asks for (1 ..). */
  vectors: number;
  /** Transmit ring entries and buffer size in bytes. */
  ringSize: number;
  bufferSize: number;
  /** Workload loop: each iteration posts one descriptor and rings the doorbell. */
  iterations: number;
  /** STATUS reads per iteration (a driver polling link state). */
  statusReads: number;
  /** Mask vector 0 for one iteration every N iterations (0 = never): the PBA path. */
  maskEvery: number;
  /** Misbehave: garbage config writes, table/PBA scribbles, unmapped accesses, DMA outside mappings. */
  misbehave: boolean;
  /** Guest time between iterations, in microseconds (timers such as x-intx-mmap-timeout-ms run on it). */
  iterationUs: number;
  /** Do not use MSI-X / MSI (Linux pci=nomsi, or a driver's own switch): fall back to MSI, then INTx. */
  noMsix: boolean;
  noMsi: boolean;
}

/** The longest workload vdm runs: about 15 s on one core (a run reports only at the end). */
export const MAX_ITERATIONS = 1_000_000;

/** Parses and validates a guest program. */
export function parseGuestFile(text: string, file = '<guest>'): GuestProgram {
  const r = new Reader(file, parseJson(text, file, GuestFileError), '', GuestFileError);
  r.onlyKeys([
    'name',
    'description',
    'vectors',
    'ringSize',
    'bufferSize',
    'iterations',
    'statusReads',
    'maskEvery',
    'misbehave',
    'iterationUs',
    'noMsix',
    'noMsi',
  ]);
  const ringSize = r.at('ringSize').int(2, 4096);
  const bufferSize = r.at('bufferSize').int(1, 4096);
  return {
    file,
    name: r.at('name').string(),
    description: r.has('description') ? r.at('description').string() : '',
    vectors: r.at('vectors').int(1, 2048),
    ringSize,
    bufferSize,
    iterations: r.at('iterations').int(0, MAX_ITERATIONS),
    statusReads: r.has('statusReads') ? r.at('statusReads').int(0, 100) : 1,
    maskEvery: r.has('maskEvery') ? r.at('maskEvery').int(0, 1_000_000) : 0,
    misbehave: r.has('misbehave') ? r.at('misbehave').bool() : false,
    iterationUs: r.has('iterationUs') ? r.at('iterationUs').int(0, 10_000_000) : 10,
    noMsix: r.has('noMsix') ? r.at('noMsix').bool() : false,
    noMsi: r.has('noMsi') ? r.at('noMsi').bool() : false,
  };
}

/** Reads a guest program from disk; `display` is the name errors and reports show (default: the path). */
export function loadGuestFile(path: string, display = path) {
  return parseGuestFile(readInputFile(path, 'guest program', GuestFileError, undefined, display), display);
}
