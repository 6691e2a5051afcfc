import { createHash, type Hash, hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { BerthError } from "../errors.ts";

/** A content digest, `algorithm:encoded`, as the image-spec defines it. */
export type Digest = string;

const GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const KNOWN: Record<string, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

export type Algorithm = "sha256" | "sha512";

export interface ParsedDigest {
  algorithm: string;
  encoded: string;
}

/**
 * Parse and validate a digest; `what` names the field in the error ("manifest.layers[0].digest"). Only the
 * algorithms berth can verify (sha256, sha512) are accepted: content named by any other digest could not be
 * checked, so it is refused wherever a digest is read (descriptors, references, index.json, archives).
 */
export function parseDigest(value: unknown, what = "digest"): ParsedDigest {
  if (typeof value !== "string" || !GRAMMAR.test(value)) {
    throw new BerthError("DIGEST_INVALID", `${what} ${JSON.stringify(value)} is not a valid digest`, {
      hint: "a digest looks like sha256:<64 lowercase hex digits>",
      details: { digest: value },
    });
  }
  const i = value.indexOf(":");
  const algorithm = value.slice(0, i);
  const encoded = value.slice(i + 1);
  const rule = KNOWN[algorithm];
  if (!rule) {
    throw new BerthError(
      "DIGEST_INVALID",
      `${what} ${value} uses the digest algorithm ${algorithm}, which berth cannot verify (only sha256 and sha512)`,
      {
        hint: "content named by such a digest could be anything; get the image with sha256 digests",
        details: { digest: value },
      },
    );
  }
  if (!rule.test(encoded)) {
    throw new BerthError(
      "DIGEST_INVALID",
      `${what} ${JSON.stringify(value)} is not a valid ${algorithm} digest (needs ${algorithm === "sha256" ? 64 : 128} lowercase hex digits)`,
      { details: { digest: value } },
    );
  }
  return { algorithm, encoded };
}

export function validateDigest(value: unknown, what = "digest"): Digest {
  parseDigest(value, what);
  return value as Digest;
}

/** The digest of bytes in memory (one-shot `hash`: no Hash object, ~110 of them in a no-change rebuild). */
export function digestBytes(bytes: Uint8Array | string, algorithm: Algorithm = "sha256"): Digest {
  return `${algorithm}:${hash(algorithm, bytes, "hex")}`;
}

/** Check bytes already in memory against a digest and size. */
export function verifyBytes(
  bytes: Uint8Array,
  expected: Digest,
  size: number | undefined,
  what: string,
): void {
  if (size !== undefined && bytes.length !== size) {
    throw new BerthError("SIZE_MISMATCH", `${what} has ${bytes.length} bytes where ${size} were expected`, {
      details: { expectedSize: size, actualSize: bytes.length },
    });
  }
  const algorithm = parseDigest(expected, what).algorithm as Algorithm;
  const actual = digestBytes(bytes, algorithm);
  if (actual !== expected) {
    throw new BerthError("DIGEST_MISMATCH", `${what} has digest ${actual} where ${expected} was expected`, {
      details: { expected, actual },
    });
  }
}

/**
 * Checks content against a digest and size as it arrives: `update` throws as soon as there is too much,
 * `check` throws at the end when the size or digest is wrong.
 */
export class Verifier {
  readonly expected: Digest;
  readonly expectedSize: number | undefined;
  readonly what: string;
  readonly #hash: Hash;
  readonly #algorithm: Algorithm;
  #count = 0;

  constructor(expected: Digest, expectedSize: number | undefined, what: string) {
    this.expected = expected;
    this.expectedSize = expectedSize;
    this.what = what;
    this.#algorithm = parseDigest(expected, what).algorithm as Algorithm;
    this.#hash = createHash(this.#algorithm);
  }

  get bytes(): number {
    return this.#count;
  }

  update(chunk: Uint8Array): void {
    this.#count += chunk.length;
    if (this.expectedSize !== undefined && this.#count > this.expectedSize) {
      throw new BerthError(
        "SIZE_MISMATCH",
        `${this.what} is longer than the ${this.expectedSize} bytes expected`,
        {
          details: { expectedSize: this.expectedSize },
        },
      );
    }
    this.#hash.update(chunk);
  }

  check(): void {
    if (this.expectedSize !== undefined && this.#count !== this.expectedSize) {
      throw new BerthError(
        "SIZE_MISMATCH",
        `${this.what} has ${this.#count} bytes where ${this.expectedSize} were expected`,
        { details: { expectedSize: this.expectedSize, actualSize: this.#count } },
      );
    }
    const actual = `${this.#algorithm}:${this.#hash.digest("hex")}`;
    if (actual !== this.expected) {
      throw new BerthError(
        "DIGEST_MISMATCH",
        `${this.what} has digest ${actual} where ${this.expected} was expected`,
        {
          details: { expected: this.expected, actual },
        },
      );
    }
  }
}

/**
 * A pass-through stream that hashes what flows through it and fails at the end of the stream (or as soon as
 * the size is exceeded) when the content is not what the descriptor promised.
 */
export class VerifyingStream extends Transform {
  readonly verifier: Verifier;

  constructor(expected: Digest, expectedSize: number | undefined, what: string) {
    super();
    this.verifier = new Verifier(expected, expectedSize, what);
  }

  get expected(): Digest {
    return this.verifier.expected;
  }

  get expectedSize(): number | undefined {
    return this.verifier.expectedSize;
  }

  get what(): string {
    return this.verifier.what;
  }

  get bytes(): number {
    return this.verifier.bytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.verifier.update(chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.verifier.check();
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb();
  }
}

/** A pass-through stream that computes the digest and size of what flows through it. */
export class DigestingStream extends Transform {
  readonly #hash: Hash;
  readonly #algorithm: Algorithm;
  #count = 0;
  #digest: Digest | undefined;

  constructor(algorithm: Algorithm = "sha256") {
    super();
    this.#algorithm = algorithm;
    this.#hash = createHash(algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#count += chunk.length;
    this.#hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.#digest = `${this.#algorithm}:${this.#hash.digest("hex")}`;
    cb();
  }

  /** Available once the stream has ended. */
  get digest(): Digest {
    if (!this.#digest) throw new BerthError("INTERNAL", "digest read before the stream ended");
    return this.#digest;
  }

  get size(): number {
    return this.#count;
  }
}

/** The hex part of a digest, as used in file names. */
export function encodedOf(digest: Digest): string {
  return digest.slice(digest.indexOf(":") + 1);
}

/** ChainID per the image-spec: ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(n)). */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const diffId of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? diffId : digestBytes(`${prev} ${diffId}`));
  }
  return out;
}
