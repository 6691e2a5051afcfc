/** files/order.ts: order.toml's `[[order]]` and `[[order-extensions]]` groups, in and out. */
import { describe, expect, it } from "vitest";
import { encodeOrder, parseOrder } from "../../../src/cnb/files/order.ts";

describe("order.toml", () => {
  it("survives a write and a read with optional, exec-env and extensions", () => {
    const order = [
      {
        group: [
          { id: "a", version: "1", optional: true, execEnv: ["production"] },
          { id: "b", version: "2" },
        ],
      },
      { group: [{ id: "c" }] },
    ];
    const ext = [{ group: [{ id: "e", version: "0.1" }] }];
    const text = encodeOrder(order, ext);
    expect(text).toContain('exec-env = [ "production" ]');
    expect(parseOrder(text, "/cnb/order.toml")).toEqual({ order, orderExtensions: ext });
  });

  it("leaves out defaults: no version, optional = false, empty exec-env, no extensions", () => {
    const text = encodeOrder([{ group: [{ id: "a", optional: false, execEnv: [] }] }]);
    expect(text).toBe('[[order]]\n[[order.group]]\nid = "a"\n');
  });

  it("names the file and key of a group entry without an id", () => {
    expect(() => parseOrder("[[order]]\n[[order.group]]\nversion = '1'\n", "/cnb/order.toml")).toThrow(
      expect.objectContaining({
        code: "CNB_CONFIG_INVALID",
        message: expect.stringMatching(/^\/cnb\/order\.toml: order\[0\]\.group\[0\]\.id is required/),
      }),
    );
  });
});
