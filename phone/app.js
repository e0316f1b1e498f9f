// The phone page: MQTT over WebSocket with MQTT.js's browser build (the global `mqtt`). Plain JavaScript that
// browsers run as it is, with no build step: `npm run sim` serves this folder; see README.md for other ways.
"use strict";
(function () {
  const STORAGE_KEY = "espruino-mqtt-led.settings";
  const CHANGES_KEY = "espruino-mqtt-led.changes";
  const RECONNECT_MS = 3000;
  /** How long a command may go unanswered (no matching `<base>/state`) before the page says so. */
  const ANSWER_MS = 5000;
  /** CONNACK return codes of MQTT 3.1.1 (MQTT.js passes them as the error's `code`). */
  const REFUSALS = {
    1: "The broker does not accept MQTT 3.1.1.",
    2: "The broker refused this page's client id.",
    3: "The broker is unavailable just now.",
    4: "The broker refused the user name or password. Check them in the settings.",
    5: "The broker says this user is not authorized to connect. Check the user name and password in the settings.",
  };

  const $ = (id) => document.getElementById(id);
  const ui = {
    connection: $("connection-text"),
    message: $("message"),
    toggle: $("toggle"),
    toggleLabel: $("toggle-label"),
    toggleHint: $("toggle-hint"),
    device: $("device-text"),
    changed: $("changed"),
    changedDetail: $("changed-detail"),
    settings: $("settings"),
    form: $("settings-form"),
    formError: $("form-error"),
    url: $("url"),
    username: $("username"),
    password: $("password"),
    topic: $("topic"),
  };

  /** What the page knows; render() draws all of it, so every change goes through set(). */
  const state = {
    connection: "idle", // idle | connecting | connected | unreachable | refused | invalid
    problem: "", // the message for unreachable, refused or invalid
    device: "unknown", // unknown | online | offline
    led: "unknown", // unknown | on | off
    changedAt: null, // ms since the epoch, or null when not known
    changedBefore: null, // when the time is not known: the state was already so at this time
    pending: null, // { target, sentAt } while a command waits for the device's answer
    unanswered: false, // the last command got no answer within ANSWER_MS
  };
  let settings = loadSettings();
  let client = null;
  let answerTimer = null;
  /** Set by "Save and connect": the settings panel closes once those settings work. */
  let closeSettingsOnConnect = false;

  function defaultUrl() {
    if (location.protocol === "http:" || location.protocol === "https:") {
      return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/mqtt";
    }
    return "ws://127.0.0.1:8080/mqtt"; // opened from a file: npm run sim's default
  }

  function loadSettings() {
    let stored = {};
    try {
      stored = JSON.parse(localStorage.getItem(STORAGE_KEY) || "{}") || {};
    } catch (error) {
      stored = {};
    }
    const loaded = {
      url: typeof stored.url === "string" && stored.url ? stored.url : defaultUrl(),
      username: typeof stored.username === "string" ? stored.username : "",
      password: typeof stored.password === "string" ? stored.password : "",
      topic: typeof stored.topic === "string" && stored.topic ? stored.topic : "led",
    };
    // `?broker=ws://...&topic=...` (npm run sim prints such an address) goes into the stored settings, and out of
    // the address bar, so that a page added to the home screen keeps it.
    const query = new URLSearchParams(location.search);
    if (query.has("broker") || query.has("topic")) {
      if (query.get("broker")) loaded.url = query.get("broker");
      if (query.get("topic")) loaded.topic = query.get("topic");
      saveSettings(loaded);
      history.replaceState(null, "", location.pathname + location.hash);
    }
    return loaded;
  }

  function saveSettings(value) {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(value));
    } catch (error) {
      // Storage may be off (private mode); the settings then last as long as the page.
    }
  }

  /** The last change seen of each (broker, topic), so that a reload can still tell when the LED last changed. */
  function loadChange() {
    try {
      const all = JSON.parse(localStorage.getItem(CHANGES_KEY) || "{}") || {};
      return all[settings.url + " " + settings.topic] || null;
    } catch (error) {
      return null;
    }
  }

  function saveChange(led, at) {
    try {
      const all = JSON.parse(localStorage.getItem(CHANGES_KEY) || "{}") || {};
      all[settings.url + " " + settings.topic] = { led: led, at: at };
      localStorage.setItem(CHANGES_KEY, JSON.stringify(all));
    } catch (error) {
      // as above
    }
  }

  function set(changes) {
    Object.assign(state, changes);
    render();
  }

  function formatTime(ms) {
    const date = new Date(ms);
    const today = new Date().toDateString() === date.toDateString();
    const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    return today ? time : date.toLocaleDateString([], { day: "numeric", month: "short" }) + ", " + time;
  }

  function render() {
    const body = document.body;
    body.dataset.connection = state.connection;
    body.dataset.device = state.device;
    body.dataset.led = state.led;
    body.dataset.pending = state.pending ? state.pending.target : "";

    ui.connection.textContent = {
      idle: "Not connected",
      connecting: "Connecting…",
      connected: "Connected",
      unreachable: "No broker",
      refused: "Refused",
      invalid: "Check settings",
    }[state.connection];

    const connected = state.connection === "connected";
    ui.device.textContent = !connected ? "Unknown" : { unknown: "No word yet", online: "Online", offline: "Offline" }[state.device];

    // The banner: the most pressing thing first.
    let message = "";
    let level = "error";
    if (state.problem) message = state.problem;
    else if (connected && state.device === "offline") {
      message = "The device is offline: a command may not arrive, and the state shown is the last it reported.";
      level = "warning";
    } else if (state.unanswered) {
      message = "The device did not answer the last command: the LED may not have switched.";
      level = "warning";
    }
    ui.message.textContent = message;
    ui.message.hidden = !message;
    ui.message.className = "message " + level;

    const on = state.led === "on";
    ui.toggle.disabled = !connected;
    ui.toggle.setAttribute("aria-pressed", on ? "true" : "false");
    ui.toggle.setAttribute("aria-busy", state.pending ? "true" : "false");
    ui.toggleLabel.textContent = { unknown: "Unknown", on: "On", off: "Off" }[state.led];
    let hint;
    if (!connected) hint = "Not connected to the broker";
    else if (state.pending) hint = "Switching " + (state.pending.target === "toggle" ? "" : state.pending.target) + "…";
    else if (state.device === "offline") hint = (state.led === "unknown" ? "" : "Last known state\n") + "A tap may not arrive";
    else hint = state.led === "unknown" ? "Tap to switch" : "Tap to switch " + (on ? "off" : "on");
    ui.toggleHint.textContent = hint;

    // A retained state that this browser did not see change: it was already so when the page subscribed.
    ui.changed.textContent = state.changedAt ? formatTime(state.changedAt) : state.changedBefore ? "Earlier" : "Unknown";
    ui.changedDetail.textContent = !state.changedAt && state.changedBefore ? "before " + formatTime(state.changedBefore) : "";
    ui.changedDetail.hidden = !ui.changedDetail.textContent;
  }

  function fillForm() {
    ui.url.value = settings.url;
    ui.username.value = settings.username;
    ui.password.value = settings.password;
    ui.topic.value = settings.topic;
  }

  function stateTopic() {
    return settings.topic + "/state";
  }

  function availabilityTopic() {
    return settings.topic + "/availability";
  }

  function onLedState(payload, retained) {
    const text = payload.trim().toLowerCase();
    const led = text === "on" ? "on" : text === "off" ? "off" : "unknown";
    const changes = { led: led };
    if (state.pending && (state.pending.target === led || state.pending.target === "toggle")) {
      changes.pending = null;
      changes.unanswered = false;
      clearTimeout(answerTimer);
    }
    if (led !== state.led) {
      if (state.led === "unknown" && retained) {
        // The state the broker kept: when it changed is known only if this browser saw that change.
        const seen = loadChange();
        if (seen && seen.led === led) {
          changes.changedAt = seen.at;
          changes.changedBefore = null;
        } else {
          changes.changedAt = null;
          changes.changedBefore = Date.now();
        }
      } else {
        changes.changedAt = Date.now();
        changes.changedBefore = null;
        saveChange(led, changes.changedAt);
      }
    }
    set(changes);
  }

  function connect() {
    if (client) {
      client.removeAllListeners();
      client.on("error", function () {}); // a late error from the old connection must not surface as uncaught
      client.end(true);
      client = null;
    }
    clearTimeout(answerTimer);
    set({ connection: "connecting", problem: "", device: "unknown", led: "unknown", changedAt: null, changedBefore: null, pending: null, unanswered: false });

    let url;
    try {
      url = new URL(settings.url);
    } catch (error) {
      url = null;
    }
    if (!url || (url.protocol !== "ws:" && url.protocol !== "wss:")) {
      ui.settings.open = true;
      return set({ connection: "invalid", problem: "The broker URL must start with ws:// or wss:// (MQTT over WebSocket)." });
    }
    if (location.protocol === "https:" && url.protocol === "ws:") {
      ui.settings.open = true;
      return set({ connection: "invalid", problem: "This page was opened over https, so the browser allows only a wss:// broker." });
    }

    const current = mqtt.connect(settings.url, {
      clientId: "ledphone-" + Math.random().toString(16).slice(2, 10),
      username: settings.username || undefined,
      password: settings.password || undefined,
      protocolVersion: 4,
      clean: true,
      keepalive: 30,
      connectTimeout: 5000,
      reconnectPeriod: RECONNECT_MS,
    });
    client = current;
    let refused = false;
    let everConnected = false;

    current.on("connect", function () {
      everConnected = true;
      if (closeSettingsOnConnect) ui.settings.open = false;
      closeSettingsOnConnect = false;
      set({ connection: "connected", problem: "" });
      current.subscribe([stateTopic(), availabilityTopic()], { qos: 0 });
    });
    current.on("error", function (error) {
      const code = error && typeof error.code === "number" ? error.code : 0;
      if (code >= 1 && code <= 5) {
        // A refused CONNACK: MQTT.js does not retry it, and the page says what to fix.
        refused = true;
        ui.settings.open = true;
        set({ connection: "refused", problem: REFUSALS[code] });
      }
    });
    current.on("close", function () {
      if (client !== current || refused) return;
      if (state.connection === "connected") {
        set({ connection: "connecting", problem: "Lost the connection to the broker. Reconnecting…", device: "unknown", pending: null });
      } else {
        set({
          connection: "unreachable",
          problem: "Cannot reach a broker at " + settings.url + ". Check the URL in the settings, and that the broker " +
            "listens for MQTT over WebSocket. Trying again every " + RECONNECT_MS / 1000 + " s.",
        });
        if (!everConnected) ui.settings.open = true; // most likely a wrong URL; a broker that went away is not
      }
    });
    current.on("message", function (topic, payload, packet) {
      const text = new TextDecoder().decode(payload);
      if (topic === stateTopic()) onLedState(text, packet.retain);
      else if (topic === availabilityTopic()) {
        const word = text.trim().toLowerCase();
        set({ device: word === "online" ? "online" : word === "offline" ? "offline" : "unknown" });
      }
    });
  }

  ui.toggle.addEventListener("click", function () {
    if (!client || state.connection !== "connected") return;
    const target = state.led === "on" ? "off" : state.led === "off" ? "on" : "toggle";
    clearTimeout(answerTimer);
    set({ pending: { target: target, sentAt: Date.now() }, unanswered: false });
    client.publish(settings.topic, target, { qos: 1 });
    answerTimer = setTimeout(function () {
      if (state.pending) set({ pending: null, unanswered: true });
    }, ANSWER_MS);
  });

  ui.form.addEventListener("submit", function (event) {
    event.preventDefault();
    const next = {
      url: ui.url.value.trim(),
      username: ui.username.value.trim(),
      password: ui.password.value,
      topic: ui.topic.value.trim().replace(/\/+$/, ""),
    };
    let error = "";
    if (!/^wss?:\/\/[^/]/i.test(next.url)) error = "The broker URL must start with ws:// or wss://.";
    else if (!next.topic) error = "The base topic must not be empty.";
    else if (/[+#]/.test(next.topic)) error = "The base topic must not contain + or #.";
    ui.formError.textContent = error;
    ui.formError.hidden = !error;
    if (error) return;
    settings = next;
    saveSettings(settings);
    closeSettingsOnConnect = true;
    connect();
  });

  fillForm();
  render();
  if (typeof mqtt !== "undefined") connect();
  else {
    // Not served by npm run sim: opened from a checkout (file://), where MQTT.js sits in ../node_modules/.
    const script = document.createElement("script");
    script.src = "../node_modules/mqtt/dist/mqtt.min.js";
    script.onload = connect;
    script.onerror = function () {
      set({
        connection: "invalid",
        problem: "MQTT.js is missing: put node_modules/mqtt/dist/mqtt.min.js next to index.html, or open the page from npm run sim.",
      });
    };
    document.head.appendChild(script);
  }
})();
