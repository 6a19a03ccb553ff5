import { VdmError } from '../util/errors.ts';

/** Linux errno values the simulated kernel returns (include/uapi/asm-generic/errno-base.h). */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  ENOTTY: 25,
  EIO: 5,
  EBADFD: 77,
  ENOTSUP: 95,
  EOVERFLOW: 75,
} as const;

export type ErrnoName = keyof typeof ERRNO;

/**
 * A failed VFIO call, as the kernel reports it: an errno, plus a message that says what went
 * wrong and what to do ("group 7 is not viable: 0000:03:00.1 is bound to ixgbe; ...").
 */
export class VfioError extends VdmError {
  override name = 'VfioError';
  readonly errno: number;

  constructor(
    readonly code: ErrnoName,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.errno = ERRNO[code];
  }
}
