// Loads one dashboard page in headless Chromium under Chromium's 3G network emulation and
// prints what it cost: time to first contentful paint, to the page's load event, to the map's
// features being drawn (org-unit pages), and the bytes transferred (compressed, headers
// included), split into the page, JS+CSS, and data. Used by bench/dashboard.sh.
//
//   HYGEIA_PAGE='{"base":..., "path":"/orgunits", "username":..., "password":..., "chromium":..., "profile":"3g"}' node page-load.mjs
import { chromium } from "playwright-core";

const c = JSON.parse(process.env.HYGEIA_PAGE);
// Chromium DevTools' presets: "3G" (formerly "Fast 3G") and "Slow 3G".
const profiles = {
  "3g": { latency: 562.5, downloadThroughput: (1.6 * 1024 * 1024 / 8) * 0.9, uploadThroughput: (750 * 1024 / 8) * 0.9 },
  "slow-3g": { latency: 2000, downloadThroughput: (500 * 1024 / 8) * 0.8, uploadThroughput: (500 * 1024 / 8) * 0.8 },
  none: null,
};
const browser = await chromium.launch({ executablePath: c.chromium, args: ["--no-sandbox", "--disable-gpu"] });
const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
const page = await context.newPage();

// Sign in without throttling (a returning user has a session), then measure a cold cache.
await page.goto(`${c.base}/login`);
await page.fill("#username", c.username);
await page.fill("#password", c.password);
await Promise.all([page.waitForURL(`${c.base}/`), page.click("button[type=submit]")]);

const cdp = await context.newCDPSession(page);
await cdp.send("Network.enable");
await cdp.send("Network.clearBrowserCache");
await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
if (profiles[c.profile]) {
  await cdp.send("Network.emulateNetworkConditions", { offline: false, ...profiles[c.profile] });
}
const types = new Map();
const bytes = { document: 0, script_style: 0, data: 0, other: 0 };
cdp.on("Network.responseReceived", (e) => types.set(e.requestId, e.type));
cdp.on("Network.loadingFinished", (e) => {
  const type = types.get(e.requestId);
  const bucket = type === "Document" ? "document" : type === "Script" || type === "Stylesheet" ? "script_style"
    : type === "Fetch" || type === "XHR" ? "data" : "other";
  bytes[bucket] += e.encodedDataLength;
});

const started = Date.now();
await page.goto(`${c.base}${c.path}`, { waitUntil: "load", timeout: 120000 });
const loaded = Date.now() - started;
let mapDrawn = null;
if (await page.$("#map[data-features]")) {
  await page.waitForFunction(() => document.getElementById("map").hasAttribute("data-features-shown"), null, { timeout: 120000 });
  mapDrawn = Date.now() - started;
}
const paint = await page.evaluate(() => {
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  return fcp ? Math.round(fcp.startTime) : null;
});
const features = await page.evaluate(() => document.getElementById("map")?.getAttribute("data-features-shown") ?? null);
const rows = await page.evaluate(() => document.querySelectorAll("#table tbody tr").length);
console.log(JSON.stringify({
  profile: c.profile, path: c.path, first_contentful_paint_ms: paint, load_ms: loaded, map_drawn_ms: mapDrawn,
  rows, features, bytes, total_bytes: Object.values(bytes).reduce((a, b) => a + b, 0),
}));
await browser.close();
