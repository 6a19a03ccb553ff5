// Accesses made while another is under way: from a memory listener while a commit patches the views
// in place (before each address space has its new view), and from a device callback reached by the
// miss path. Each must answer as the miss path does (a stats-on address space, which never uses a
// fast path), never from a page index, offsets, callbacks or a result left over from before.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  MEMTX_DECODE_ERROR,
  MEMTX_OK,
  MemoryListener,
  MemorySystem,
  U64_SPAN,
  type AddressSpace,
  type MemoryRegion,
} from '../../src/memory/index.ts';

/** A device whose 4-byte register at offset o reads as tag + o (so a wrong offset or device shows). */
function device(mem: MemorySystem, name: string, tag: number, size = 0x1000): MemoryRegion {
  return mem.io(name, size, {
    read: (o) => tag + o,
    write: () => {},
    valid: { minAccessSize: 4, maxAccessSize: 4 },
    impl: { maxAccessSize: 4 },
    endianness: 'little',
  });
}

/** 15 devices at 0x2000 * (k + 1): sections 1..15, and a page index built by 64 misses. */
function machine(): { mem: MemorySystem; root: MemoryRegion; as: AddressSpace } {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  mem.transaction(() => {
    for (let k = 0; k < 15; k++) {
      const dev = device(mem, `dev${k}`, 0x1000_0000 * (k + 1));
      root.addSubregion(0x2000 * (k + 1), dev);
    }
  });
  const as = mem.addressSpace('memory', root);
  for (let k = 0; k < 64; k++) as.read(0x100_0000, 4);
  assert.ok(as.dispatch.pages.length > 0, 'the page index is built');
  assert.is(as.read(0x2010, 4), 0x1000_0010, 'served from the page index');
  return { mem, root, as };
}

/** Runs `change` in a commit whose listener reads `addr` at `begin`, the first thing a commit tells listeners. */
function readAtBegin(as: AddressSpace, addr: number, change: () => void): number {
  const l = new MemoryListener('reader');
  let got = -1;
  let armed = false;
  l.on('begin', () => {
    if (armed) got = as.read(addr, 4);
  });
  as.addListener(l);
  armed = true;
  change();
  armed = false;
  return got;
}

test('a listener at commit reads a device added where the page index has room, at its own offsets', () => {
  const { mem, root, as } = machine();
  const late = device(mem, 'late', 0x7000_0000);
  // Section 16 outgrows the dispatch's section arrays, its per-section offsets among them.
  const got = readAtBegin(as, 0x1_1010, () => root.addSubregion(0x1_1000, late));
  assert.is(got, 0x7000_0010, 'offset 0x10 of the new device, as the miss path answers');
  assert.is(as.read(0x1_1010, 4), 0x7000_0010, 'and after the commit');
});

test('a listener at commit never reaches a removed device through a page index rebuilt at a finer block', () => {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const dev = device(mem, 'dev', 0x1000_0000, 0x10_0000);
  root.addSubregion(0x100_0000, dev);
  const as = mem.addressSpace('memory', root);
  for (let k = 0; k < 64; k++) as.read(0x200_0000, 4);
  assert.is(as.dispatch.pageShift, 20, 'blocks of 1 MiB');
  assert.is(as.read(0x100_0010, 4), 0x1000_0010, 'served from the page index');
  // One commit: a 4 KiB device below (the index is rebuilt in 4 KiB blocks), and dev goes.
  const small = device(mem, 'small', 0x7000_0000);
  const got = readAtBegin(as, 0x100_0010, () =>
    mem.transaction(() => {
      root.addSubregion(0x1000, small);
      root.delSubregion(dev);
    }),
  );
  assert.is(got, 0, 'nothing is at 0x1000010 any more: unassigned reads as 0');
  assert.is(as.read(0x1010, 4), 0x7000_0010);
});

test('an access from a callback the miss path makes after a failed access reports its own result', () => {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const peer = device(mem, 'peer', 0x1000_0000);
  // A device that takes 4-byte accesses only (impl.min 4: a 1-byte store is a wide callback, off the
  // direct paths) and, when written, reads the peer's register through the same address space.
  const seen: number[] = [];
  const dev = mem.io('dev', 0x1000, {
    read: () => 0,
    write: () => {
      seen.push(as.read(0x1_0010, 4), as.result);
    },
    impl: { minAccessSize: 4, maxAccessSize: 4 },
    endianness: 'little',
  });
  mem.transaction(() => {
    root.addSubregion(0x1_0000, peer);
    root.addSubregion(0x2_0000, dev);
  });
  const as = mem.addressSpace('memory', root);
  for (let k = 0; k < 64; k++) as.read(0x100_0000, 4); // builds the page index; each read fails
  assert.is(as.result, MEMTX_DECODE_ERROR);
  assert.is(as.write(0x2_0000, 1, 1), MEMTX_OK);
  // physmem.c:flatview_read_continue: the peer's read is its own transaction, and it succeeded.
  assert.equal(seen, [0x1000_0010, MEMTX_OK]);
});

test('a failed access from inside a callback on the general path leaves the outer access its own result', () => {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const strict = device(mem, 'strict', 0x1000_0000); // 4-byte accesses only
  // Big-endian: every access takes the general path (memory_region_dispatch_read with a swap).
  const dev = mem.io('dev', 0x1000, {
    read: () => {
      as.read(0x1_0001, 1); // refused by strict's valid rules: MemTx.DecodeError for that access
      return 0x1234;
    },
    write: () => void as.write(0x1_0001, 0, 1),
    endianness: 'big',
  });
  mem.transaction(() => {
    root.addSubregion(0x1_0000, strict);
    root.addSubregion(0x2_0000, dev);
  });
  const as = mem.addressSpace('memory', root);
  // memory.c:memory_region_dispatch_read/write return their own MemTxResult; physmem.c:
  // flatview_read_continue ORs only the outer access's, whatever the device did meanwhile.
  assert.is(as.read(0x2_0000, 2), 0x3412);
  assert.is(as.result, MEMTX_OK, 'read');
  assert.is(as.write(0x2_0000, 1, 2), MEMTX_OK);
  assert.is(as.result, MEMTX_OK, 'write');
  as.stats = true;
  as.resetCounters();
  as.read(0x2_0000, 2);
  assert.is(as.counters.invalid, 1, 'the refused inner access only');
  assert.is(as.counters.mmio, 1, 'the outer access is a device access');
});

test('a destroyed address space answers as an empty one, not from a page index later commits outdate', () => {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const dev = device(mem, 'dev', 0x1000_0000, 0x10_0000);
  root.addSubregion(0x100_0000, dev);
  mem.addressSpace('memory', root); // keeps the view, so commits patch it in place
  const dma = mem.addressSpace('dma', root);
  for (let k = 0; k < 64; k++) dma.read(0x200_0000, 4);
  assert.is(dma.read(0x100_0010, 4), 0x1000_0010, 'served from the page index');
  mem.removeAddressSpace(dma);
  // memory.c:address_space_destroy commits the address space with no root: an empty view from then on.
  assert.is(dma.read(0x100_0010, 4), 0);
  assert.is(dma.result, MEMTX_DECODE_ERROR);
  mem.transaction(() => {
    root.addSubregion(0x1000, device(mem, 'small', 0x7000_0000));
    root.delSubregion(dev);
  });
  assert.is(dma.read(0x100_0010, 4), 0);
  assert.is(dma.result, MEMTX_DECODE_ERROR);
});

test('a failed access from inside a direct callback leaves the outer access its own result, on every path', () => {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const strict = device(mem, 'strict', 0x1000_0000); // 4-byte accesses only
  // Little-endian and 4-byte: served by direct callbacks from the miss path, then from the page
  // index (4 bytes) and the MMIO window (1, 2 and 8 bytes, as two 4-byte calls). While `failing`,
  // each callback first makes an access the strict device refuses, as a doorbell whose DMA fails
  // would; the access before it was a clean one, so the fast paths are open when it starts.
  let failing = false;
  const refuse = () => failing && as.read(0x1_0001, 1);
  const dev = mem.io('dev', 0x1000, {
    read: (o) => {
      refuse();
      return 0x1234 + o;
    },
    write: () => void refuse(),
    valid: { minAccessSize: 1, maxAccessSize: 8 },
    impl: { maxAccessSize: 4 },
    endianness: 'little',
  });
  mem.transaction(() => {
    root.addSubregion(0x1_0000, strict);
    root.addSubregion(0x2_0000, dev);
  });
  const as = mem.addressSpace('memory', root);
  // memory.c:memory_region_dispatch_read/write return each access's MemTxResult by value.
  const wrong: string[] = [];
  for (let k = 0; k < 100; k++) {
    for (const size of [4, 1, 2, 8]) {
      const at = 0x2_0000 + 8 * (k % 4);
      for (failing of [false, false, true]) {
        const v = as.read(at, size);
        if (v !== (0x1234 + 8 * (k % 4)) % 2 ** (8 * Math.min(size, 4)) || as.result !== MEMTX_OK)
          wrong.push(`read ${size} #${k}${failing ? ' failing' : ''}: ${v.toString(16)} ${as.result}`);
      }
      for (failing of [false, false, true]) {
        const r = as.write(at, 1, size);
        if (r !== MEMTX_OK || as.result !== MEMTX_OK)
          wrong.push(`write ${size} #${k}${failing ? ' failing' : ''}: ${r} ${as.result}`);
      }
    }
  }
  assert.ok(as.dispatch.pages.length > 0, 'the page index was built and used');
  assert.equal(wrong, []);
});

test('a failed access from inside a callback leaves the outer access its own result on the miss path and through a RAM-device backing', () => {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const strict = device(mem, 'strict', 0x1000_0000); // 4-byte accesses only
  let failing = false;
  const refuse = () => failing && as.read(0x1_0001, 1);
  const ops = {
    read: (o: number) => {
      refuse();
      return 0x1234 + o;
    },
    write: () => void refuse(),
  };
  const dev = mem.io('dev', 0x1000, {
    ...ops,
    valid: { minAccessSize: 1, maxAccessSize: 8 },
    impl: { maxAccessSize: 4 },
    endianness: 'little',
  });
  // A RAM device backed by callbacks (an mmapped BAR whose accesses the host model serves).
  const ramd = mem.ramDevice('ramd', 0x1000, {
    read: (o, size) => ops.read(o) % 2 ** (8 * size),
    write: ops.write,
  });
  mem.transaction(() => {
    root.addSubregion(0x1_0000, strict);
    root.addSubregion(0x2_0000, dev);
    root.addSubregion(0x3_0000, ramd);
  });
  const as = mem.addressSpace('memory', root);
  const wrong: string[] = [];
  for (const base of [0x2_0000, 0x3_0000]) {
    for (const size of [1, 2, 4, 8]) {
      if (base === 0x3_0000 && size === 8) continue; // a RAM device is 1 to 4 bytes here
      // The unassigned read closes every window, so the failing access is served by the miss path.
      as.read(0x5_0000, 4);
      failing = true;
      const v = as.read(base + 8, size);
      const r = as.result;
      as.read(0x5_0000, 4);
      const w = as.write(base + 8, 1, size);
      const rw = as.result;
      failing = false;
      if (v !== (0x1234 + 8) % 2 ** (8 * Math.min(size, 4)) || r !== MEMTX_OK)
        wrong.push(`read ${size} at ${base.toString(16)}: ${v.toString(16)} ${r}`);
      if (w !== MEMTX_OK || rw !== MEMTX_OK) wrong.push(`write ${size} at ${base.toString(16)}: ${w} ${rw}`);
    }
  }
  assert.equal(wrong, []);
});

test('a split access made by a device during a split access leaves the outer bytes alone (each has its own buffer)', () => {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  // Four byte-wide devices (impl.max 1): a 4-byte access across two of them goes one piece at a
  // time through physmem.c:flatview_write_continue / flatview_read_continue, each piece one byte
  // callback (access_with_adjusted_size). A and B, when `nested`, make such an access to C and D.
  const writes: string[] = [];
  let nested = false;
  const dev = (name: string, at: number, onAccess: () => void) => {
    const tag = (at >> 12) * 0x10 + 0x90; // A reads 0xa0 + the offset's low nibble, B 0xb0, ...
    const mr = mem.io(name, 0x1000, {
      read: (o) => {
        onAccess();
        return tag | (o & 0x0f);
      },
      write: (o, v) => {
        onAccess();
        writes.push(`${name}+${o.toString(16)}=${Number(v).toString(16)}`);
      },
      valid: { minAccessSize: 1, maxAccessSize: 4, unaligned: true },
      impl: { maxAccessSize: 1 },
      endianness: 'little',
    });
    root.addSubregion(at, mr);
  };
  mem.transaction(() => {
    // A's second byte (a write) and B's first (a read) come when the outer access's buffer holds bytes.
    dev('A', 0x1000, () => {
      if (nested && writes.length === 1) as.write(0x3ffe, 0xdddddddd, 4);
    });
    dev('B', 0x2000, () => {
      if (nested && writes.length === 0) {
        nested = false;
        as.read(0x3ffe, 4);
      }
    });
    dev('C', 0x3000, () => {});
    dev('D', 0x4000, () => {});
  });
  const as = mem.addressSpace('memory', root);
  nested = true;
  assert.is(as.write(0x1ffe, 0x11223344, 4), MEMTX_OK);
  assert.equal(
    writes.filter((w) => w.startsWith('A') || w.startsWith('B')),
    ['A+ffe=44', 'A+fff=33', 'B+0=22', 'B+1=11'],
    "B gets the outer access's bytes",
  );
  writes.length = 0;
  nested = true;
  // A+ffe, A+fff, B+0, B+1 read 0xae 0xaf 0xb0 0xb1; the nested read's C and D bytes differ.
  assert.is(as.read(0x1ffe, 4), 0xb1b0afae, "A's bytes survive B's nested read");
  assert.is(as.result, MEMTX_OK);
});

test('past 2^53 (readAt/writeAt, byte by byte): a RAM-device backing that makes a failed access leaves the outer access Ok', () => {
  const mem = new MemorySystem();
  const root = mem.container('system', U64_SPAN);
  const strict = device(mem, 'strict', 0x1000_0000); // 4-byte accesses only
  let failing = false;
  const refuse = () => failing && as.read(0x1_0001, 1);
  const ramd = mem.ramDevice('ramd', 0x1000, {
    read: (o, size) => {
      refuse();
      return (0x1234 + o) % 2 ** (8 * size);
    },
    write: () => void refuse(),
  });
  const HIGH = 1n << 60n;
  mem.transaction(() => {
    root.addSubregion(0x1_0000, strict);
    root.addSubregion(HIGH, ramd);
  });
  const as = mem.addressSpace('memory', root);
  failing = true;
  assert.is(as.readAt(HIGH + 8n, 1), 0x3cn);
  assert.is(as.result, MEMTX_OK, 'read');
  assert.is(as.writeAt(HIGH + 8n, 1n, 1), MEMTX_OK, 'write');
  assert.is(as.result, MEMTX_OK);
});

test.run();
