/** What a call that should fail threw: the BerthError's code, message and hint, to compare whole. */
interface Failure {
  code: string;
  message: string;
  hint?: string | undefined;
}

function pick(err: unknown): Failure {
  const e = err as { code: string; message: string; hint?: string };
  return e.hint === undefined
    ? { code: e.code, message: e.message }
    : { code: e.code, message: e.message, hint: e.hint };
}

export function failure(fn: () => unknown): Failure {
  try {
    fn();
  } catch (err) {
    return pick(err);
  }
  throw new Error("expected a failure");
}

export async function failureOf(p: Promise<unknown>): Promise<Failure> {
  try {
    await p;
  } catch (err) {
    return pick(err);
  }
  throw new Error("expected a failure");
}
