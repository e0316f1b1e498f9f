// Wires config -> board -> client -> app. This file is the bundle's entry: it exports nothing and starts itself.
// Everything under firmware/ is written in the dialect Espruino runs: see firmware/README.md. Each function object
// costs the board RAM, so Espruino's own functions are passed as they are where their shape fits (console.log,
// setTimeout), the board's functions read the settings they need themselves (the dial, the pin) rather than being
// made from them, and settings left at their defaults are not passed at all. Functions are arrows, as in mqtt/: shorter
// than `function`, and the same size on Espruino (E.getSizeOf on the ESP8266-shaped interpreter); none reads `this`.
import { createLedApp } from "./app/led";
import { watchButton } from "./board/button";
import { espruinoClock } from "./board/clock";
import { netDial } from "./board/net-link";
import { setLed, setPwmLed } from "./board/pin";
import { tlsDial } from "./board/tls-link";
import { joinWifi } from "./board/wifi";
import { Client, ClientOptions, createClient } from "./mqtt/client";

const log: (message: string) => void = console.log;

// Left undefined at first, and 0 and 1 rather than null, false and true: fewer bytes, the same tests.
let client: Client | 0 | undefined;
let running: number | undefined;

const start = () => {
  if (running) return;
  running = 1;
  const app = createLedApp({
    baseTopic: CONFIG.baseTopic,
    setLed: CONFIG.ledBrightness ? setPwmLed : setLed,
    // False only where the client refused it while connected: offline, the next connect reports anyway.
    publish: (topic: string, payload: string, retain: boolean) =>
      !client || client.publish(topic, payload, retain, CONFIG.stateQos) || !client.isConnected(),
    defer: setTimeout,
    // A refused command: on the console, and on the error topic where one is configured.
    log:
      CONFIG.errorTopic !== undefined
        ? (message: string) => {
            log(message);
            if (client) client.publish(CONFIG.errorTopic as string, message, false, CONFIG.stateQos);
          }
        : log,
  });
  if (CONFIG.buttonPin !== undefined) {
    watchButton(CONFIG.buttonPin, () => app.message(CONFIG.baseTopic, "toggle"));
  }
  const connect = () => {
    // Without one configured, a valid MQTT 3.1.1 client id (1-23 of [0-9a-zA-Z]) from the board's serial number.
    const clientId = CONFIG.clientId ?? ("led" + getSerial().replace(/[^0-9a-zA-Z]/g, "")).substr(0, 23);
    const options: ClientOptions = {
      clientId: clientId,
      keepalive: CONFIG.keepalive,
      will: app.will,
      maxPacketSize: CONFIG.maxPacketSize,
      reconnectMax: CONFIG.reconnectMaxSeconds * 1000,
      // Home Assistant's discovery config first (retained), so the entity exists when availability and state arrive.
      onConnect:
        CONFIG.haConfig !== undefined
          ? () => {
              if (client) client.publish(CONFIG.haPrefix + "/light/" + clientId + "/config", (CONFIG.haConfig as string).split("\0").join(clientId), true, CONFIG.stateQos);
              app.connected();
            }
          : app.connected,
      // The one subscription's messages (the build has no per-subscription handlers): the app checks the topic.
      onMessage: app.message,
      log: log,
    };
    // Each only where set: the client's defaults are clean session, no queue, no credentials.
    if (!CONFIG.cleanSession) options.clean = false;
    if (CONFIG.offlineQueue) options.queueLimit = CONFIG.offlineQueue;
    if (CONFIG.mqttUsername !== undefined) options.username = CONFIG.mqttUsername;
    if (CONFIG.mqttPassword !== undefined) options.password = CONFIG.mqttPassword;
    // mqtts:// dials only TLS: there is no plain fallback in a TLS build.
    client = createClient(CONFIG.mqttTls ? tlsDial : netDial, espruinoClock, options);
    client.subscribe(CONFIG.baseTopic, CONFIG.commandQos);
  };
  // With no SSID the board uses whatever network it has (saved WiFi settings, Ethernet), and carries no WiFi code.
  if (CONFIG.wifiSsid !== undefined) joinWifi(CONFIG.wifiSsid, CONFIG.wifiPassword, log, connect);
  else connect();
};

/**
 * A stop (reset, save, load). On a board Espruino closes its sockets right after the 'kill' handlers, before what
 * they write is sent (seen on the real interpreter), so the broker sends the Will, `offline`; were the writes sent,
 * `offline` goes first, since the DISCONNECT that follows discards the Will.
 */
const stop = () => {
  running = 0;
  if (!client) return;
  client.publish(CONFIG.baseTopic + "/availability", "offline", true);
  client.stop();
  client = 0;
};

// Start at power-up. Code saved to flash as boot code runs at every boot; code saved with save() does not run again
// but gets E's 'init' event. Running on load and on 'init' (start() runs once) covers both; 'kill' (before save(),
// reset() or load()) stops us so that a saved image restarts cleanly from 'init'.
E.on("init", start);
E.on("kill", stop);
start();
