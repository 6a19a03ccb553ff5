import { VdmError } from '../util/errors.ts';
import { FileError } from '../util/json-reader.ts';

export { ERRNO, VfioError, type ErrnoName } from '../common/errno.ts';

/** A malformed host description: names the file, the field path and what was expected. */
export class HostFileError extends FileError {
  override name = 'HostFileError';
}

/** What the real kernel would do with a BUG_ON: the simulation stops and says where. */
export class KernelBug extends VdmError {
  override name = 'KernelBug';
}
