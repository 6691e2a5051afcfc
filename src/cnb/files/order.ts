/** `order.toml` (`/cnb/order.toml`, lc:platform/files order): `[[order]]` and `[[order-extensions]]` groups. */
import { type ModuleRef, moduleRefOf, type Order } from "../buildpack/descriptor.ts";
import { Fields, type Origin, parseToml, type Table, toToml } from "../toml.ts";

export function parseOrder(text: string, file: string): { order: Order; orderExtensions: Order } {
  const origin: Origin = { file, code: "CNB_CONFIG_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  return { order: parseOrderList(doc, "order"), orderExtensions: parseOrderList(doc, "order-extensions") };
}

/** `[[KEY]] [[KEY.group]] id, version, optional, exec-env` (order.toml, builder.toml, buildpack.toml). */
export function parseOrderList(f: Fields, key: string): Order {
  return f.list(key).map((o) => ({ group: o.list("group").map(moduleRefOf) }));
}

function refToToml(r: ModuleRef): Table {
  return {
    id: r.id,
    ...(r.version ? { version: r.version } : {}),
    ...(r.optional ? { optional: true } : {}),
    ...(r.execEnv?.length ? { "exec-env": r.execEnv } : {}),
  };
}

export function encodeOrder(order: Order, orderExtensions: Order = []): string {
  const doc: Table = { order: order.map((g) => ({ group: g.group.map(refToToml) })) };
  if (orderExtensions.length)
    doc["order-extensions"] = orderExtensions.map((g) => ({ group: g.group.map(refToToml) }));
  return toToml(doc);
}
