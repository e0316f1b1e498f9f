// Wires config -> board -> client -> app. This file is the bundle's entry: it exports nothing and starts itself.
// Everything under firmware/ is written in the dialect Espruino runs: see firmware/README.md.
import { createLedApp } from "./app/led";
import { runAtBoot } from "./board/boot";
import { watchButton } from "./board/button";
import { espruinoClock } from "./board/clock";
import { netDial } from "./board/net-link";
import { createLedOutput, createPwmOutput } from "./board/pin";
import { tlsDial } from "./board/tls-link";
import { joinWifi } from "./board/wifi";
import { Client, createClient } from "./mqtt/client";

function log(message: string) {
  console.log(message);
}

/** A valid MQTT 3.1.1 client id (1-23 of [0-9a-zA-Z]) from the board's serial number. */
function defaultClientId(): string {
  return ("led" + getSerial().replace(/[^0-9a-zA-Z]/g, "")).substr(0, 23);
}

let client: Client | null = null;

function start() {
  const app = createLedApp({
    baseTopic: CONFIG.baseTopic,
    setLed: CONFIG.ledBrightness ? createPwmOutput(CONFIG.ledPin, CONFIG.ledActiveLow) : createLedOutput(CONFIG.ledPin, CONFIG.ledActiveLow),
    publish: function (topic: string, payload: string, retain: boolean) {
      if (client) client.publish(topic, payload, retain, CONFIG.stateQos);
    },
    defer: function (report: () => void) {
      setTimeout(report, 0);
    },
    // A refused command: on the console, and on the error topic where one is configured.
    log:
      CONFIG.errorTopic !== undefined
        ? function (message: string) {
            log(message);
            if (client) client.publish(CONFIG.errorTopic as string, message, false, CONFIG.stateQos);
          }
        : log,
  });
  if (CONFIG.buttonPin !== undefined) watchButton(CONFIG.buttonPin, app.toggle);
  joinWifi(CONFIG.wifiSsid, CONFIG.wifiPassword, log, function () {
    // mqtts:// dials only TLS: there is no plain fallback in a TLS build.
    const dial = CONFIG.mqttTls
      ? tlsDial(CONFIG.mqttHost, CONFIG.mqttPort, { ca: CONFIG.mqttCa as string, cert: CONFIG.mqttCert, key: CONFIG.mqttKey }, log)
      : netDial(CONFIG.mqttHost, CONFIG.mqttPort);
    const clientId = CONFIG.clientId ?? defaultClientId();
    client = createClient(dial, espruinoClock, {
      clientId: clientId,
      keepalive: CONFIG.keepalive,
      clean: CONFIG.cleanSession,
      queueLimit: CONFIG.offlineQueue,
      will: app.will,
      username: CONFIG.mqttUsername,
      password: CONFIG.mqttPassword,
      maxPacketSize: CONFIG.maxPacketSize,
      reconnectMin: 1000,
      reconnectMax: CONFIG.reconnectMaxSeconds * 1000,
      // Home Assistant's discovery config first (retained), so the entity exists when availability and state arrive.
      onConnect:
        CONFIG.haConfig !== undefined
          ? function () {
              if (client) client.publish(CONFIG.haPrefix + "/light/" + clientId + "/config", (CONFIG.haConfig as string).split("\0").join(clientId), true, CONFIG.stateQos);
              app.connected();
            }
          : app.connected,
      onDisconnect: function (reason: string) {
        log("MQTT disconnected: " + reason);
      },
      log: log,
    });
    client.subscribe(CONFIG.baseTopic, CONFIG.commandQos, app.message);
  });
}

/** A graceful stop (reset, save, load): say we are going offline, since a DISCONNECT discards the Will. */
function stop() {
  if (!client) return;
  client.publish(CONFIG.baseTopic + "/availability", "offline", true);
  client.stop();
  client = null;
}

runAtBoot(start, stop);
