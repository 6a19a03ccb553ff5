// Module hook: the test files' `import ... from 'uvu'` gets uvu with counting test functions.
export async function resolve(specifier, context, next) {
  if (specifier === 'uvu' && context.parentURL?.includes('/tests/'))
    return { url: new URL('./uvu-counted.mjs', import.meta.url).href, shortCircuit: true };
  return next(specifier, context);
}
