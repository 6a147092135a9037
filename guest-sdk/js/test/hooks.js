//! The resolve hook registered by `register.js`: maps the two specifiers that only exist
//! inside a component (the SDK's name and the WIT host interface) to files of this package.

const targets = {
  sessionhost: new URL("../src/sessionhost.js", import.meta.url).href,
  "sessionhost:session/host@0.1.0": new URL("./fake-host.js", import.meta.url).href,
};

export async function resolve(specifier, context, next) {
  const url = targets[specifier];
  if (url !== undefined) return { url, shortCircuit: true };
  return next(specifier, context);
}
