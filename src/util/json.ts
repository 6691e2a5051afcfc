import { BerthError, type ErrorCode } from "../errors.ts";

/**
 * How deeply arrays and objects may nest in a JSON document berth reads. Image documents nest a handful of
 * levels; a document nested thousands deep parses, but any recursive walk over it (`JSON.stringify` when an
 * image is mutated, comparisons, printing) overflows the stack, so it is refused where it is read.
 */
const MAX_JSON_DEPTH = 1000;

/**
 * Whether `text` has more than `limit` opening brackets, counted by the engine's native `indexOf` (a document
 * with no more cannot nest deeper: most documents, and a character loop costs ms on a 40 KB one).
 */
function bracketsOver(text: string, limit: number): boolean {
  let n = 0;
  for (const bracket of ["[", "{"]) {
    for (let i = text.indexOf(bracket); i >= 0; i = text.indexOf(bracket, i + 1))
      if (++n > limit) return true;
  }
  return false;
}

/** The deepest nesting of arrays and objects in JSON text, stopping once it passes `limit`. */
function jsonDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/**
 * Parse JSON that berth did not write (manifests, configs, labels, index.json, archive manifests, token and
 * error bodies): a document that is not JSON, or nests deeper than MAX_JSON_DEPTH, is a BerthError with
 * `code` naming `what`, never a stack overflow later on.
 */
export function parseJson(
  input: Uint8Array | string,
  what: string,
  code: ErrorCode,
  options: { secret?: boolean } = {},
): unknown {
  const text =
    typeof input === "string"
      ? input
      : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString("utf8");
  if (bracketsOver(text, MAX_JSON_DEPTH) && jsonDepth(text) > MAX_JSON_DEPTH) {
    throw new BerthError(code, `${what} nests arrays or objects more than ${MAX_JSON_DEPTH} deep`, {
      details: { maxDepth: MAX_JSON_DEPTH },
    });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    // SyntaxError, or a RangeError where the engine's parser itself runs out of stack
    // The parser's message quotes the text, which must not be printed when it may hold a credential.
    const why = options.secret ? "" : `: ${(err as Error).message}`;
    throw new BerthError(code, `${what} is not valid JSON${why}`, options.secret ? {} : { cause: err });
  }
}
