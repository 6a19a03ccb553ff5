import BTreeModule from 'sorted-btree';

// sorted-btree is CommonJS with `exports.default`: Node's ESM loader and bundlers disagree on
// which object the default import is, so accept both.
export const BTree = ((BTreeModule as unknown as { default?: typeof BTreeModule }).default ??
  BTreeModule) as typeof BTreeModule;
export type BTree<K, V> = BTreeModule<K, V>;
