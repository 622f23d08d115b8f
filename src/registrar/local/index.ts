/** The local registrar (registrar.mode: local): bindings, REGISTER handling and calls to registered users. */
export { BindingStore, type Binding } from './binding-store.js';
export { LocalDomains } from './local-domains.js';
export { LocalRegistrar, type LocalRegistrarOptions } from './local-registrar.js';
export { LocalRouting } from './local-routing.js';
export { readRegister, aorOf, type RegisterIntent } from './register-request.js';

export type RegistrarMode = 'path' | 'local';

/**
 * registrar.mode as it applies: what the configuration says, else local when
 * the gateway has no backend to keep registrations (and is a proxy: the
 * B2BUA sends every call to a backend), else path.
 */
export function registrarMode(c: { mode: string; backends: Readonly<Record<string, unknown>>; registrar: { mode?: RegistrarMode | undefined } }): RegistrarMode {
  if (c.registrar.mode !== undefined) return c.registrar.mode;
  return Object.keys(c.backends).length === 0 && c.mode === 'proxy' ? 'local' : 'path';
}
