/** A real registry and a client of it (no retries) for a test file: started before its tests, stopped after. */
import { afterAll, beforeAll } from "vitest";
import { RegistryClient } from "../../../src/registry/client.ts";
import { type RegistryHarness, startRegistry } from "./registry.ts";

export interface RegistryAndClient {
  reg: RegistryHarness;
  client: RegistryClient;
}

export function registryAndClient(): RegistryAndClient {
  const t = {} as RegistryAndClient;
  beforeAll(async () => {
    t.reg = await startRegistry();
    t.client = new RegistryClient({ retry: { attempts: 1 } });
  });
  afterAll(async () => {
    await t.client?.close();
    await t.reg?.stop();
  });
  return t;
}
