/** The code and sentence of the error `f` throws (`"returned"` when it throws none), for comparing whole. */
export function thrown(f: () => unknown): { code: string | undefined; message: string } | "returned" {
  try {
    f();
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message };
  }
  return "returned";
}
