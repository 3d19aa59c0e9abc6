"use strict";
// The page at GET /: send a photo, follow its prediction, draw the boxes. Same-origin calls
// only, with relative URLs (the page works under a stage prefix too).
(() => {
  const KEY_STORAGE = "dogdetect.apiKey";
  const WAIT_SECONDS = 20; // Prefer: wait=N, the most the status function holds a request
  const POLL_MS = 1000; // between calls when the service answered at once (did not wait)
  const GIVE_UP_MS = 5 * 60 * 1000;
  const TERMINAL = new Set(["DONE", "ERROR"]);
  // tests/e2e/test_page.py looks for these colours on the screenshot.
  const BOX_COLOURS = { dog: "#ff00aa", other: "#00c8ff" };
  const TEXT_COLOURS = { dog: "#ffffff", other: "#000000" };
  const MAX_CANVAS_SIDE = 1600;

  const byId = (id) => document.getElementById(id);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  let currentRun = 0; // a newer photo supersedes the one being followed

  function say(text) {
    byId("status").textContent = text;
  }

  function keyHeaders() {
    const key = byId("api-key").value.trim();
    return key ? { "X-API-Key": key } : {};
  }

  async function jsonOf(response) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }

  // The service's {"detail": ...} (a string, or a list of problems) or the gateway's
  // {"message": ...}, as one sentence.
  function problemOf(response, body) {
    const detail = body ? (body.detail ?? body.message) : null;
    let text = response.statusText || "request failed";
    if (typeof detail === "string") text = detail;
    else if (Array.isArray(detail)) text = detail.map((p) => p.msg).join("; ");
    const hint = response.status === 401 ? " (enter the API key above)" : "";
    return `${response.status}: ${text}${hint}`;
  }

  function retryDelay(response) {
    const seconds = Number(response.headers.get("Retry-After"));
    return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 2000;
  }

  function showPrediction(body) {
    byId("result").hidden = false;
    byId("prediction-id").textContent = body.image_prediction_id;
    byId("prediction-status").textContent = body.error
      ? `${body.status}: ${body.error}`
      : body.status;
    byId("has-dog").textContent =
      body.has_dog === true ? "yes" : body.has_dog === false ? "no" : "not known yet";
    const list = byId("detections");
    list.replaceChildren(
      ...(body.detections || []).map((d) => {
        const item = document.createElement("li");
        const { x1, y1, x2, y2 } = d.box;
        const confidence = Math.round(d.confidence * 100);
        item.textContent = `${d.label} ${confidence}% at (${x1}, ${y1}) to (${x2}, ${y2})`;
        return item;
      }),
    );
    byId("no-detections").hidden = !TERMINAL.has(body.status) || list.childElementCount > 0;
  }

  function clearPrediction() {
    byId("result").hidden = true;
    byId("detections").replaceChildren();
  }

  // The photo at most MAX_CANVAS_SIDE pixels a side; boxes come in the photo's own pixels
  // (EXIF orientation applied, as the service and createImageBitmap both do).
  function draw(bitmap, detections) {
    const canvas = byId("photo-canvas");
    if (!bitmap) {
      canvas.width = canvas.height = 0;
      return;
    }
    const scale = Math.min(1, MAX_CANVAS_SIDE / Math.max(bitmap.width, bitmap.height));
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    const context = canvas.getContext("2d");
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const line = Math.max(3, Math.round(canvas.width / 250));
    const fontSize = Math.max(14, line * 5);
    context.lineWidth = line;
    context.font = `bold ${fontSize}px sans-serif`;
    context.textBaseline = "top";
    for (const d of detections) {
      const kind = d.label === "dog" ? "dog" : "other";
      const x = d.box.x1 * scale;
      const y = d.box.y1 * scale;
      const width = (d.box.x2 - d.box.x1) * scale;
      const height = (d.box.y2 - d.box.y1) * scale;
      context.strokeStyle = BOX_COLOURS[kind];
      context.strokeRect(x, y, width, height);
      const text = `${d.label} ${Math.round(d.confidence * 100)}%`;
      const textWidth = context.measureText(text).width + line * 2;
      const textHeight = fontSize + line;
      const textY = y >= textHeight ? y - textHeight : y; // above the box, else inside it
      context.fillStyle = BOX_COLOURS[kind];
      context.fillRect(x - line / 2, textY, textWidth, textHeight);
      context.fillStyle = TEXT_COLOURS[kind];
      context.fillText(text, x - line / 2 + line, textY + line / 2);
    }
  }

  async function follow(id, run) {
    const url = `image_prediction/${encodeURIComponent(id)}`;
    const deadline = Date.now() + GIVE_UP_MS;
    let pause = 0;
    while (run === currentRun) {
      if (Date.now() > deadline) {
        say(`No answer within ${GIVE_UP_MS / 60000} minutes; the id is ${id}.`);
        return null;
      }
      if (pause) await sleep(pause);
      const started = Date.now();
      let response;
      try {
        const headers = { ...keyHeaders(), Prefer: `wait=${WAIT_SECONDS}` };
        response = await fetch(url, { headers, cache: "no-store" });
      } catch {
        say("The service is not answering; trying again.");
        pause = 2000;
        continue;
      }
      const body = await jsonOf(response);
      if (run !== currentRun) return null;
      if (response.status === 429 || response.status === 503) {
        say(`Busy (${response.status}); trying again.`);
        pause = retryDelay(response);
        continue;
      }
      if (!response.ok) {
        say(`Could not read the prediction: ${problemOf(response, body)}`);
        return null;
      }
      showPrediction(body);
      if (TERMINAL.has(body.status)) return body;
      say(`${body.status}: waiting for the answer.`);
      // A service that held the request answers when it has news; one that ignored
      // Prefer: wait answers at once, and is asked again each POLL_MS.
      pause = Math.max(0, POLL_MS - (Date.now() - started));
    }
    return null;
  }

  async function send(file) {
    const run = ++currentRun;
    clearPrediction();
    let bitmap = null;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      // A format this browser cannot show (TIFF): the service may still read it.
    }
    draw(bitmap, []);
    say(`Sending ${file.name}.`);
    const form = new FormData();
    form.append("image", file, file.name);
    let response;
    try {
      response = await fetch("image_prediction", {
        method: "POST",
        headers: keyHeaders(),
        body: form,
      });
    } catch {
      say("The service is not answering; try again.");
      return;
    }
    const body = await jsonOf(response);
    if (run !== currentRun) return;
    if (response.status !== 202) {
      say(`Not accepted: ${problemOf(response, body)}`);
      return;
    }
    showPrediction(body);
    say(`${body.status}: waiting for the answer.`);
    const final = await follow(body.image_prediction_id, run);
    if (!final || run !== currentRun) return;
    draw(bitmap, final.detections);
    const found = final.detections.length;
    say(
      final.status === "DONE"
        ? `DONE: ${final.has_dog ? "a dog" : "no dog"}, ${found} detection${found === 1 ? "" : "s"}.`
        : `ERROR: ${final.error}`,
    );
  }

  function start() {
    const key = byId("api-key");
    key.value = sessionStorage.getItem(KEY_STORAGE) || "";
    key.addEventListener("input", () => sessionStorage.setItem(KEY_STORAGE, key.value));

    const input = byId("photo");
    input.addEventListener("change", () => {
      if (input.files.length) send(input.files[0]);
    });

    const zone = byId("drop-zone");
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      const file = event.dataTransfer.files[0];
      if (file) send(file);
    });
    // A photo dropped beside the box must not replace the page with the file.
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());
    byId("upload-form").addEventListener("submit", (event) => event.preventDefault());
  }

  start();
})();
