import { parseReference, type Reference } from "../oci/reference.ts";
import { openRegistryClient, type RegistryClient, type RegistryOptions } from "../registry/index.ts";
import { sharedState, type TransportContext } from "./context.ts";

/** Registry client options from the transport context (credentials come from ctx.env). */
export function registryOptions(ctx: TransportContext): RegistryOptions {
  const access = ctx.registryAccess ?? {};
  const given = access.credential;
  return {
    env: ctx.env,
    ...(given === undefined ? {} : { credential: async () => (given === "anonymous" ? undefined : given) }),
    authFile: access.authFile,
    certDir: access.certDir,
    secure: access.secure,
    ...(access.retry ? { retry: access.retry } : {}),
    insecure: ctx.insecureRegistries,
    caCert: ctx.caCert || undefined,
    jobs: ctx.jobs || undefined,
    logger: ctx.logger,
  };
}

/**
 * The registry client every source and sink of `ctx` shares, made on first use; the context's owner closes
 * it (`closeContext`), never a source or sink.
 */
export function sharedClient(ctx: TransportContext): Promise<RegistryClient> {
  const s = sharedState(ctx);
  if (!s.registry) {
    const made = openRegistryClient(registryOptions(ctx));
    s.registry = made;
    made.catch(() => {
      if (s.registry === made) s.registry = undefined;
    });
  }
  return s.registry;
}

/** The tag or digest to ask a registry for. */
export function referenceTarget(ref: Reference): string {
  return ref.digest ?? ref.tag ?? "latest";
}

export { registrySink } from "../registry/index.ts";
export { parseReference };
