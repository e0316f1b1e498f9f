// The phone page (phone/) in headless Chromium, phone-sized, against aedes and Mosquitto over WebSocket, with the
// built bundle running on a simulated board (host-sim, its own process). Screenshots: test-output/phone/.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { buildFirmware } from "../esbuild.config.mjs";
import { startPageServer } from "../host-sim/broker.ts";
import { freePort } from "./support/brokers.ts";
import { launchChromium, launchPhoneProfile, newPhoneContext, saveSettings, screenshot, waitForText } from "./support/browser.ts";
import { Phone } from "./support/phone.ts";
import { SimProcess } from "./support/sim-process.ts";
import { startAedesWs, startMosquittoWs, User, WsBroker } from "./support/ws-brokers.ts";

const DEVICE: User = { username: "device", password: "device-secret" };
const PHONE: User = { username: "phone", password: "phone-secret" };

const workDir = mkdtempSync(join(tmpdir(), "phone-"));
let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  rmSync(workDir, { recursive: true, force: true });
});

/** Builds the bundle exactly as `npm run build` does, with this broker baked in, ignoring any local config. */
async function buildFor(mqttUrl: string, clientId: string): Promise<string> {
  const outfile = join(workDir, `${clientId}.js`);
  await buildFirmware({ outfile, configFile: null, env: {}, overrides: { mqttUrl, clientId } });
  return outfile;
}

const pinIs = (value: number) => (e: Record<string, unknown>) => e.event === "pin" && e.pin === "D2" && e.value === value;

for (const [label, start] of [
  ["aedes", () => startAedesWs([DEVICE, PHONE])],
  ["Mosquitto", () => startMosquittoWs([DEVICE, PHONE])],
] as const) {
  describe(`the phone page on ${label} over WebSocket`, { timeout: 120_000 }, () => {
    let broker: WsBroker;
    let sim: SimProcess;
    let other: Phone;
    let context: BrowserContext;
    let page: Page;
    const shot = (name: string) => screenshot(page, `${label.toLowerCase()}-${name}`);

    before(async () => {
      broker = await start();
      const bundle = await buildFor(broker.deviceUrl, `ph${broker.name}`);
      sim = new SimProcess(["--bundle", bundle]);
      await sim.waitFor((e) => e.event === "mqtt" && e.state === "connected", "MQTT connection");
      context = await newPhoneContext(browser);
      page = await context.newPage();
      await page.goto(broker.pageUrl);
    });

    after(async () => {
      await context?.close();
      await sim?.kill();
      await other?.end();
      await broker?.stop();
    });

    test("a wrong broker URL says the broker cannot be reached", async () => {
      const nobody = `ws://127.0.0.1:${await freePort()}/mqtt`;
      await saveSettings(page, { url: nobody, ...PHONE });
      const message = await waitForText(page, "#message", /Cannot reach a broker at/);
      assert.match(message, new RegExp(nobody.replace(/[.]/g, "\\.")));
      assert.equal(await page.locator("#connection-text").textContent(), "No broker");
      assert.equal(await page.locator("#toggle").isDisabled(), true);
      await shot("wrong-url");
    });

    test("wrong credentials say the user name or password was refused", async () => {
      await saveSettings(page, { url: broker.wsUrl, username: PHONE.username, password: "wrong" });
      // aedes answers 4 (bad user name or password), Mosquitto 5 (not authorized): both name what to check.
      await waitForText(page, "#message", /user name (or|and) password/);
      assert.equal(await page.locator("#connection-text").textContent(), "Refused");
      assert.equal(await page.locator("#toggle").isDisabled(), true);
      await shot("wrong-credentials");
    });

    test("with the right settings it shows the device online and the LED's retained state", async () => {
      await saveSettings(page, { url: broker.wsUrl, ...PHONE });
      await waitForText(page, "#connection-text", /^Connected$/);
      await waitForText(page, "#device-text", /^Online$/);
      await waitForText(page, "#toggle-label", /^Off$/);
      assert.equal(await page.locator("#message").isHidden(), true);
      assert.equal(await page.locator("#settings").evaluate((details) => (details as unknown as { open: boolean }).open), false, "settings close once connected");
      // The retained state predates the page: it cannot know when it changed, only that it was so already.
      assert.equal(await page.locator("#changed").textContent(), "Earlier");
      assert.match((await page.locator("#changed-detail").textContent()) ?? "", /^before \d\d:\d\d:\d\d$/);
      await shot("connected-off");
    });

    test("tapping the control switches the simulated pin, and the page shows the new state", async () => {
      other = await connectWith(broker.url, PHONE);
      const fromEvent = sim.events.length;
      const fromSeen = other.seen.length;
      await page.tap("#toggle");
      await sim.waitFor(pinIs(1), "pin D2=1 after a tap", fromEvent);
      await other.waitFor("led/state", "on", fromSeen);
      await waitForText(page, "#toggle-label", /^On$/);
      assert.equal(await page.locator("#toggle").getAttribute("aria-pressed"), "true");
      assert.match((await page.locator("#changed").textContent()) ?? "", /^\d\d:\d\d:\d\d$/);
      await shot("tapped-on");
    });

    test("a command sent by another MQTT client shows on the page", async () => {
      const fromEvent = sim.events.length;
      await other.publish("led", "off");
      await sim.waitFor(pinIs(0), "pin D2=0 after another client's off", fromEvent);
      await waitForText(page, "#toggle-label", /^Off$/);
      assert.equal(await page.locator("#toggle").getAttribute("aria-pressed"), "false");
      await waitForText(page, "#toggle-hint", /^Tap to switch on$/);
      await shot("other-client-off");
    });

    test("the settings are kept in the browser's storage across a reload", async () => {
      await page.reload();
      await waitForText(page, "#connection-text", /^Connected$/);
      assert.equal(await page.inputValue("#url"), broker.wsUrl);
      assert.equal(await page.inputValue("#username"), PHONE.username);
      assert.equal(await page.inputValue("#password"), PHONE.password);
      assert.equal(await page.inputValue("#topic"), "led");
      await waitForText(page, "#toggle-label", /^Off$/);
      // This browser saw the last change, so it still knows its time.
      assert.match((await page.locator("#changed").textContent()) ?? "", /^\d\d:\d\d:\d\d$/);
    });

    test("stopping the simulated device shows it offline, and the control warns that a command may not arrive", async () => {
      await sim.kill();
      await waitForText(page, "#device-text", /^Offline$/);
      await waitForText(page, "#message", /device is offline: a command may not arrive/);
      await waitForText(page, "#toggle-hint", /^Last known state\nA tap may not arrive$/);
      assert.equal(await page.locator("#toggle-label").textContent(), "Off");
      await shot("device-offline");
    });
  });
}

/** MQTT.js with credentials (Phone.connect has none): the brokers here refuse anonymous clients. */
async function connectWith(url: string, user: User): Promise<Phone> {
  const withUser = new URL(url);
  withUser.username = user.username;
  withUser.password = user.password;
  return Phone.connect(withUser.toString(), ["led/state"]);
}

describe("npm run sim serves the page, and the embedded broker over WebSocket", { timeout: 120_000 }, () => {
  let sim: SimProcess;
  let context: BrowserContext;
  let pageUrl: string;
  let wsUrl: string;

  before(async () => {
    const port = await freePort();
    const httpPort = await freePort();
    const bundle = await buildFor(`mqtt://127.0.0.1:${port}`, "phsim");
    sim = new SimProcess(["--port", String(port), "--http-port", String(httpPort), "--bundle", bundle]);
    const brokerEvent = await sim.waitFor((e) => e.event === "broker", "the broker's URLs");
    const pageEvent = await sim.waitFor((e) => e.event === "page", "the page's URL");
    await sim.waitFor((e) => e.event === "mqtt" && e.state === "connected", "MQTT connection");
    pageUrl = String(pageEvent.url);
    wsUrl = String(brokerEvent.ws);
    assert.equal(pageUrl, `http://127.0.0.1:${httpPort}/`);
    assert.equal(wsUrl, `ws://127.0.0.1:${httpPort}/mqtt`);
    assert.deepEqual(pageEvent.lan, [], "loopback only unless --host says otherwise");
    context = await newPhoneContext(browser);
  });

  after(async () => {
    await context?.close();
    await sim?.kill();
  });

  test("opened as printed, the page connects with its defaults and a tap switches the pin", async () => {
    const page = await context.newPage();
    await page.goto(pageUrl);
    assert.equal(await page.inputValue("#url"), wsUrl, "the default broker is the one serving the page");
    await waitForText(page, "#device-text", /^Online$/);
    await waitForText(page, "#toggle-label", /^Off$/);
    const fromEvent = sim.events.length;
    await page.tap("#toggle");
    await sim.waitFor(pinIs(1), "pin D2=1 after a tap", fromEvent);
    await waitForText(page, "#toggle-label", /^On$/);
    await screenshot(page, "sim-on");
    await page.tap("#toggle");
    await sim.waitFor(pinIs(0), "pin D2=0 after a second tap", fromEvent);
    await waitForText(page, "#toggle-label", /^Off$/);
    await page.close();
  });

  test("the page is installable: Chromium finds no installability errors in its manifest", async () => {
    // A profile on disk: Chromium does not install from an incognito-like context (newContext's).
    const profile = mkdtempSync(join(workDir, "profile-"));
    const persistent = await launchPhoneProfile(profile);
    try {
      const page = persistent.pages()[0] ?? (await persistent.newPage());
      await page.goto(pageUrl);
      const manifest = (await page.evaluate(async () => (await fetch("manifest.webmanifest")).json())) as { display: string };
      assert.equal(manifest.display, "standalone");
      const session = await persistent.newCDPSession(page);
      const deadline = Date.now() + 10_000;
      let errors: unknown[];
      // Chromium fetches the manifest and icons in the background: ask until the answer has no errors.
      for (;;) {
        errors = ((await session.send("Page.getInstallabilityErrors")) as { installabilityErrors: unknown[] }).installabilityErrors;
        if (!errors.length || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.deepEqual(errors, []);
    } finally {
      await persistent.close();
    }
  });

  test("opened as a file from the checkout, the page finds MQTT.js in node_modules and takes ?broker=", async () => {
    const page = await context.newPage();
    const file = pathToFileURL(resolve("phone/index.html"));
    file.search = `?broker=${encodeURIComponent(wsUrl)}`;
    await page.goto(file.toString());
    await waitForText(page, "#connection-text", /^Connected$/);
    await waitForText(page, "#device-text", /^Online$/);
    assert.equal(await page.inputValue("#url"), wsUrl);
    assert.equal(new URL(page.url()).search, "", "the query goes into the settings and out of the address");
    await page.close();
  });
});

describe("the page server", () => {
  /** A raw request, so that the path reaches the server exactly as written (fetch would tidy `..` away). */
  function get(port: number, path: string, method = "GET"): Promise<{ status: number; type: string; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path, method }, (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, type: String(response.headers["content-type"]), body }));
      });
      req.on("error", reject);
      req.end();
    });
  }

  test("serves phone/ and MQTT.js's browser build, and nothing else", async () => {
    const server = await startPageServer(0);
    try {
      const index = await get(server.port, "/");
      assert.equal(index.status, 200);
      assert.match(index.type, /^text\/html/);
      assert.equal(index.body, readFileSync("phone/index.html", "utf8"));
      const mqtt = await get(server.port, "/mqtt.min.js");
      assert.equal(mqtt.status, 200);
      assert.match(mqtt.type, /^text\/javascript/);
      assert.equal(mqtt.body, readFileSync("node_modules/mqtt/dist/mqtt.min.js", "utf8"));
      assert.equal((await get(server.port, "/manifest.webmanifest")).type, "application/manifest+json");
      assert.equal((await get(server.port, "/app.js", "HEAD")).status, 200);
      for (const path of ["/../package.json", "/%2e%2e/package.json", "/..%2fpackage.json", "/nope.html", "/mqtt.js"]) {
        assert.equal((await get(server.port, path)).status, 404, path);
      }
      assert.equal((await get(server.port, "/", "POST")).status, 405);
    } finally {
      await server.close();
    }
  });
});
