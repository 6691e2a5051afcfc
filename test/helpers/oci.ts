/** Helpers of the oci/ and tar/ mirror tests. */
import { BerthError } from "../../src/errors.ts";

/** The BerthError `fn` throws (or rejects with); fails the test if it throws nothing or something else. */
export async function errorOf(fn: () => unknown): Promise<BerthError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof BerthError) return err;
    throw err;
  }
  throw new Error("expected a BerthError, but nothing was thrown");
}
