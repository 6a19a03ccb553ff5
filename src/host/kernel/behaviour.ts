/** A host kernel version, "major.minor", and the VFIO behaviours that changed along the way. */
export interface KernelBehaviour {
  version: string;
  /** 4.6+: region info capability chains (sparse mmap). */
  capabilityChains: boolean;
  /** 4.16+: the MSI-X BAR is mappable and reported with MSIX_MAPPABLE (a32295c612c5). */
  msixMappable: boolean;
  /** 4.8+: sub-page BARs alone in their page may be mmapped. */
  subPageMmap: boolean;
  /** 5.19+: DMA ownership (claim_dma_owner) decides viability; before, the driver allow list. */
  dmaOwnership: boolean;
  /** 6.5+: dynamic MSI-X allocation, so MSI-X IRQ info drops NORESIZE. */
  dynamicMsix: boolean;
  /** 5.8+: mmap faults SIGBUS and BAR read/write give -EIO while memory decode is off. */
  memoryDecodeChecks: boolean;
  /** 5.13+: PAMU multi-window support removed from mainline. */
  pamuWindowsRemoved: boolean;
}

/** Parses "4.15", "5.19.3" or "6.8" and derives what that kernel does. */
export function kernelBehaviour(version: string): KernelBehaviour {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) throw new RangeError(`kernel version "${version}" is not "major.minor"`);
  const v = Number(m[1]) * 1000 + Number(m[2]);
  const atLeast = (major: number, minor: number) => v >= major * 1000 + minor;
  return {
    version,
    capabilityChains: atLeast(4, 6),
    msixMappable: atLeast(4, 16),
    subPageMmap: atLeast(4, 8),
    dmaOwnership: atLeast(5, 19),
    dynamicMsix: atLeast(6, 5),
    memoryDecodeChecks: atLeast(5, 8),
    pamuWindowsRemoved: atLeast(5, 13),
  };
}
