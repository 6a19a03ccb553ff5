// The layers of ARCHITECTURE.md, enforced: every import in src/ is read with the TypeScript parser and
// checked against what its layer may use. A new import across the layers fails here with the file,
// the line and the rule it breaks; widening a rule is a decision for ARCHITECTURE.md, not a patch.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** What each layer may import from src/ (besides itself). Bottom first. */
const MAY_IMPORT: Record<string, string[]> = {
  // The error base and the JSON file reader: used by every layer, use nothing.
  util: [],
  // Facts both sides of the VFIO boundary share (register numbers, the uAPI, datasheets). Their
  // errors (VfioError) extend the one error base, hence util.
  common: ['util'],
  memory: ['common', 'util'],
  pci: ['memory', 'common', 'util'],
  // The simulated host knows nothing of the VMM: not its memory core, not its PCI model.
  host: ['common', 'util'],
  // The VMM reaches the host only through src/common/vfio-api.ts.
  vfio: ['pci', 'memory', 'common', 'util'],
  machine: ['vfio', 'pci', 'memory', 'common', 'util'],
  // A guest sees loads and stores, config cycles, RTAS and interrupts: memory and pci only as types.
  guest: ['common', 'util'],
  // The memory map: a picture of a booted machine's address spaces.
  map: ['machine', 'vfio', 'pci', 'memory', 'common', 'util'],
  // The one place that sees a host and a machine together.
  run: ['guest', 'machine', 'vfio', 'host', 'pci', 'memory', 'common', 'util'],
  cli: ['run', 'map', 'guest', 'machine', 'vfio', 'host', 'pci', 'memory', 'common', 'util'],
};

/** Layers another layer may import with `import type` only (types describe, they carry no behaviour). */
const MAY_IMPORT_TYPES: Record<string, string[]> = {
  guest: ['memory', 'pci'],
};

/**
 * Imports against the layers that are accepted for now, each with its reason. Keep it empty: an
 * entry is a debt, named here so it is seen.
 */
const ALLOWED: { from: string; to: string; why: string }[] = [];

interface Edge {
  file: string;
  line: number;
  from: string;
  to: string;
  typeOnly: boolean;
  spec: string;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The layer of a file under src/: its first folder (src/index.ts, the package barrel, is "root"). */
function layerOf(file: string): string {
  const parts = relative(SRC, file).split(sep);
  return parts.length > 1 ? parts[0]! : 'root';
}

/** Every import and re-export of a source file that points into src/, with its line. */
function importsOf(file: string, text = readFileSync(file, 'utf8')): Edge[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const out: Edge[] = [];
  const add = (node: ts.Node, spec: ts.Expression | undefined, typeOnly: boolean) => {
    if (!spec || !ts.isStringLiteral(spec) || !spec.text.startsWith('.')) return;
    const target = resolve(dirname(file), spec.text);
    if (!target.startsWith(SRC)) return;
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    out.push({ file: relative(SRC, file), line, from: layerOf(file), to: layerOf(target), typeOnly, spec: spec.text });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const c = node.importClause;
      const allTypes =
        !!c &&
        (c.isTypeOnly ||
          (!c.name &&
            !!c.namedBindings &&
            ts.isNamedImports(c.namedBindings) &&
            c.namedBindings.elements.length > 0 &&
            c.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(node, node.moduleSpecifier, allTypes);
    } else if (ts.isExportDeclaration(node)) add(node, node.moduleSpecifier, node.isTypeOnly);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword)
      add(node, node.arguments[0], false);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument))
      add(node, node.argument.literal as ts.Expression, true);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** Why an edge breaks the layers, or null when it is fine. */
function violation(e: Edge): string | null {
  if (e.from === e.to || e.from === 'root') return null;
  const may = MAY_IMPORT[e.from];
  if (!may) return `src/${e.from}/ is not a known layer: add it to ARCHITECTURE.md and to MAY_IMPORT`;
  if (may.includes(e.to)) return null;
  if (e.typeOnly && MAY_IMPORT_TYPES[e.from]?.includes(e.to)) return null;
  if (ALLOWED.some((a) => a.from === e.from && a.to === e.to)) return null;
  return (
    `${e.from} may not import ` + `${e.to}${MAY_IMPORT_TYPES[e.from]?.includes(e.to) ? ' (only with import type)' : ''}`
  );
}

test('every import in src/ follows the layers of ARCHITECTURE.md', () => {
  const files = tsFiles(SRC);
  assert.ok(files.length > 50, 'src/ was read');
  const bad = files
    .flatMap((f) => importsOf(f))
    .flatMap((e) => {
      const why = violation(e);
      return why ? [`src/${e.file}:${e.line}: imports '${e.spec}': ${why}`] : [];
    });
  assert.equal(bad, [], `imports against the layers:\n${bad.join('\n')}`);
});

test('the checker sees what it must: multi-line, type-only, re-exports, dynamic imports; and it fails on a ' +
  'broken layer', () => {
  const file = join(SRC, 'vfio', 'example.ts');
  const edges = importsOf(
    file,
    [
      "import {\n  VfioKernel,\n} from '../host/index.ts';",
      "import type { AddressSpace } from '../memory/index.ts';",
      "export * from '../common/vfio-api.ts';",
      "const m = await import('../guest/index.ts');",
      "import { readFileSync } from 'node:fs';",
    ].join('\n'),
  );
  assert.equal(
    edges.map((e) => [e.to, e.line, e.typeOnly]),
    [
      ['host', 1, false],
      ['memory', 4, true],
      ['common', 5, false],
      ['guest', 6, false],
    ],
  );
  assert.equal(
    edges.map((e) => violation(e)),
    ['vfio may not import host', null, null, 'vfio may not import guest'],
  );
  const guest = importsOf(
    join(SRC, 'guest', 'x.ts'),
    "import { AddressSpace } from '../memory/index.ts';\nimport type { MsiMessage } from '../pci/index.ts';",
  );
  assert.equal(
    guest.map((e) => violation(e)),
    ['guest may not import memory (only with import type)', null],
  );
});

test('every layer of src/ has a rule and the allow-list explains itself', () => {
  const layers = readdirSync(SRC, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  assert.equal(
    layers.filter((l) => !MAY_IMPORT[l]),
    [],
    'folders of src/ with no rule',
  );
  for (const a of ALLOWED) assert.ok(a.why.length > 20, `${a.from} -> ${a.to} needs its reason`);
});

test.run();
