"use strict";
// The page at GET /: send a photo, follow its prediction, draw the boxes. Calls to this
// service with relative URLs (the page works under a stage prefix too); a photo over the
// service's upload limit goes to storage with the presigned POST the service hands out
// (POST image_prediction/uploads), the one other origin the page's policy lets it reach.
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
  // Where a label may go along each edge of its box: dogdetect/image/draw.py's LABEL_STEPS.
  const LABEL_STEPS = 8;

  const byId = (id) => document.getElementById(id);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const limits = document.querySelector("main").dataset;
  const maxUploadBytes = Number(limits.maxUploadBytes); // POST image_prediction takes these
  const directUploadMaxBytes = Number(limits.directUploadMaxBytes); // storage takes these
  let currentRun = 0; // a newer photo supersedes the one being followed
  let chosen = null; // the photo Send (or Retry) sends

  function megabytes(bytes) {
    return `${(bytes / 1e6).toLocaleString("en", { maximumFractionDigits: 1 })} MB`;
  }

  function say(text, state = "working") {
    const status = byId("status");
    status.textContent = text;
    status.dataset.state = state;
  }

  // A refusal or a failure: said as such, with nothing drawn that could pass for an answer.
  function fail(text) {
    say(text, "problem");
    draw(null, []);
    byId("send").textContent = `Retry ${chosen ? chosen.name : ""}`.trim();
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
    const hint = response.status === 401 ? " (enter the API key above, then Retry)" : "";
    return `${response.status}: ${text}${hint}`;
  }

  // S3's refusal, <Error><Code>...</Code><Message>...</Message></Error>, as one sentence.
  async function storageProblemOf(response) {
    let text = "";
    try {
      const xml = new DOMParser().parseFromString(await response.text(), "application/xml");
      const part = (name) => xml.getElementsByTagName(name)[0]?.textContent ?? "";
      text = [part("Code"), part("Message")].filter(Boolean).join(": ");
    } catch {
      // not XML: the status alone
    }
    return `${response.status}: ${text || response.statusText || "refused"}`;
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
        item.textContent = `${labelText(d)} at (${x1}, ${y1}) to (${x2}, ${y2})`;
        return item;
      }),
    );
    byId("no-detections").hidden = !TERMINAL.has(body.status) || list.childElementCount > 0;
  }

  function clearPrediction() {
    byId("result").hidden = true;
    byId("detections").replaceChildren();
  }

  // "dog 92%": dogdetect/image/draw.py's label_text.
  function labelText(detection) {
    return `${detection.label} ${Math.round(detection.confidence * 100)}%`;
  }

  // --- label placement: the annotated JPEG's rule (dogdetect/image/draw.py place_labels) ---

  function steps(start, last) {
    if (last <= start) return [start];
    return Array.from(
      { length: LABEL_STEPS },
      (_, i) => start + ((last - start) * i) / (LABEL_STEPS - 1),
    );
  }

  // The places a label may take for its box, best first, each inside the image: along the
  // top edge (above it, then just inside it), along the bottom edge (below, then inside),
  // then down the left and right edges (outside, then inside).
  function labelCandidates([x1, y1, x2, y2], [width, height], [imageWidth, imageHeight]) {
    const across = steps(x1, x2 - width);
    const down = steps(y1, y2 - height);
    const places = [];
    for (const y of [y1 - height, y1, y2, y2 - height]) for (const x of across) places.push([x, y]);
    for (const x of [x1 - width, x1, x2, x2 - width]) for (const y of down) places.push([x, y]);
    return places.map(([x, y]) => {
      const left = Math.max(0, Math.min(x, imageWidth - width));
      const top = Math.max(0, Math.min(y, imageHeight - height));
      return [left, top, left + width, top + height];
    });
  }

  function overlaps(a, b) {
    return a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
  }

  // Each label's rectangle, the most important first: the first of its candidates that
  // overlaps no label placed before it, or null (its box is drawn without a label).
  function placeLabels(boxes, sizes, imageSize) {
    const placed = [];
    return boxes.map((box, i) => {
      const free = labelCandidates(box, sizes[i], imageSize).find(
        (candidate) => !placed.some((other) => overlaps(candidate, other)),
      );
      if (!free) return null;
      placed.push(free);
      return free;
    });
  }

  // The photo at most MAX_CANVAS_SIDE pixels a side; boxes come in the photo's own pixels
  // (EXIF orientation applied, as the service and createImageBitmap both do). The labels'
  // rectangles, in the canvas's pixels, are kept on the canvas's data-labels (for tests).
  function draw(bitmap, detections) {
    const canvas = byId("photo-canvas");
    canvas.dataset.labels = "[]";
    if (!bitmap) {
      canvas.width = canvas.height = 0;
      canvas.hidden = true;
      return;
    }
    canvas.hidden = false;
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
    const kindOf = (d) => (d.label === "dog" ? "dog" : "other");
    // Dogs last, so on top; labels placed the other way round: the most important first.
    const ordered = [...detections].sort(
      (a, b) => (a.label === "dog") - (b.label === "dog") || a.confidence - b.confidence,
    );
    const boxes = ordered.map((d) => {
      const x1 = Math.min(Math.max(d.box.x1 * scale, 0), canvas.width);
      const y1 = Math.min(Math.max(d.box.y1 * scale, 0), canvas.height);
      const x2 = Math.min(Math.max(d.box.x2 * scale, x1), canvas.width);
      const y2 = Math.min(Math.max(d.box.y2 * scale, y1), canvas.height);
      return [x1, y1, x2, y2];
    });
    ordered.forEach((d, i) => {
      const [x1, y1, x2, y2] = boxes[i];
      context.strokeStyle = BOX_COLOURS[kindOf(d)];
      context.strokeRect(x1, y1, x2 - x1, y2 - y1);
    });
    const first = ordered.map((_, i) => ordered.length - 1 - i);
    const sizes = first.map((i) => [
      context.measureText(labelText(ordered[i])).width + line * 2,
      fontSize + line,
    ]);
    const rectangles = placeLabels(
      first.map((i) => boxes[i]),
      sizes,
      [canvas.width, canvas.height],
    );
    const shown = [];
    for (let n = first.length - 1; n >= 0; n--) {
      const rectangle = rectangles[n];
      if (!rectangle) continue;
      const d = ordered[first[n]];
      const [left, top, right, bottom] = rectangle;
      context.fillStyle = BOX_COLOURS[kindOf(d)];
      context.fillRect(left, top, right - left, bottom - top);
      context.fillStyle = TEXT_COLOURS[kindOf(d)];
      context.fillText(labelText(d), left + line, top + line / 2);
      shown.push({ text: labelText(d), rectangle });
    }
    canvas.dataset.labels = JSON.stringify(shown);
  }

  async function follow(id, run) {
    const url = `image_prediction/${encodeURIComponent(id)}`;
    const deadline = Date.now() + GIVE_UP_MS;
    let pause = 0;
    while (run === currentRun) {
      if (Date.now() > deadline) {
        fail(`No answer within ${GIVE_UP_MS / 60000} minutes; the id is ${id}.`);
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
        fail(`Could not read the prediction: ${problemOf(response, body)}`);
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

  // POST image_prediction: the accepted prediction (202), or null once the refusal is said.
  async function sendToService(file, run) {
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
      if (run === currentRun) fail("The service is not answering; try again with Retry.");
      return null;
    }
    const body = await jsonOf(response);
    if (run !== currentRun) return null;
    if (response.status !== 202) {
      fail(`Not accepted: ${problemOf(response, body)}`);
      return null;
    }
    return body;
  }

  // POST image_prediction/uploads, then the photo to storage with its presigned POST: the
  // prediction, or null once the refusal is said (a prediction whose photo did not get
  // there is deleted, so that it does not wait for a photo that will not come).
  async function sendToStorage(file, run) {
    say(`Asking where to send ${file.name} (${megabytes(file.size)}).`);
    let response;
    try {
      response = await fetch("image_prediction/uploads", {
        method: "POST",
        headers: keyHeaders(),
      });
    } catch {
      if (run === currentRun) fail("The service is not answering; try again with Retry.");
      return null;
    }
    const body = await jsonOf(response);
    if (run !== currentRun) return null;
    if (response.status !== 201) {
      fail(`Not accepted: ${problemOf(response, body)}`);
      return null;
    }
    say(`Sending ${file.name} (${megabytes(file.size)}) to storage.`);
    const form = new FormData();
    for (const [name, value] of Object.entries(body.upload.fields)) form.append(name, value);
    form.append("file", file, file.name); // last: S3 reads the fields before it
    let problem = null;
    try {
      const stored = await fetch(body.upload.url, { method: "POST", body: form });
      if (!stored.ok) problem = `Not accepted by storage: ${await storageProblemOf(stored)}`;
    } catch {
      // A network error, or an answer this page may not read (the bucket's CORS rules).
      const host = new URL(body.upload.url, document.baseURI).host;
      problem = `Storage (${host}) did not answer this page; try again with Retry.`;
    }
    if (problem === null) return body;
    const url = `image_prediction/${encodeURIComponent(body.image_prediction_id)}`;
    fetch(url, { method: "DELETE", headers: keyHeaders() }).catch(() => {});
    if (run === currentRun) fail(problem);
    return null;
  }

  async function send(file) {
    const run = ++currentRun;
    chosen = file;
    const button = byId("send");
    button.disabled = false;
    button.textContent = `Send ${file.name} again`;
    clearPrediction();
    draw(null, []);
    if (file.size > directUploadMaxBytes) {
      fail(
        `${file.name} is ${megabytes(file.size)}: over ${megabytes(directUploadMaxBytes)}, ` +
          "the largest photo this service takes.",
      );
      return;
    }
    const accepted =
      file.size > maxUploadBytes ? await sendToStorage(file, run) : await sendToService(file, run);
    if (!accepted || run !== currentRun) return;
    // POST image_prediction/uploads answers no status: the prediction is PENDING.
    showPrediction({ status: "PENDING", has_dog: null, detections: [], ...accepted });
    say("PENDING: waiting for the answer.");
    const final = await follow(accepted.image_prediction_id, run);
    if (!final || run !== currentRun) return;
    if (final.status !== "DONE") {
      fail(`ERROR: ${final.error}`);
      return;
    }
    let bitmap = null;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      // A format this browser cannot show (TIFF): the detections are listed above.
    }
    if (run !== currentRun) return;
    draw(bitmap, final.detections);
    const found = final.detections.length;
    const shown = bitmap ? "" : " (this browser cannot show the photo; listed above)";
    say(
      `DONE: ${final.has_dog ? "a dog" : "no dog"}, ${found} detection${found === 1 ? "" : "s"}.${shown}`,
      "done",
    );
  }

  function start() {
    byId("largest").textContent = megabytes(directUploadMaxBytes);
    byId("direct-limit").textContent = megabytes(maxUploadBytes);

    const key = byId("api-key");
    key.value = sessionStorage.getItem(KEY_STORAGE) || "";
    key.addEventListener("input", () => sessionStorage.setItem(KEY_STORAGE, key.value));

    const input = byId("photo");
    input.addEventListener("change", () => {
      if (!input.files.length) return;
      const file = input.files[0];
      input.value = ""; // the same file chosen again is a change too: it is sent again
      send(file);
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
    // Send, or Retry after a refusal: the last photo chosen or dropped, sent again.
    byId("upload-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (chosen) send(chosen);
    });
  }

  start();
})();
