/** A test CA and certificates made with openssl in a temp folder. */
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const pexec = promisify(execFile);

async function openssl(args: string[], cwd: string): Promise<void> {
  await pexec("openssl", args, { cwd });
}

export interface TestPki {
  dir: string;
  /** CA certificate (PEM file). */
  caCert: string;
  /** Server certificate for 127.0.0.1 and localhost, signed by the CA. */
  serverCert: string;
  serverKey: string;
  caPem: string;
}

/** A self-signed certificate `NAME.crt` with its key `NAME.key` in `dir` (a CA, a client's certificate). */
export async function selfSigned(dir: string, name: string, subject: string): Promise<void> {
  await openssl(
    [
      ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.crt`],
      ...["-days", "2", "-subj", subject],
    ],
    dir,
  );
}

/** Make a CA and a server certificate for 127.0.0.1 in `dir`. */
export async function makePki(dir: string): Promise<TestPki> {
  await selfSigned(dir, "ca", "/CN=berth test CA");
  await openssl(
    [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=127.0.0.1",
    ],
    dir,
  );
  await writeFile(
    join(dir, "ext.cnf"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  await openssl(
    [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
    ],
    dir,
  );
  return {
    dir,
    caCert: join(dir, "ca.crt"),
    serverCert: join(dir, "server.crt"),
    serverKey: join(dir, "server.key"),
    caPem: await readFile(join(dir, "ca.crt"), "utf8"),
  };
}

/** A self-signed RSA key and certificate for signing tokens (the registry's rootcertbundle). */
export async function makeSigningCert(
  dir: string,
): Promise<{ cert: string; key: string; keyPem: string; certPem: string }> {
  await openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "token.key",
      "-out",
      "token.crt",
      "-days",
      "2",
      "-subj",
      "/CN=berth test token issuer",
    ],
    dir,
  );
  return {
    cert: join(dir, "token.crt"),
    key: join(dir, "token.key"),
    keyPem: await readFile(join(dir, "token.key"), "utf8"),
    certPem: await readFile(join(dir, "token.crt"), "utf8"),
  };
}

/** A bcrypt htpasswd line (distribution accepts bcrypt only); made with the system crypt(3) through perl. */
export async function htpasswdLine(user: string, password: string): Promise<string> {
  const alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const salt = `${Array.from({ length: 21 }, () => alphabet[Math.floor(Math.random() * 64)]).join("")}.`;
  const { stdout } = await pexec("perl", [
    "-e",
    'print crypt($ARGV[0], "\\$2b\\$05\\$" . $ARGV[1])',
    password,
    salt,
  ]);
  if (!stdout.startsWith("$2b$")) throw new Error("crypt(3) on this machine does not do bcrypt");
  return `${user}:${stdout}`;
}
