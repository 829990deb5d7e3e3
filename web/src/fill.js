// The form-filling page: ODK Web Forms renders the version's XForm; a valid form is sent to
// Hygeia's own OpenRosa endpoint, exactly as ODK Collect sends it (multipart with
// xml_submission_file), with the browser's session. Bundled by esbuild (crates/hygeia-assets).
import { createApp } from "vue";
import { OdkWebForm, POST_SUBMIT__NEW_INSTANCE, webFormsPlugin } from "@getodk/web-forms";

const host = document.getElementById("odk-form");
const status = document.getElementById("fill-status");

function say(text, failed) {
  status.textContent = text;
  status.className = failed ? "error" : "ok";
}

async function send(payload) {
  if (payload.status !== "ready") {
    say(host.dataset.invalid, true);
    return undefined;
  }
  const response = await fetch(host.dataset.submit, {
    method: "POST",
    body: payload.data[0],
    credentials: "same-origin",
    headers: { "X-OpenRosa-Version": "1.0" },
  });
  if (!response.ok) {
    const body = await response.text();
    const message = new DOMParser().parseFromString(body, "text/xml").querySelector("message")?.textContent ?? body;
    say(`${host.dataset.failed}: ${message}`, true);
    return undefined;
  }
  host.dataset.submitted = String(Number(host.dataset.submitted || "0") + 1);
  say(host.dataset.done, false);
  // A blank form again, for the next one.
  return { next: POST_SUBMIT__NEW_INSTANCE };
}

const xform = await fetch(host.dataset.xform, { credentials: "same-origin" });
if (!xform.ok) {
  say(`${host.dataset.failed}: ${xform.status}`, true);
} else {
  const app = createApp(OdkWebForm, {
    formXml: await xform.text(),
    fetchFormAttachment: (url) => fetch(url, { credentials: "same-origin" }),
    onSubmit: (payload, callback) => callback(send(payload).catch((err) => say(`${host.dataset.failed}: ${err}`, true))),
  });
  app.use(webFormsPlugin);
  app.mount(host);
  host.dataset.ready = "true";
}
