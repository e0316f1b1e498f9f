// Headless Chromium (Debian's, at /usr/bin/chromium) driven by playwright-core, sized and behaving like a phone,
// allowed to reach loopback and local files only. Screenshots go to test-output/phone/ (git-ignored).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, Browser, BrowserContext, Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOT_DIR = join("test-output", "phone");

/** A small Android phone: 360 x 740 CSS pixels at 2x, touch. */
export const PHONE_VIEWPORT = { width: 360, height: 740 };

const LAUNCH = {
  executablePath: CHROMIUM,
  // Without the background-networking flags Chromium keeps trying hosts this closed network refuses.
  args: ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update", "--disable-sync", "--no-first-run"],
  timeout: 30_000,
};

const PHONE = {
  viewport: PHONE_VIEWPORT,
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  colorScheme: "light" as const,
  locale: "en-GB",
  timezoneId: "UTC",
};

export async function launchChromium(): Promise<Browser> {
  return chromium.launch(LAUNCH);
}

/** A fresh browser profile (its own storage) on a phone-sized screen; anything but loopback and files is refused. */
export async function newPhoneContext(browser: Browser): Promise<BrowserContext> {
  return localOnly(await browser.newContext(PHONE));
}

/** A browser of its own with a profile on disk in `dir` (which the caller removes), phone-sized. Close it. */
export async function launchPhoneProfile(dir: string): Promise<BrowserContext> {
  return localOnly(await chromium.launchPersistentContext(dir, { ...LAUNCH, ...PHONE }));
}

async function localOnly(context: BrowserContext): Promise<BrowserContext> {
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    const local = url.protocol === "file:" || url.hostname === "127.0.0.1" || url.hostname === "localhost";
    return local ? route.continue() : route.abort("blockedbyclient");
  });
  context.setDefaultTimeout(10_000);
  return context;
}

/** Saves `<name>.png` (light) and `<name>-dark.png` (the same state in dark mode), the whole page. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.emulateMedia({ colorScheme: "light", reducedMotion: "reduce" });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true, animations: "disabled" });
  await page.emulateMedia({ colorScheme: "dark", reducedMotion: "reduce" });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}-dark.png`), fullPage: true, animations: "disabled" });
  await page.emulateMedia({ colorScheme: "light", reducedMotion: "reduce" });
}

/** Waits until the text of `selector` matches, and returns it; the error tells what the page showed instead. */
export async function waitForText(page: Page, selector: string, expected: RegExp, ms = 10_000): Promise<string> {
  const deadline = Date.now() + ms;
  let text = "";
  for (;;) {
    text = ((await page.locator(selector).textContent()) ?? "").trim();
    if (expected.test(text)) return text;
    if (Date.now() > deadline) {
      const message = await page.locator("#message").textContent();
      throw new Error(`page: ${selector} is ${JSON.stringify(text)}, not ${expected} after ${ms} ms; banner: ${JSON.stringify(message)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Fills the page's connection settings and submits them (the settings panel is opened if it is closed). */
export async function saveSettings(page: Page, settings: { url: string; username?: string; password?: string; topic?: string }): Promise<void> {
  if (!(await page.locator("#settings").evaluate((details) => (details as unknown as { open: boolean }).open))) await page.tap("#settings summary");
  await page.fill("#url", settings.url);
  await page.fill("#username", settings.username ?? "");
  await page.fill("#password", settings.password ?? "");
  await page.fill("#topic", settings.topic ?? "led");
  await page.tap("#settings-form button[type=submit]");
}
