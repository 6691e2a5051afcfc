/**
 * A TCP proxy in front of a registry that counts what berth opens: connections, and TLS handshakes among them.
 * berth's registry client asks a loopback registry once whether it speaks TLS (a GET https://…/v2/ that a
 * plain-HTTP registry answers in plain text), once per host and client: the handshakes are the clients.
 */
import { createConnection, createServer, type Socket } from "node:net";

export interface CountingProxy {
  /** `127.0.0.1:PORT`, the registry's name through the proxy. */
  host: string;
  /** Connections opened since the last reset, and how many of them began a TLS handshake. */
  counts(): { connections: number; tls: number };
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(targetPort: number): Promise<CountingProxy> {
  let connections = 0;
  let tls = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    connections++;
    sockets.add(client);
    const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
    sockets.add(upstream);
    client.once("data", (first: Buffer) => {
      // 0x16: a TLS record of type handshake (the ClientHello).
      if (first[0] === 0x16) tls++;
      upstream.write(first);
      client.pipe(upstream);
    });
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    host: `127.0.0.1:${port}`,
    counts: () => ({ connections, tls }),
    reset: () => {
      connections = 0;
      tls = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
