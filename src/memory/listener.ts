import { EventEmitter } from 'eventemitter3';
import type { MemoryRegionSection } from './flat-view.ts';

/** Events a MemoryListener receives, named after QEMU's callbacks. */
export interface MemoryListenerEvents {
  begin: [];
  commit: [];
  'region-add': [MemoryRegionSection];
  'region-del': [MemoryRegionSection];
  'region-nop': [MemoryRegionSection];
}

/**
 * QEMU's MemoryListener as an event emitter. Lower `priority` runs earlier for add/nop and later
 * for del (memory.c:MEMORY_LISTENER_UPDATE_REGION Forward/Reverse).
 */
export class MemoryListener extends EventEmitter<MemoryListenerEvents> {
  constructor(
    readonly name = 'listener',
    readonly priority = 0,
  ) {
    super();
  }
}

/** Inserts after every listener of lower-or-equal priority (memory.c:memory_listener_register). */
export function insertByPriority(list: MemoryListener[], l: MemoryListener): void {
  let i = list.length;
  while (i > 0 && list[i - 1]!.priority > l.priority) i--;
  list.splice(i, 0, l);
}
