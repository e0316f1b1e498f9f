// Certificates for TLS tests, made with openssl in a directory of the test's own: CAs, a broker certificate for
// 127.0.0.1 and localhost, a client certificate. RSA 2048, the size Espruino's TLS documentation asks for. Every file
// is readable by all, because Mosquitto started as root reads them as the user mosquitto.
import { execFileSync } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Pem {
  cert: string;
  key: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

function readable(...files: string[]): void {
  for (const file of files) chmodSync(file, 0o644);
}

/** A self-signed CA: `<name>.pem` and `<name>.key` in `dir`. */
export function makeCa(dir: string, name: string): Pem {
  const pem = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  openssl(dir, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", pem.key, "-out", pem.cert, "-days", "2", "-subj", `/CN=${name}`]);
  readable(pem.cert, pem.key);
  return pem;
}

/** A certificate signed by `ca`: for a server (SAN 127.0.0.1 and localhost) or a client. */
export function makeCert(dir: string, name: string, ca: Pem, use: "server" | "client"): Pem {
  const pem = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  openssl(dir, ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", pem.key, "-out", csr, "-subj", `/CN=${use === "server" ? "127.0.0.1" : name}`]);
  writeFileSync(
    ext,
    (use === "server" ? "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n" : "extendedKeyUsage=clientAuth\n") +
      "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n",
  );
  openssl(dir, ["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-out", pem.cert, "-days", "2", "-extfile", ext]);
  readable(pem.cert, pem.key);
  return pem;
}

/** The Mosquitto lines that make the listener above them a TLS one with this certificate. */
export function tlsListener(ca: Pem, server: Pem, requireClientCertificate = false): string[] {
  return [`cafile ${ca.cert}`, `certfile ${server.cert}`, `keyfile ${server.key}`, "tls_version tlsv1.2", `require_certificate ${requireClientCertificate}`];
}
