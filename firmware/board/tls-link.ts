// The transport for mqtts://: Espruino's `tls` sockets behind the client's Dial interface. There is no fallback to
// a plain socket: a board without `tls` (the ESP8266's Espruino has none) or a failed handshake is reported, and the
// client retries with its backoff.
import { Link, LinkListener } from "../mqtt/client";

/**
 * The client's Dial for the configured broker (CONFIG.mqttHost:mqttPort) over TLS, with the configured certificates
 * (CONFIG.mqttCa, and for client authentication mqttCert and mqttKey: base64 of their DER bytes). Espruino calls
 * back once the TCP link is up, before the handshake (it holds what is written until the handshake is done), and a
 * failed handshake only closes the socket: so a link that closes before the broker has said anything is reported as
 * a likely handshake failure.
 */
export const tlsDial = (listener: LinkListener): Link => {
  let tls: EspruinoTls | undefined;
  try {
    tls = require("tls");
  } catch (error) {
    // Reported below.
  }
  if (!tls) throw new Error("this Espruino has no tls module (mqtts:// needs an ESP32 build)");
  let answered = false;
  /** Reports a close (the client takes the first); one before the broker said anything is a likely handshake failure. */
  const closed = () => {
    if (!answered) console.log("TLS: " + CONFIG.mqttHost + ":" + CONFIG.mqttPort + " closed the link before the broker answered: handshake failed? (check mqttCaFile and that the port is the broker's TLS listener)");
    answered = true;
    listener();
  };
  // Certificates go as binary strings of DER bytes, decoded for each connect rather than kept decoded in RAM.
  const options: { host: string; port: number; ca: string; cert?: string; key?: string } = { host: CONFIG.mqttHost, port: CONFIG.mqttPort, ca: atob(CONFIG.mqttCa as string) };
  if (CONFIG.mqttCert !== undefined && CONFIG.mqttKey !== undefined) {
    options.cert = atob(CONFIG.mqttCert);
    options.key = atob(CONFIG.mqttKey);
  }
  const socket = tls.connect(options, listener);
  socket.on("data", (bytes: string) => {
    answered = true;
    listener(bytes);
  });
  socket.on("close", closed);
  socket.on("error", (error: { message?: string }) => {
    console.log("TLS: " + ((error && error.message) || error));
    closed();
  });
  return {
    write: (bytes: string) => socket.write(bytes),
    end: () => {
      // Our own close is no handshake failure.
      answered = true;
      socket.end();
    },
  };
};
