// The transport: Espruino's `net` sockets behind the client's Dial interface.
import { Link, LinkListener } from "../mqtt/client";

/**
 * The client's Dial for the configured broker (CONFIG.mqttHost:mqttPort) over TCP: a function itself, not made by
 * one, as each function object costs the board RAM. The socket itself is the client's Link (write, end), and the
 * client's listener is the socket's own callbacks as they are, so a connection costs no function of ours: the
 * connect callback (given the socket), 'data' (a string) and 'end' (nothing; Espruino gives it once, before
 * 'close', however the link ended, an 'error' included). Espruino throws at once on a refused connect; the client
 * treats that as a close.
 */
export const netDial = (listener: LinkListener): Link => {
  // Use the connect callback, not also .on('connect'): both together crashed a debug build of Espruino.
  const socket = (require("net") as EspruinoNet).connect({ host: CONFIG.mqttHost, port: CONFIG.mqttPort }, listener);
  socket.on("data", listener);
  socket.on("end", listener);
  return socket;
};
