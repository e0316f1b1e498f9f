// The transport: Espruino's `net` sockets behind the client's Dial interface.
import { Dial, LinkListener } from "../mqtt/client";

/**
 * Dials host:port over TCP. The socket itself is the client's Link (write, end), and the client's listener takes
 * its 'data' as it is: no function of our own per connection but the two below. Espruino throws at once on a
 * refused connect; the client treats that as a close.
 */
export function netDial(host: string, port: number): Dial {
  return function (listener: LinkListener) {
    function closed() {
      listener(false);
    }
    // Use the connect callback, not also .on('connect'): both together crashed a debug build of Espruino.
    const socket = (require("net") as EspruinoNet).connect({ host: host, port: port }, function () {
      listener(true);
    });
    socket.on("data", listener);
    // A close gives 'end' then 'close'; on ESP8266 failures may come as 'error'. The client takes the first.
    socket.on("close", closed);
    socket.on("error", closed);
    return socket;
  };
}
