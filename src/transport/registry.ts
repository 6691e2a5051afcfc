import { parseReference, type Reference } from "../oci/reference.ts";
import { openRegistryClient, type RegistryClient, type RegistryOptions } from "../registry/index.ts";
import type { TransportContext } from "./context.ts";

/** Registry client options from the transport context (credentials come from ctx.env). */
export function registryOptions(ctx: TransportContext): RegistryOptions {
  return {
    env: ctx.env,
    ...(ctx.insecureRegistries ? { insecure: ctx.insecureRegistries } : {}),
    ...(ctx.caCert ? { caCert: ctx.caCert } : {}),
    ...(ctx.jobs ? { jobs: ctx.jobs } : {}),
    ...(ctx.logger ? { logger: ctx.logger } : {}),
  };
}

export function openClient(ctx: TransportContext): Promise<RegistryClient> {
  return openRegistryClient(registryOptions(ctx));
}

/** The tag or digest to ask a registry for. */
export function referenceTarget(ref: Reference): string {
  return ref.digest ?? ref.tag ?? "latest";
}

export { registrySink } from "../registry/index.ts";
export { parseReference };
