/** The CNB library under test, plus a code matcher. */
export * from "../../src/cnb/index.ts";

export function isBerthErrorLike(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as { code?: string }).code === code;
}
