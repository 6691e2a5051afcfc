/** Import graphs: the strongly connected components that are cycles (scripts/check-deps.ts, ./eager.ts). */

/**
 * The strongly connected components of more than one node (Tarjan), among `nodes`, visited in their order;
 * `next(v)` gives v's successors (one outside `nodes` is not followed). A node importing only itself is not one.
 */
export function cycles(nodes: readonly string[], next: (v: string) => Iterable<string>): string[][] {
  const inGraph = new Set(nodes);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!inGraph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1) found.push(component);
  };
  for (const v of nodes) if (!index.has(v)) visit(v);
  return found;
}
