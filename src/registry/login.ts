/** `berth login` and `berth logout` as library calls: verify against the registry, then store or erase. */

import { RegistryClient, type RegistryOptions } from "./client.ts";
import { type Env, eraseCredential, storeCredential } from "./credentials.ts";

export interface LoginOptions extends Omit<RegistryOptions, "credential"> {
  env?: Env;
}

/**
 * Check the credentials against the registry (GET /v2/, through the token flow when it asks for one) and,
 * when accepted, store them (credential helper, else config.json written atomically with mode 0600).
 * Returns where they were stored. A rejection is a REGISTRY_UNAUTHORIZED error that names no secret.
 */
export async function login(
  registry: string,
  username: string,
  password: string,
  options: LoginOptions = {},
): Promise<string> {
  const client = await new RegistryClient({
    ...options,
    credential: async () => ({ kind: "basic", username, password }),
  }).init();
  try {
    await client.ping(registry);
  } finally {
    await client.close();
  }
  return storeCredential(registry, username, password, { env: options.env ?? {} });
}

/** Forget the stored credentials of a registry; false when there were none. */
export function logout(registry: string, options: { env?: Env } = {}): Promise<boolean> {
  return eraseCredential(registry, { env: options.env ?? {} });
}
