// PAPR interface numbers a pseries guest and the machine both use (LoPAPR; QEMU include/hw/ppc/spapr.h).

/** RTAS status codes (hw/ppc/spapr_rtas.c, include/hw/ppc/spapr.h). */
export const RTAS_OUT_SUCCESS = 0;
export const RTAS_OUT_HW_ERROR = -1;
export const RTAS_OUT_PARAM_ERROR = -3;

/** ibm,change-msi function codes (hw/ppc/spapr_pci.c). */
export const RTAS_QUERY_FN = 0;
export const RTAS_CHANGE_FN = 1;
export const RTAS_RESET_FN = 2;
export const RTAS_CHANGE_MSI_FN = 3;
export const RTAS_CHANGE_MSIX_FN = 4;
