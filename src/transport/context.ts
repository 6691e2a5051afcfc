import { join } from "node:path";

/** What transports need from the environment; built by the CLI, so that library code never reads process.*. */
export interface TransportContext {
  /** BERTH_HOME: the store and every cache live here. */
  home: string;
  /** Environment variables for credential lookup (DOCKER_CONFIG, REGISTRY_AUTH_FILE, HOME, …). */
  env: Record<string, string | undefined>;
  /** Registries reached over plain HTTP besides localhost. */
  insecureRegistries?: string[];
  caCert?: string;
  /** Parallel blob transfers. */
  jobs?: number;
  /** Receives diagnostics (retries, fallbacks); never credentials. */
  logger?: { debug?: (line: string) => void; info?: (line: string) => void; warn?: (line: string) => void };
}

export function tmpDirOf(ctx: TransportContext): string {
  return join(ctx.home, "tmp");
}
