/**
 * One repository of a registry: manifests, blobs, uploads, mounts, tags, referrers. It is a BlobSource (blobs
 * and manifests by descriptor, streamed and verified), so `loadRoot(repository, desc)` works over it.
 */
import { Readable } from "node:stream";
import { BerthError, wrapError } from "../errors.ts";
import { MAX_DOCUMENT_SIZE, type Opener, type RemoteBlobSource, verified } from "../oci/blob.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { type Digest, digestBytes, parseDigest, verifyBytes } from "../oci/digest.ts";
import { type Index, parseJson, sniffManifestMediaType } from "../oci/manifest.ts";
import { isIndex, isManifest, MANIFEST_ACCEPT, MediaType } from "../oci/mediatype.ts";
import { transferred } from "../util/memory.ts";
import { repositoryScope } from "./auth.ts";
import { networkError, type RegistryErrorEntry, responseError } from "./errors.ts";
import { isLoopbackRegistry, type RegistryHost } from "./host.ts";
import { discard, type HttpResponse, header, isTransientNetworkError, readBody, redactUrl } from "./http.ts";
import { uploadBlob } from "./upload.ts";

export interface Manifested {
  bytes: Buffer;
  descriptor: Descriptor;
}

export interface BlobReadOptions {
  onProgress?: ((bytes: number) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface BlobWriteOptions extends BlobReadOptions {
  /** Force a chunked (or monolithic: 0) upload instead of choosing by size. */
  chunkSize?: number | undefined;
}

const KNOWN_MANIFEST_TYPES = new Set<string>([...MANIFEST_ACCEPT, MediaType.DockerManifestV1Signed]);

function contentType(res: HttpResponse): string | undefined {
  return header(res, "content-type")?.split(";")[0]?.trim().toLowerCase();
}

/** PUTs of one manifest while the registry says a blob it has is unknown (100, 400, 1600 ms apart). */
const BLOB_RACE_RETRIES = 4;

function isDigest(reference: string): boolean {
  return reference.includes(":");
}

/** Parse `Link: <url>; rel="next"`. */
export function nextLink(value: string | undefined): string | undefined {
  if (!value) return undefined;
  for (const part of value.split(",")) {
    const m = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(part);
    if (m) return m[1];
  }
  return undefined;
}

/** The fallback tag of the referrers scheme: `sha256-<hex>`. */
export function referrersTag(digest: Digest): string {
  const { algorithm, encoded } = parseDigest(digest);
  return `${algorithm}-${encoded}`.slice(0, 128);
}

/** How a repository uploads blobs. */
export interface UploadPolicy {
  /** Blobs larger than this are uploaded in chunks (default 64 MiB). */
  chunkThreshold?: number | undefined;
  /** Size of each PATCH of a chunked upload (default 16 MiB). */
  chunkSize?: number | undefined;
}

export class Repository implements RemoteBlobSource {
  readonly host: RegistryHost;
  /** The registry as references name it (`docker.io`, `127.0.0.1:5000`). */
  readonly registry: string;
  readonly repository: string;
  readonly #push: boolean;
  readonly #uploads: UploadPolicy;
  /**
   * Manifests this handle already read, by digest: content-addressed, so a second read of the same digest (the
   * root a tag resolved to, read again as a document; an image's manifest selected from it) is not a second GET.
   */
  readonly #read = new Map<string, Manifested>();

  constructor(host: RegistryHost, repository: string, push: boolean, uploads: UploadPolicy = {}) {
    this.host = host;
    this.#uploads = uploads;
    this.registry = host.registry;
    this.repository = repository;
    this.#push = push;
  }

  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** Whether the registry is on this machine's loopback. */
  get loopback(): boolean {
    return isLoopbackRegistry(this.registry);
  }

  get readScopes(): string[] {
    return [repositoryScope(this.repository, this.#push ? ["pull", "push"] : ["pull"])];
  }

  get writeScopes(): string[] {
    return [repositoryScope(this.repository, ["pull", "push"])];
  }

  async #url(path: string): Promise<URL> {
    return this.host.url(`/v2/${this.repository}/${path}`);
  }

  // ---- manifests ----

  /** Fetch a manifest or index by tag or digest: its exact bytes and descriptor. */
  async getManifest(
    reference: string,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<Manifested> {
    const known = isDigest(reference) ? this.#read.get(reference) : undefined;
    if (known) return known;
    const step = `getting manifest ${this.name}${isDigest(reference) ? "@" : ":"}${reference}`;
    const url = await this.#url(`manifests/${reference}`);
    const res = await this.host.request(step, {
      method: "GET",
      url,
      headers: { accept: MANIFEST_ACCEPT.join(", ") },
      scopes: this.readScopes,
      signal: options.signal,
    });
    if (res.status !== 200) throw await responseError(step, res);
    const bytes = await readBody(res, MAX_DOCUMENT_SIZE).catch((err: unknown) => {
      throw wrapError(step, err);
    });
    const ct = contentType(res);
    const doc = parseJson(bytes, step);
    const declared = sniffManifestMediaType(doc);
    const bodyType = typeof (doc as { mediaType?: unknown }).mediaType === "string" ? declared : undefined;
    if (bodyType !== undefined && ct !== undefined && KNOWN_MANIFEST_TYPES.has(ct) && ct !== bodyType) {
      throw new BerthError(
        "MANIFEST_INVALID",
        `${step}: the registry says Content-Type ${ct} but the manifest's mediaType is ${bodyType}`,
        { hint: "the registry is misconfigured or the content was tampered with" },
      );
    }
    const mediaType = bodyType ?? (ct !== undefined && KNOWN_MANIFEST_TYPES.has(ct) ? ct : declared);
    if (!mediaType)
      throw new BerthError("MANIFEST_INVALID", `${step}: cannot tell the manifest's media type`);
    let digest: Digest;
    if (isDigest(reference)) {
      verifyBytes(bytes, reference, undefined, step);
      digest = reference;
    } else {
      digest = digestBytes(bytes);
      const said = header(res, "docker-content-digest");
      if (said?.startsWith("sha256:") && said !== digest) {
        throw new BerthError(
          "DIGEST_MISMATCH",
          `${step}: the registry says ${said} but the bytes hash to ${digest}`,
          {
            details: { expected: said, actual: digest },
          },
        );
      }
    }
    const got = { bytes, descriptor: { mediaType, digest, size: bytes.length } };
    this.#read.set(digest, got);
    return got;
  }

  /** HEAD a manifest: its descriptor, or undefined when it is not there. */
  async headManifest(
    reference: string,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<Descriptor | undefined> {
    const step = `checking manifest ${this.name}${isDigest(reference) ? "@" : ":"}${reference}`;
    const url = await this.#url(`manifests/${reference}`);
    const res = await this.host.request(step, {
      method: "HEAD",
      url,
      headers: { accept: MANIFEST_ACCEPT.join(", ") },
      scopes: this.readScopes,
      signal: options.signal,
    });
    if (res.status === 404) {
      await discard(res);
      return undefined;
    }
    if (res.status !== 200) throw await responseError(step, res);
    await discard(res);
    const digest = header(res, "docker-content-digest") ?? (isDigest(reference) ? reference : undefined);
    const size = Number(header(res, "content-length"));
    const mediaType = contentType(res);
    if (!digest || !Number.isSafeInteger(size) || !mediaType || !KNOWN_MANIFEST_TYPES.has(mediaType)) {
      return (await this.getManifest(reference, options)).descriptor;
    }
    return { mediaType, digest, size };
  }

  /** The descriptor of the root a tag or digest names (a GET, so that the media type is the body's). */
  async resolve(reference: string, options: { signal?: AbortSignal | undefined } = {}): Promise<Descriptor> {
    return (await this.getManifest(reference, options)).descriptor;
  }

  /**
   * PUT a manifest with exactly these bytes under a tag or its digest, checking the digest the registry
   * computed. A manifest with a `subject` on a registry without the referrers API updates the fallback tag.
   */
  async putManifest(
    reference: string,
    bytes: Buffer,
    mediaType: string,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<Descriptor> {
    const digest = digestBytes(bytes);
    const step = `putting manifest ${this.name}${isDigest(reference) ? "@" : ":"}${reference}`;
    if (isDigest(reference) && reference !== digest) {
      verifyBytes(bytes, reference, undefined, step);
    }
    const url = await this.#url(`manifests/${reference}`);
    const doc = parseJson(bytes, step) as {
      subject?: Descriptor;
      artifactType?: string;
      config?: Descriptor;
      layers?: Descriptor[];
      manifests?: Descriptor[];
      annotations?: Record<string, string>;
    };
    let res: HttpResponse;
    for (let attempt = 1; ; attempt++) {
      res = await this.host.request(step, {
        method: "PUT",
        url,
        headers: { "content-type": mediaType },
        body: bytes,
        scopes: this.writeScopes,
        signal: options.signal,
      });
      if (res.status === 201 || res.status === 200 || res.status === 202) break;
      const err = await responseError(step, res);
      const said = (err.details.errors ?? []) as RegistryErrorEntry[];
      if (!said.some((e) => e.code === "MANIFEST_BLOB_UNKNOWN") || attempt === BLOB_RACE_RETRIES) throw err;
      await this.#explainUnknownBlobs(doc, err, options.signal);
      await new Promise((r) => setTimeout(r, 100 * 4 ** (attempt - 1)));
    }
    await discard(res);
    const said = header(res, "docker-content-digest");
    if (said?.startsWith("sha256:") && said !== digest) {
      throw new BerthError(
        "DIGEST_MISMATCH",
        `${step}: the registry stored ${said} but berth sent ${digest}`,
        {
          details: { expected: digest, actual: said },
        },
      );
    }
    const descriptor: Descriptor = { mediaType, digest, size: bytes.length };
    if (doc.subject && header(res, "oci-subject") === undefined) {
      const artifactType = doc.artifactType ?? doc.config?.mediaType;
      await this.#addFallbackReferrer(doc.subject.digest, {
        ...descriptor,
        ...(artifactType ? { artifactType } : {}),
        ...(doc.annotations ? { annotations: doc.annotations } : {}),
      });
    }
    return descriptor;
  }

  /**
   * A manifest PUT answered "blob unknown": distribution 2.x says so, with DIGEST_INVALID, when another writer
   * re-links one of the blobs at that moment (its filesystem driver's PutContent truncates the link file, then
   * writes it; distribution 3 writes a temporary file and renames it). Builds sharing a cache image push the
   * same blobs at once. Every blob there: the race, worth another PUT. One missing: the error, naming it.
   */
  async #explainUnknownBlobs(
    doc: { config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] },
    err: BerthError,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const blobs = [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])];
    const checks = [
      ...blobs.map(async (d) => ((await this.hasBlob(d, { signal })) ? undefined : d.digest)),
      ...(doc.manifests ?? []).map(async (d) =>
        (await this.headManifest(d.digest, { signal })) ? undefined : d.digest,
      ),
    ];
    const missing = (await Promise.all(checks)).filter((d) => d !== undefined);
    if (missing.length > 0) {
      throw new BerthError(
        "REGISTRY_BLOB_UNKNOWN",
        `${err.message}; ${this.name} lacks ${missing.join(", ")}`,
        {
          details: { ...err.details, missing },
        },
      );
    }
  }

  async #addFallbackReferrer(subject: Digest, desc: Descriptor): Promise<void> {
    const tag = referrersTag(subject);
    let index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    try {
      const got = await this.getManifest(tag);
      index = parseJson(got.bytes, `referrers index ${tag}`) as Index;
    } catch (err) {
      if (!(err instanceof BerthError && err.code === "REGISTRY_MANIFEST_UNKNOWN")) throw err;
    }
    if (index.manifests.some((m) => m.digest === desc.digest)) return;
    index = { ...index, manifests: [...index.manifests, desc] };
    await this.putManifest(tag, Buffer.from(JSON.stringify(index)), MediaType.OciIndex);
  }

  /** Delete a manifest by digest (a tag is resolved first; the registry then forgets every tag on it). */
  async deleteManifest(reference: string): Promise<void> {
    let digest = reference;
    if (!isDigest(reference)) {
      const d = await this.headManifest(reference);
      if (!d)
        throw new BerthError(
          "REGISTRY_MANIFEST_UNKNOWN",
          `deleting ${this.name}:${reference}: no such manifest`,
        );
      digest = d.digest;
    }
    const step = `deleting manifest ${this.name}@${digest}`;
    const url = await this.#url(`manifests/${digest}`);
    const res = await this.host.request(step, {
      method: "DELETE",
      url,
      scopes: [repositoryScope(this.repository, ["delete"])],
    });
    if (res.status !== 202 && res.status !== 200 && res.status !== 204) throw await responseError(step, res);
    await discard(res);
    this.#read.delete(digest);
  }

  // ---- blobs ----

  async hasBlob(
    desc: Descriptor | Digest,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<boolean> {
    const digest = typeof desc === "string" ? desc : desc.digest;
    const step = `checking blob ${digest} in ${this.name}`;
    const url = await this.#url(`blobs/${digest}`);
    const res = await this.host.request(step, {
      method: "HEAD",
      url,
      scopes: this.readScopes,
      signal: options.signal,
    });
    await discard(res);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await responseError(step, res);
  }

  /**
   * Open a blob (or, for manifest media types, a manifest by digest) as a verified stream. A body that breaks
   * off is resumed with a Range request from where it stopped.
   */
  async openBlob(desc: Descriptor, options: BlobReadOptions = {}): Promise<Readable> {
    if (isManifest(desc.mediaType) || isIndex(desc.mediaType)) {
      const got = await this.getManifest(desc.digest, options);
      verifyBytes(got.bytes, desc.digest, desc.size, `manifest ${desc.digest}`);
      return Readable.from([got.bytes]);
    }
    const step = `pulling blob ${desc.digest} from ${this.name}`;
    const url = await this.#url(`blobs/${desc.digest}`);
    const get = async (offset: number): Promise<HttpResponse> => {
      const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
      const res = await this.host.request(step, {
        method: "GET",
        url,
        headers,
        scopes: this.readScopes,
        signal: options.signal,
      });
      if (res.status === 200 || (res.status === 206 && offset > 0)) return res;
      throw await responseError(step, res);
    };
    const first = await get(0);
    const size = desc.size;
    const onProgress = options.onProgress;
    async function* body(): AsyncGenerator<Buffer> {
      let res = first;
      let offset = 0;
      let resumes = 0;
      for (;;) {
        let skip = res.status === 200 ? offset : 0;
        try {
          for await (const c of res.body) {
            let chunk = c as Buffer;
            if (skip > 0) {
              const n = Math.min(skip, chunk.length);
              skip -= n;
              chunk = chunk.subarray(n);
              if (chunk.length === 0) continue;
            }
            offset += chunk.length;
            transferred(chunk.length);
            onProgress?.(offset);
            yield chunk;
          }
          if (offset >= size) return;
        } catch (err) {
          if (!isTransientNetworkError(err)) throw err;
          if (resumes >= 5) throw networkError(`${step}: it broke off ${resumes + 1} times`, url, err);
        }
        if (resumes++ >= 5) {
          throw new BerthError(
            "REGISTRY_UNREACHABLE",
            `${step}: the body kept ending short (at ${offset} of ${size} bytes, ${resumes} times)`,
            { details: { url: redactUrl(url) } },
          );
        }
        res = await get(offset);
      }
    }
    return verified(
      Readable.from(body(), { objectMode: false }),
      desc,
      `blob ${desc.digest} from ${this.name}`,
    );
  }

  /** Upload a blob (monolithic, or chunked above the client's threshold). */
  async putBlob(
    desc: Descriptor,
    open: Opener,
    options: BlobWriteOptions = {},
    location?: URL,
  ): Promise<void> {
    const threshold = this.#uploads.chunkThreshold ?? 64 * 1024 * 1024;
    let chunkSize: number | undefined =
      options.chunkSize ??
      (desc.size > threshold ? (this.#uploads.chunkSize ?? 16 * 1024 * 1024) : undefined);
    if (chunkSize === 0) chunkSize = undefined;
    try {
      await uploadBlob(
        { host: this.host, repository: this.repository, scopes: this.writeScopes },
        desc,
        open,
        { onProgress: options.onProgress, signal: options.signal, chunkSize },
        location,
      );
    } catch (err) {
      // Uploads are idempotent: a writer that lost a race to the same blob (distribution answers the loser's
      // final PUT `400 DIGEST_INVALID` or `BLOB_UPLOAD_INVALID` now and then while the winner's lands) is done
      // when the registry has the blob. A source that is not what the descriptor says is never excused.
      if (!(err instanceof BerthError) || !err.code.startsWith("REGISTRY_")) throw err;
      if (err.code === "REGISTRY_UNAUTHORIZED" || err.code === "REGISTRY_DENIED") throw err;
      if (!(await this.hasBlob(desc, { signal: options.signal }).catch(() => false))) throw err;
    }
  }

  /**
   * Mount a blob from another repository of the same registry. Returns true when mounted; otherwise the
   * registry opened an upload session, which is used to upload the blob.
   */
  async mountBlob(
    desc: Descriptor,
    from: string,
    open: Opener,
    options: BlobWriteOptions = {},
  ): Promise<boolean> {
    const step = `mounting blob ${desc.digest} from ${this.registry}/${from} into ${this.name}`;
    const url = await this.#url("blobs/uploads/");
    url.searchParams.set("mount", desc.digest);
    url.searchParams.set("from", from);
    const res = await this.host.request(step, {
      method: "POST",
      url,
      headers: { "content-length": "0" },
      scopes: [...this.writeScopes, repositoryScope(from, ["pull"])],
      signal: options.signal,
    });
    await discard(res);
    if (res.status === 201) return true;
    if (res.status !== 202) throw await responseError(step, res);
    const loc = header(res, "location");
    await this.putBlob(desc, open, options, loc ? new URL(loc, url) : undefined);
    return false;
  }

  // ---- listings ----

  /** All tags, following `Link` pagination; `pageSize` asks for pages of that many. */
  async tags(options: { pageSize?: number; signal?: AbortSignal | undefined } = {}): Promise<string[]> {
    const step = `listing tags of ${this.name}`;
    let url: URL | undefined = await this.#url("tags/list");
    if (options.pageSize) url.searchParams.set("n", String(options.pageSize));
    const out: string[] = [];
    for (let page = 0; url && page < 10_000; page++) {
      const res: HttpResponse = await this.host.request(step, {
        method: "GET",
        url,
        scopes: this.readScopes,
        signal: options.signal,
      });
      if (res.status !== 200) throw await responseError(step, res);
      const doc = parseJson(await readBody(res), step) as { tags?: unknown };
      if (Array.isArray(doc.tags)) for (const t of doc.tags) if (typeof t === "string") out.push(t);
      const next = nextLink(header(res, "link"));
      url = next ? new URL(next, url) : undefined;
    }
    return out;
  }

  /**
   * Manifests that refer to `digest` (their `subject`): the referrers API, or the fallback tag
   * `sha256-<hex>` on registries without it. Filtered by `artifactType` when given.
   */
  async referrers(
    digest: Digest,
    options: { artifactType?: string; signal?: AbortSignal | undefined } = {},
  ): Promise<Descriptor[]> {
    const step = `listing referrers of ${this.name}@${digest}`;
    let url: URL | undefined = await this.#url(`referrers/${digest}`);
    if (options.artifactType) url.searchParams.set("artifactType", options.artifactType);
    const out: Descriptor[] = [];
    let supported = true;
    for (let page = 0; url && page < 10_000; page++) {
      const res: HttpResponse = await this.host.request(step, {
        method: "GET",
        url,
        headers: { accept: MediaType.OciIndex },
        scopes: this.readScopes,
        signal: options.signal,
      });
      if (
        res.status === 404 ||
        res.status === 400 ||
        res.status === 405 ||
        contentType(res) !== MediaType.OciIndex
      ) {
        await discard(res);
        if (res.status === 200 || page > 0) {
          if (page > 0) break;
        }
        supported = false;
        break;
      }
      if (res.status !== 200) throw await responseError(step, res);
      const doc = parseJson(await readBody(res), step) as Index;
      out.push(...(doc.manifests ?? []));
      const next = nextLink(header(res, "link"));
      url = next ? new URL(next, url) : undefined;
    }
    if (!supported) {
      try {
        const got = await this.getManifest(referrersTag(digest), options);
        out.push(...((parseJson(got.bytes, step) as Index).manifests ?? []));
      } catch (err) {
        if (
          !(
            err instanceof BerthError &&
            (err.code === "REGISTRY_MANIFEST_UNKNOWN" || err.code === "REGISTRY_NAME_UNKNOWN")
          )
        )
          throw err;
      }
    }
    return options.artifactType ? out.filter((d) => d.artifactType === options.artifactType) : out;
  }
}

/** Type guard for the mount fast path: is this blob source a repository of a registry? */
export function isRepository(source: unknown): source is Repository {
  return source instanceof Repository;
}
