// Drives Hygeia's dashboard in headless Chromium (playwright-core), for the browser tests in
// crates/hygeia-server/tests/it/browser.rs, which start the server, seed it and pass the case as
// JSON in HYGEIA_BROWSER_CASE. Prints one JSON line of what it saw; exits non-zero on the first
// expectation that fails. Every step saves a screenshot.
import { chromium } from "playwright-core";

const c = JSON.parse(process.env.HYGEIA_BROWSER_CASE);
const browser = await chromium.launch({ executablePath: c.chromium, args: ["--no-sandbox", "--disable-gpu"] });
const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: "en-GB" });
const page = await context.newPage();
page.setDefaultTimeout(15000);
const problems = [];
page.on("pageerror", (e) => problems.push(`page error: ${e}`));
// Refusals the scenarios provoke (a 400 form page, a 404 outside the user's subtree) are not problems.
page.on("console", (m) => {
  if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
});

async function shot(name) {
  await page.screenshot({ path: `${c.shots}/${c.prefix}-${name}.png`, fullPage: true });
}
function check(condition, message) {
  if (!condition) throw new Error(message);
}
async function countIs(n) {
  await page.waitForFunction((n) => document.getElementById("unit-count")?.textContent === String(n), n)
    .catch(async () => { throw new Error(`the table counts ${await page.textContent("#unit-count")}, not ${n}`); });
}
async function mapShows(n) {
  await page.waitForFunction((n) => document.getElementById("map")?.getAttribute("data-features-shown") === String(n), n)
    .catch(async () => { throw new Error(`the map shows ${await page.getAttribute("#map", "data-features-shown")}, not ${n}`); });
}
const seen = {};

try {
  // Signing in from a page brings the browser back to it.
  await page.goto(`${c.base}/orgunits`);
  check(page.url().includes("/login?next=%2Forgunits"), `not sent to the login: ${page.url()}`);
  await page.fill("#username", c.username);
  await page.fill("#password", c.password);
  await shot("login");
  await Promise.all([page.waitForURL(`${c.base}/orgunits`), page.click("button[type=submit]")]);

  if (c.scenario === "editor") {
    // The tree: open the country, pick a region; the table and the map follow.
    await page.waitForSelector(`#tree a:text-is("${c.country}")`);
    await page.click(`#tree li:has(> a:text-is("${c.country}")) > .toggle`);
    await page.waitForSelector(`#tree a:text-is("${c.region}")`);
    await shot("tree");
    await page.click(`#tree a:text-is("${c.region}")`);
    await countIs(c.region_count);
    check(page.url().includes(`orgUnitParentId=${c.region_id}`), `the filter is not in the URL: ${page.url()}`);
    await mapShows(c.region_mapped);
    // Typing in the search filters both again, without reloading the page.
    await page.evaluate(() => { window.notReloaded = true; });
    await page.fill("#search", c.search);
    await countIs(c.search_count);
    await mapShows(c.search_count);
    check(await page.evaluate(() => window.notReloaded === true), "the page was reloaded");
    await page.click(`#table [data-zoom-to="${c.unit}"]`);
    await page.waitForSelector(".leaflet-popup-content a");
    await shot("table-and-map");

    // A unit's page: drag its point; the new location is saved through the API.
    await Promise.all([page.waitForURL(`**/orgunits/${c.unit}`), page.click(`#table a[href="/orgunits/${c.unit}"]`)]);
    await page.waitForFunction(() => document.getElementById("unit-map")?.mapReady === true);
    const before = (await page.textContent("#location-text")).trim();
    const marker = await page.waitForSelector(".leaflet-marker-icon");
    const box = await marker.boundingBox();
    const x = box.x + box.width / 2, y = box.y + box.height / 2;
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.mouse.move(x + 40, y + 20, { steps: 5 });
    await page.mouse.move(x + 80, y + 40, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction(() => document.getElementById("unit-map").hasAttribute("data-saved-at"));
    check((await page.textContent("#map-status")).trim() === c.location_saved, `not saved: ${await page.textContent("#map-status")}`);
    seen.location = (await page.textContent("#location-text")).trim();
    check(seen.location !== before, `the point did not move (${before})`);
    await shot("unit-moved");

    // A new boundary from a GeoJSON file.
    await page.setInputFiles("#shape-file", c.shape_file);
    await page.waitForFunction((text) => document.getElementById("map-status").textContent.trim() === text, c.shape_saved)
      .catch(async () => { throw new Error(`shape not saved: ${await page.textContent("#map-status")}`); });
    await shot("unit-shaped");

    // The edit form, swapped in place.
    await page.fill("#unit-edit input[name=name]", c.new_name);
    await page.click("#unit-edit button[type=submit]");
    await page.waitForSelector("#unit-edit .ok");
    await page.fill("#unit-edit input[name=parent_id]", "not-a-number");
    await page.click("#unit-edit button[type=submit]");
    await page.waitForSelector("#unit-edit .error");
    seen.refusal = (await page.textContent("#unit-edit .error")).trim();
    await shot("unit-edited");
    await page.reload();
    check((await page.textContent("h1")).includes(c.new_name), "the new name is not shown after a reload");
    check((await page.locator(".history tr").count()) >= 2, "the history lacks the changes");
    await shot("unit-history");
  } else if (c.scenario === "restricted") {
    // Everything starts at the user's own district.
    await page.waitForSelector("#tree a[data-filter-parent]");
    const roots = await page.$$eval("#tree > .tree > li > a", (links) => links.map((a) => a.textContent.trim()));
    check(JSON.stringify(roots) === JSON.stringify([c.district]), `the tree starts at ${roots}`);
    await countIs(c.district_count);
    await mapShows(c.district_mapped);
    await shot("restricted-list");
    const outside = await page.goto(`${c.base}/orgunits/${c.outside}`);
    check(outside.status() === 404, `a unit outside the district answered ${outside.status()}`);
    await shot("restricted-outside");
    // Asking for the country's subtree gives nothing: the country is not theirs to filter by.
    await page.goto(`${c.base}/orgunits?orgUnitParentId=${c.country_id}&validation_status=all`);
    await countIs(0);
    const names = await page.$$eval("#table tbody tr td:first-child", (cells) => cells.map((td) => td.textContent.trim()));
    check(!names.includes(c.outside_name), `a unit outside the district is listed: ${names}`);
    await shot("restricted-country-filter");
    const api = await page.evaluate(async (id) => (await fetch(`/api/orgunits/${id}/`)).status, c.outside);
    check(api === 404, `the API answered ${api} for a unit outside the district`);
    // The other pages: home counts, submissions, their pages, users.
    await page.goto(`${c.base}/`);
    check((await page.textContent("#valid-units")).trim() === String(c.district_count), "home counts units outside the district");
    await page.goto(`${c.base}/submissions`);
    check((await page.textContent("#submission-count")).trim() === "1", `submissions outside the district are listed: ${await page.textContent("#submission-count")}`);
    const ids = await page.$$eval("#table tbody tr", (rows) => rows.map((r) => r.getAttribute("data-id")));
    check(JSON.stringify(ids) === JSON.stringify([String(c.inside_submission)]), `listed submissions: ${ids}`);
    await shot("restricted-submissions");
    const foreign = await page.goto(`${c.base}/submissions/${c.outside_submission}`);
    check(foreign.status() === 404, `a submission outside the district answered ${foreign.status()}`);
    const users = await page.goto(`${c.base}/users`);
    check(users.status() === 403, `the users page answered ${users.status()}`);
  } else if (c.scenario === "import") {
    // A GeoPackage imported into a new source; its task's page follows it to the end.
    await page.goto(`${c.base}/sources/import`);
    await page.setInputFiles("#import-file input[name=file]", c.gpkg);
    await page.selectOption("#import-file select[name=format]", "gpkg");
    await page.fill("#import-file input[name=source_name]", c.source_name);
    await page.selectOption("#import-file select[name=validation_status]", "VALID");
    await shot("import-form");
    await Promise.all([page.waitForURL(/\/tasks\/\d+$/), page.click("#import-file button[type=submit]")]);
    seen.task_url = page.url();
    await page.evaluate(() => { window.notReloaded = true; });
    await page.waitForSelector('#task-progress[data-status="SUCCESS"]', { timeout: 60000 })
      .catch(async () => { throw new Error(`the task ended as ${await page.getAttribute("#task-progress", "data-status")}: ${await page.textContent("#task-progress")}`); });
    check(await page.evaluate(() => window.notReloaded === true), "the task page was reloaded instead of updated in place");
    seen.outcome = (await page.textContent("#task-outcome")).trim();
    await shot("import-done");
    // The new source's version lists the imported units.
    await page.goto(`${c.base}/sources`);
    await page.click(`section.source:has(h2:text-is("${c.source_name}")) a:text-is("Org units")`);
    await countIs(c.expected_units);
    await shot("import-units");
  } else if (c.scenario === "forms") {
    // A new form; a refused XLSForm shows where it fails; a good one becomes a version.
    await page.goto(`${c.base}/forms`);
    await page.fill("#new-form input[name=name]", c.form_name);
    await Promise.all([page.waitForURL(/\/forms\/\d+$/), page.click("#new-form button[type=submit]")]);
    await page.setInputFiles("#upload-version input[name=xls_file]", c.broken);
    await Promise.all([page.waitForLoadState("load"), page.click("#upload-version button[type=submit]")]);
    await page.waitForSelector("#xlsform-error");
    seen.refused_sheet = (await page.textContent("#error-sheet")).trim();
    await shot("xlsform-refused");
    await page.setInputFiles("#upload-version input[name=xls_file]", c.good);
    await Promise.all([page.waitForURL(/published=/), page.click("#upload-version button[type=submit]")]);
    seen.published = (await page.textContent("#published")).trim();
    seen.questions = await page.locator("#questions tbody tr").count();
    await shot("xlsform-published");
  } else if (c.scenario === "fill") {
    // A new form, its XLSForm uploaded here, then filled in ODK Web Forms, sent through OpenRosa
    // and found in the submissions' table.
    await page.goto(`${c.base}/forms`);
    await page.fill("#new-form input[name=name]", c.form_name);
    await Promise.all([page.waitForURL(/\/forms\/\d+$/), page.click("#new-form button[type=submit]")]);
    seen.form_url = page.url();
    await page.setInputFiles("#upload-version input[name=xls_file]", c.xlsform);
    await Promise.all([page.waitForURL(/published=/), page.click("#upload-version button[type=submit]")]);
    await Promise.all([page.waitForURL(/\/fill$/), page.click("#fill-link")]);
    await page.waitForSelector('#odk-form[data-ready="true"]');
    const name = page.locator("#odk-form input").first();
    await name.waitFor();
    await shot("fill-blank");
    await name.fill(c.answer);
    // The integer question is a number widget that reads keystrokes, not a pasted value.
    const age = page.locator("#odk-form input").nth(1);
    await age.click();
    await age.pressSequentially(String(c.age));
    await age.press("Tab");
    await page.getByRole("button", { name: "Send" }).click();
    await page.waitForSelector('#odk-form[data-submitted="1"]')
      .catch(async () => { throw new Error(`not sent: ${await page.textContent("#fill-status")}`); });
    seen.status = (await page.textContent("#fill-status")).trim();
    await shot("fill-sent");
    await page.click("#form-submissions");
    await page.waitForSelector("#submission-count");
    seen.count = (await page.textContent("#submission-count")).trim();
    await Promise.all([page.waitForURL(/\/submissions\/\d+$/), page.click("#table tbody tr a")]);
    seen.answers = (await page.innerText("#answers")).replace(/\s+/g, " ").trim();
    await shot("fill-found");
  } else {
    throw new Error(`unknown scenario ${c.scenario}`);
  }
  check(problems.length === 0, problems.join("; "));
  console.log(JSON.stringify(seen));
} catch (err) {
  await shot("failure").catch(() => {});
  console.error(`${err.message}\n(at ${page.url()}; screenshots in ${c.shots})`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
