// uvu's API with every declared test counted (test(...) and test.only(...); test.skip is uvu's own
// count), and a test declared after its own file called test.run() reported by name: uvu's `test`
// is one object shared by every file, so such a test silently runs with the next file, or never.
import * as uvu from 'uvu';

const ranFiles = new Set();

function declare(name) {
  globalThis.VDM_DECLARED_TESTS++;
  const file = globalThis.UVU_INDEX ?? 0;
  if (ranFiles.has(file)) globalThis.VDM_LATE_TESTS.push(name);
}

function counted(t) {
  const { only, run } = t;
  t.only = (name, ...rest) => {
    declare(name);
    return only(name, ...rest);
  };
  t.run = () => {
    ranFiles.add(globalThis.UVU_INDEX ?? 0);
    return run();
  };
  return new Proxy(t, {
    apply(target, self, args) {
      declare(args[0]);
      return Reflect.apply(target, self, args);
    },
  });
}

export const suite = (...args) => counted(uvu.suite(...args));
export const test = counted(uvu.test);
export const exec = uvu.exec;
