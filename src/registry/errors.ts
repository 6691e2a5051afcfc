import { BerthError, type ErrorCode } from "../errors.ts";
import { parseJson } from "../util/json.ts";
import { type HttpResponse, readBody, redactUrl } from "./http.ts";

/** One entry of the distribution-spec error body `{"errors":[{code,message,detail}]}`. */
export interface RegistryErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

export function parseErrorBody(bytes: Buffer): RegistryErrorEntry[] {
  try {
    const doc = parseJson(bytes, "error body", "REGISTRY_ERROR") as { errors?: unknown };
    if (!Array.isArray(doc.errors)) return [];
    return doc.errors.filter(
      (e): e is RegistryErrorEntry => typeof e === "object" && e !== null && typeof e.code === "string",
    );
  } catch {
    return [];
  }
}

function codeFor(status: number, entries: RegistryErrorEntry[]): ErrorCode {
  const first = entries[0]?.code;
  switch (first) {
    case "MANIFEST_UNKNOWN":
      return "REGISTRY_MANIFEST_UNKNOWN";
    case "BLOB_UNKNOWN":
    case "MANIFEST_BLOB_UNKNOWN":
      return "REGISTRY_BLOB_UNKNOWN";
    case "NAME_UNKNOWN":
      return "REGISTRY_NAME_UNKNOWN";
    case "UNAUTHORIZED":
      return "REGISTRY_UNAUTHORIZED";
    case "DENIED":
      return "REGISTRY_DENIED";
    case "TOOMANYREQUESTS":
      return "REGISTRY_TOO_MANY_REQUESTS";
  }
  if (status === 401) return "REGISTRY_UNAUTHORIZED";
  if (status === 403) return "REGISTRY_DENIED";
  if (status === 429) return "REGISTRY_TOO_MANY_REQUESTS";
  return "REGISTRY_ERROR";
}

/** Turn an unexpected response into a BerthError naming the step, the URL (redacted) and the registry's words. */
export async function responseError(step: string, res: HttpResponse): Promise<BerthError> {
  let entries: RegistryErrorEntry[] = [];
  try {
    // At most 64 KiB within 5 s: past that the body is cut off with its connection (readBody).
    entries = parseErrorBody(await readBody(res, 64 * 1024, 5_000));
  } catch {
    // the body is only for the message
  }
  const code = codeFor(res.status, entries);
  const said = entries.map((e) => `${e.code}${e.message ? `: ${e.message}` : ""}`).join("; ");
  const url = redactUrl(res.url);
  let hint: string | undefined;
  if (code === "REGISTRY_UNAUTHORIZED") hint = "log in with `berth login` or check the stored credentials";
  if (code === "REGISTRY_DENIED") hint = "the credentials in use do not grant this access";
  if (code === "REGISTRY_TOO_MANY_REQUESTS") hint = "the registry is rate-limiting; try again later";
  // a tag the repository does not have: its tags say what there is
  const tagged = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(new URL(res.url).pathname);
  if (code === "REGISTRY_MANIFEST_UNKNOWN" && tagged && !tagged[2]!.includes(":")) {
    hint = `list the repository's tags: berth tags ${new URL(res.url).host}/${tagged[1]}`;
  }
  return new BerthError(code, `${step}: ${url} answered ${res.status}${said ? ` (${said})` : ""}`, {
    hint,
    details: { status: res.status, url, errors: entries },
  });
}

/** Wrap a network failure (reset, refused, timeout) as REGISTRY_UNREACHABLE. */
export function networkError(step: string, url: URL, err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  const e = err as { message?: string; code?: string };
  return new BerthError(
    "REGISTRY_UNREACHABLE",
    `${step}: ${redactUrl(url)}: ${e?.code ? `${e.code} ` : ""}${e?.message ?? String(err)}`,
    { cause: err, details: { url: redactUrl(url) } },
  );
}
