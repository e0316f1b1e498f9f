// The transport for mqtts://: Espruino's `tls` sockets behind the client's Dial interface. There is no fallback to
// a plain socket: a board without `tls` (the ESP8266's Espruino has none) or a failed handshake is reported, and the
// client retries with its backoff.
import { Dial, LinkListener } from "../mqtt/client";

/** Base64 of the DER bytes of the broker's CA certificate and, for client authentication, the device's own. */
export interface TlsFiles {
  ca: string;
  cert: string | undefined;
  key: string | undefined;
}

/**
 * Dials host:port over TLS. Espruino calls back once the TCP link is up, before the handshake (it holds what is
 * written until the handshake is done), and a failed handshake only closes the socket: so a link that closes
 * before the broker has said anything is reported as a likely handshake failure.
 */
export function tlsDial(host: string, port: number, files: TlsFiles, log: (message: string) => void): Dial {
  return function (listener: LinkListener) {
    let tls: EspruinoTls | undefined;
    try {
      tls = require("tls");
    } catch (error) {
      // Reported below.
    }
    if (!tls) throw new Error("this Espruino has no tls module (mqtts:// needs an ESP32 build)");
    let answered = false;
    /** Reports a close (the client takes the first); one before the broker said anything is a likely handshake failure. */
    function closed() {
      if (!answered) log("TLS: " + host + ":" + port + " closed the link before the broker answered: handshake failed? (check mqttCaFile and that the port is the broker's TLS listener)");
      answered = true;
      listener();
    }
    // Certificates go as binary strings of DER bytes, decoded for each connect rather than kept decoded in RAM.
    const options: { host: string; port: number; ca: string; cert?: string; key?: string } = { host: host, port: port, ca: atob(files.ca) };
    if (files.cert !== undefined && files.key !== undefined) {
      options.cert = atob(files.cert);
      options.key = atob(files.key);
    }
    const socket = tls.connect(options, listener);
    socket.on("data", function (bytes: string) {
      answered = true;
      listener(bytes);
    });
    socket.on("close", closed);
    socket.on("error", function (error: { message?: string }) {
      log("TLS: " + ((error && error.message) || error));
      closed();
    });
    return {
      write: function (bytes: string) {
        socket.write(bytes);
      },
      end: function () {
        // Our own close is no handshake failure.
        answered = true;
        socket.end();
      },
    };
  };
}
