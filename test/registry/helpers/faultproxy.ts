/**
 * A fault-injecting HTTP proxy in front of a registry: each request is forwarded unless a rule takes it, and
 * a rule can answer a status (500, 429 with Retry-After), reset the connection before or in the middle of
 * the response body, truncate the body, or corrupt a byte. The Host header is passed on, so the registry's
 * upload Locations point back at the proxy.
 */
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";

export type Fault =
  | {
      kind: "status";
      status: number;
      headers?: Record<string, string>;
      /** The body's distribution-spec errors (default one UNKNOWN naming the status). */
      errors?: { code: string; message: string }[];
    }
  /** Drop the connection without answering (the request may or may not have reached the registry). */
  | { kind: "reset"; forward?: boolean }
  /** Forward, send the headers and `after` bytes of the body, then destroy the socket. */
  | { kind: "reset-body"; after: number }
  /** Forward, send `after` bytes of the body, then end the response cleanly with a short Content-Length. */
  | { kind: "truncate"; after: number }
  /** Forward, flipping one byte of the body. */
  | { kind: "corrupt" }
  /** Forward unchanged (with `delayMs`: a slow answer). */
  | { kind: "pass" }
  /** Forward, send the headers and `after` bytes of the body, then send nothing more (the client hangs). */
  | { kind: "stall"; after: number }
  /** Forward, sending the body at most `bytesPerSecond` (a slow link: a long transfer). */
  | { kind: "throttle"; bytesPerSecond: number };

export interface Rule {
  method?: string;
  /** Matched against the path and query. */
  path: RegExp;
  fault: Fault;
  /** How many matching requests it takes (default 1; Infinity for all). */
  times?: number;
  /** Wait this long before the fault (or the forwarding) happens. */
  delayMs?: number;
  /** Called when a request matches (to let a test act at that moment). */
  onMatch?: () => void;
  /** Hold the request until this settles (then `delayMs`, then the fault). */
  gate?: Promise<unknown>;
}

export interface SeenRequest {
  method: string;
  url: string;
  range?: string;
  fault?: Fault["kind"];
}

export interface FaultProxy {
  host: string;
  port: number;
  seen: SeenRequest[];
  add(rule: Rule): void;
  clear(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  let rules: (Rule & { left: number })[] = [];
  const seen: SeenRequest[] = [];

  const take = (req: IncomingMessage): Rule | undefined => {
    for (const r of rules) {
      if (r.left > 0 && (!r.method || r.method === req.method) && r.path.test(req.url ?? "")) {
        r.left--;
        return r;
      }
    }
    return undefined;
  };

  const forward = (req: IncomingMessage, res: ServerResponse, fault: Fault | undefined) => {
    const up = request(
      { host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        const headers = { ...upRes.headers };
        if (fault?.kind === "truncate") {
          const len = Number(headers["content-length"] ?? 0);
          headers["content-length"] = String(Math.min(len, fault.after));
        }
        res.writeHead(upRes.statusCode ?? 502, headers);
        let sent = 0;
        let flipped = false;
        // a throttled body ends once its last slice is out ('end' comes as soon as the last chunk is read)
        let throttled: Promise<void> = Promise.resolve();
        upRes.on("data", (chunk: Buffer) => {
          if (fault?.kind === "throttle") {
            // send in slices of at most a tenth of a second's worth, holding the upstream meanwhile
            upRes.pause();
            const slice = Math.max(1, Math.floor(fault.bytesPerSecond / 10));
            throttled = new Promise<void>((done) => {
              const send = (rest: Buffer) => {
                if (res.destroyed) {
                  upRes.destroy();
                  return done();
                }
                const part = rest.subarray(0, slice);
                res.write(part);
                const wait = (part.length / fault.bytesPerSecond) * 1000;
                setTimeout(() => {
                  if (rest.length > slice) send(rest.subarray(slice));
                  else {
                    done();
                    upRes.resume();
                  }
                }, wait);
              };
              send(chunk);
            });
            return;
          }
          if (fault?.kind === "stall") {
            const room = fault.after - sent;
            if (room > 0) {
              const part = chunk.subarray(0, room);
              sent += part.length;
              res.write(part);
            } else upRes.destroy();
            return;
          }
          if (fault?.kind === "reset-body" || fault?.kind === "truncate") {
            const room = fault.after - sent;
            if (room <= 0) return;
            const part = chunk.subarray(0, room);
            sent += part.length;
            res.write(part);
            if (sent >= fault.after) {
              if (fault.kind === "reset-body") {
                // Let the bytes leave, then cut the connection.
                setTimeout(() => res.socket?.destroy(), 20);
              } else res.end();
              upRes.destroy();
            }
            return;
          }
          if (fault?.kind === "corrupt" && !flipped && chunk.length > 0) {
            const copy = Buffer.from(chunk);
            copy[0] = copy[0]! ^ 0xff;
            flipped = true;
            res.write(copy);
            return;
          }
          res.write(chunk);
        });
        upRes.on("end", () => {
          // A body shorter than `after` ends normally.
          void throttled.then(() => {
            if (!res.writableEnded && !res.destroyed) res.end();
          });
        });
      },
    );
    up.on("error", () => res.socket?.destroy());
    req.pipe(up);
  };

  const server: Server = createServer((req, res) => {
    const rule = take(req);
    rule?.onMatch?.();
    if (rule?.delayMs || rule?.gate) {
      req.pause();
      const go = () => setTimeout(() => handle(req, res, rule.fault), rule.delayMs ?? 0);
      if (rule.gate) void rule.gate.then(go, go);
      else go();
    } else handle(req, res, rule?.fault);
  });

  const handle = (req: IncomingMessage, res: ServerResponse, taken: Fault | undefined) => {
    const fault = taken?.kind === "pass" ? undefined : taken;
    const entry: SeenRequest = { method: req.method ?? "", url: req.url ?? "" };
    if (req.headers.range) entry.range = String(req.headers.range);
    if (fault) entry.fault = fault.kind;
    seen.push(entry);
    if (fault?.kind === "status") {
      req.resume();
      res.writeHead(fault.status, { "content-type": "application/json", ...fault.headers });
      const errors = fault.errors ?? [{ code: "UNKNOWN", message: `injected ${fault.status}` }];
      res.end(JSON.stringify({ errors }));
      return;
    }
    if (fault?.kind === "reset") {
      if (fault.forward) {
        // Let the request reach the registry, drop the answer.
        const up = request(
          { host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers: req.headers },
          (r) => {
            r.resume();
            r.on("end", () => res.socket?.destroy());
          },
        );
        up.on("error", () => res.socket?.destroy());
        req.pipe(up);
        return;
      }
      req.socket.destroy();
      return;
    }
    forward(req, res, fault);
  };
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    port,
    seen,
    add(rule) {
      rules.push({ ...rule, left: rule.times ?? 1 });
    },
    clear() {
      rules = [];
      seen.length = 0;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
