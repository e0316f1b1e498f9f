// The transport: Espruino's `net` sockets behind the client's Dial interface.
import { Dial, LinkEvents } from "../mqtt/client";

/** Dials host:port over TCP. Espruino throws at once on a refused connect; the client treats that as a close. */
export function netDial(host: string, port: number): Dial {
  return function (events: LinkEvents) {
    const net: EspruinoNet = require("net");
    let closed = false;
    function closeOnce() {
      if (closed) return;
      closed = true;
      events.closed();
    }
    // Use the connect callback, not also .on('connect'): both together crashed a debug build of Espruino.
    const socket = net.connect({ host: host, port: port }, function () {
      events.opened();
    });
    socket.on("data", function (bytes: string) {
      events.received(bytes);
    });
    // A close gives 'end' then 'close'; on ESP8266 failures may come as 'error'. Report whichever comes first, once.
    socket.on("close", closeOnce);
    socket.on("error", closeOnce);
    return {
      write: function (bytes: string) {
        socket.write(bytes);
      },
      close: function () {
        socket.end();
      },
    };
  };
}
