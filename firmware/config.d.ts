// The user's settings. The build validates config.json and the environment (scripts/firmware-config.mjs) and
// injects each `CONFIG.key` with esbuild's `define`, so an unset optional key is `undefined` at build time and the
// code that would use it is dropped from the bundle. Read them as `CONFIG.key` only: `define` replaces that exact
// expression, and the build fails if a bare `CONFIG` is left in the bundle.

declare const CONFIG: {
  wifiSsid: string | undefined;
  wifiPassword: string | undefined;
  mqttHost: string;
  mqttPort: number;
  mqttUsername: string | undefined;
  mqttPassword: string | undefined;
  /** Undefined: derived from the board's serial number at run time. */
  clientId: string | undefined;
  cleanSession: boolean;
  /** QoS of the command subscription and of the state/availability publishes, 0-2. */
  commandQos: number;
  stateQos: number;
  /** Publishes held while disconnected; 0: none. */
  offlineQueue: number;
  /** A push button to ground that toggles the LED locally; undefined: none. */
  buttonPin: string | undefined;
  /** Seconds. */
  keepalive: number;
  baseTopic: string;
  /** A pin name such as "D2". */
  ledPin: string;
  ledActiveLow: boolean;
  /** Largest packet accepted from the broker, in bytes. */
  maxPacketSize: number;
  /** Reconnect backoff cap, in seconds. */
  reconnectMaxSeconds: number;
  /** True for an mqtts:// broker: the link is Espruino's `tls` socket, never a plain one. */
  mqttTls: true | undefined;
  /** Base64 of the DER bytes of the broker's CA certificate, and of the device's own certificate and key (mqtts). */
  mqttCa: string | undefined;
  mqttCert: string | undefined;
  mqttKey: string | undefined;
  /** JSON commands ({"state":"on"}) are accepted; always with ledBrightness. */
  jsonCommands: boolean;
  /** The LED is dimmed by PWM: {"brightness":0-255}, and the state as JSON on <base>/state/json. */
  ledBrightness: boolean;
  /** Where refused commands are reported besides the console; undefined: the console only. */
  errorTopic: string | undefined;
  /** Home Assistant's discovery prefix, and the discovery config with a NUL where the node id goes; undefined: off. */
  haPrefix: string | undefined;
  haConfig: string | undefined;
};
