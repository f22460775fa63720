/* artsnap web page: pick or take a photo, search a collection, browse related works.
 *
 * Plain ES2020, no framework, no build step, nothing fetched from outside this server.
 * The page only talks to the JSON API (GET /v1/collections, POST /v1/collections/{name}/search,
 * GET /v1/items/{id}/related) and shows what it answers, including its error messages.
 */
"use strict";

(() => {
  const STORAGE_KEY = "artsnap.collection";
  /** Long side of the photo we upload: plenty for locating a painting and a 224 px crop,
   * and ~10x less to send than a 12-megapixel phone JPEG. */
  const UPLOAD_LONG_SIDE = 1600;
  const UPLOAD_QUALITY = 0.88;
  /** Files at most this large (and no larger than UPLOAD_LONG_SIDE) are sent untouched. */
  const SEND_AS_IS_BYTES = 1.5 * 1024 * 1024;
  /** Server setting `query_min_side` (backend/config.py): JPEGs are decoded with draft mode
   * down to this shorter side, and the artwork corners are in that decoded image's pixels. */
  const SERVER_QUERY_MIN_SIDE = 360;  // fallback only: the API sends query.artwork.image_size

  const $ = (id) => document.getElementById(id);
  const el = {
    picker: $("collection-picker"),
    collection: $("collection"),
    noCollections: $("no-collections"),
    dropzone: $("dropzone"),
    photo: $("photo"),
    photoPick: $("photo-pick"),
    locate: $("opt-locate"),
    topk: $("opt-topk"),
    preview: $("preview"),
    previewImg: $("preview-img"),
    previewCaption: $("preview-caption"),
    overlay: $("artwork-overlay"),
    regions: $("regions-overlay"),
    verdict: $("verdict"),
    status: $("status"),
    error: $("error"),
    resultsPanel: $("results-panel"),
    results: $("results"),
    timings: $("timings"),
    relatedPanel: $("related-panel"),
    relatedTitle: $("related-title"),
    relatedAbout: $("related-about"),
    related: $("related"),
    relatedClose: $("related-close"),
    intro: $("intro"),
    models: $("models"),
    cardTemplate: $("card-template"),
  };

  const state = {
    collections: [],
    lastFile: null,
    searchAbort: null,
    relatedAbort: null,
    previewUrl: null,
  };

  // ------------------------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(code, message, status) {
      super(message);
      this.code = code;
      this.status = status;
    }
  }

  /** fetch + JSON, turning `{"error": {"code", "message"}}` answers into ApiError. */
  async function api(url, init = {}) {
    let resp;
    try {
      resp = await fetch(url, { headers: { Accept: "application/json" }, ...init });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError("network", "Could not reach the server. Check your connection and try again.", 0);
    }
    let body = null;
    try {
      body = await resp.json();
    } catch (_) {
      body = null;
    }
    if (!resp.ok) {
      const e = body && body.error;
      throw new ApiError(
        (e && e.code) || `http_${resp.status}`,
        (e && e.message) || `The server answered ${resp.status} ${resp.statusText}.`,
        resp.status,
      );
    }
    if (body === null) throw new ApiError("bad_response", "The server sent an answer this page cannot read.", resp.status);
    return body;
  }

  // ------------------------------------------------------------------------------ collections

  async function loadCollections() {
    setStatus("Loading collections…", true);
    try {
      const data = await api("/v1/collections");
      state.collections = data.collections || [];
    } catch (err) {
      setStatus("");
      showError(err.message);
      return;
    }
    setStatus("");
    const usable = state.collections;
    if (usable.length === 0) {
      el.noCollections.hidden = false;
      el.picker.hidden = true;
      el.dropzone.classList.add("disabled");
      el.photo.disabled = true;
      el.photoPick.disabled = true;
      return;
    }
    el.collection.replaceChildren(
      ...usable.map((c) => {
        const opt = document.createElement("option");
        opt.value = c.name;
        opt.textContent = `${c.name} (${c.items} ${c.items === 1 ? "work" : "works"})`;
        return opt;
      }),
    );
    let saved = null;
    try {
      saved = localStorage.getItem(STORAGE_KEY);
    } catch (_) {
      /* storage disabled (private mode): the first collection it is */
    }
    el.collection.value = usable.some((c) => c.name === saved) ? saved : usable[0].name;
    el.picker.hidden = false;
    document.body.dataset.ready = "true";
  }

  el.collection.addEventListener("change", () => {
    try {
      localStorage.setItem(STORAGE_KEY, el.collection.value);
    } catch (_) {
      /* not remembered; fine */
    }
    hideRelated();
    if (state.lastFile) search(state.lastFile);
  });

  // ------------------------------------------------------------------------------ photo in

  for (const input of [el.photo, el.photoPick]) {
    input.addEventListener("change", () => {
      const file = input.files && input.files[0];
      if (file) search(file);
      input.value = ""; // choosing the same photo again searches again
    });
  }

  // Drag and drop (desktop). The whole page accepts a drop; the drop zone lights up.
  let dragDepth = 0;
  const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes("Files");
  document.addEventListener("dragenter", (e) => {
    if (!hasFiles(e)) return;
    dragDepth += 1;
    el.dropzone.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) el.dropzone.classList.remove("dragging");
  });
  document.addEventListener("dragover", (e) => {
    if (hasFiles(e)) e.preventDefault();
  });
  document.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth = 0;
    el.dropzone.classList.remove("dragging");
    const file = e.dataTransfer.files[0];
    if (file && !el.photo.disabled) search(file);
  });

  // Paste an image (desktop): a screenshot or an image copied from another page.
  document.addEventListener("paste", (e) => {
    if (el.photo.disabled) return;
    const items = Array.from((e.clipboardData && e.clipboardData.items) || []);
    const item = items.find((it) => it.kind === "file" && it.type.startsWith("image/"));
    if (!item) return;
    e.preventDefault();
    const file = item.getAsFile();
    if (file) search(file);
  });

  // ------------------------------------------------------------------------------ upload prep

  async function isJpeg(blob) {
    const head = new Uint8Array(await blob.slice(0, 3).arrayBuffer());
    return head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff;
  }

  /**
   * What to upload: the original file when it is small already, otherwise a JPEG at most
   * UPLOAD_LONG_SIDE px long. The bitmap is decoded with EXIF orientation applied, so the
   * pixels are upright and the re-encoded JPEG (which carries no EXIF) needs no rotation.
   * Files the browser cannot decode are sent as they are: the server has the last word
   * and its error message ("not an image", "unsupported format") is the useful one.
   *
   * Returns {blob, width, height, jpeg, resized}; width/height are upright pixels or null.
   */
  async function prepareUpload(file) {
    let bitmap = null;
    try {
      bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (_) {
      bitmap = null; // not decodable here, or an old browser without the options argument
    }
    if (!bitmap) {
      return { blob: file, width: null, height: null, jpeg: await isJpeg(file), resized: false };
    }
    const { width, height } = bitmap;
    const long = Math.max(width, height);
    if (long <= UPLOAD_LONG_SIDE && file.size <= SEND_AS_IS_BYTES) {
      bitmap.close();
      return { blob: file, width, height, jpeg: await isJpeg(file), resized: false };
    }
    const k = Math.min(1, UPLOAD_LONG_SIDE / long);
    const w = Math.max(1, Math.round(width * k));
    const h = Math.max(1, Math.round(height * k));
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingQuality = "high";
    ctx.fillStyle = "#fff"; // transparent PNGs: the server composites on white too
    ctx.fillRect(0, 0, w, h);
    ctx.drawImage(bitmap, 0, 0, w, h);
    bitmap.close();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", UPLOAD_QUALITY));
    if (!blob) return { blob: file, width, height, jpeg: await isJpeg(file), resized: false };
    return { blob, width: w, height: h, jpeg: true, resized: true };
  }

  /**
   * The size of the image the server located the artwork in, estimated from what we sent.
   *
   * APPROXIMATE: the API does not (yet) say which size it decoded to, so this repeats the
   * server's rule: Pillow's JPEG draft mode picks the largest scale 1/8, 1/4, 1/2 or 1 that
   * keeps both sides >= query_min_side (sizes rounded up), then decode_image box-reduces by
   * an integer factor while the shorter side stays >= query_min_side. If the server's
   * `query_min_side` is configured differently, the outline is drawn at the wrong scale.
   * When the answer carries `artwork.image_size` ([w, h]) that is used instead.
   */
  function serverDecodedSize(w, h, jpeg) {
    const m = SERVER_QUERY_MIN_SIDE;
    if (jpeg) {
      const scale = Math.min(Math.floor(w / m), Math.floor(h / m));
      const s = [8, 4, 2, 1].find((x) => scale >= x) || 1;
      w = Math.ceil(w / s);
      h = Math.ceil(h / s);
    }
    const factor = Math.floor(Math.min(w, h) / m);
    if (factor >= 2) {
      w = Math.ceil(w / factor);
      h = Math.ceil(h / factor);
    }
    return [w, h];
  }

  // ------------------------------------------------------------------------------ search

  async function search(file) {
    const collection = el.collection.value;
    if (!collection) return;
    state.lastFile = file;
    if (state.searchAbort) state.searchAbort.abort();
    const abort = new AbortController();
    state.searchAbort = abort;

    hideError();
    hideRelated();
    el.intro.hidden = true;
    setStatus("Preparing your photo…", true);
    document.body.dataset.state = "loading";

    let upload;
    try {
      upload = await prepareUpload(file);
    } catch (_) {
      upload = { blob: file, width: null, height: null, jpeg: false, resized: false };
    }
    if (abort.signal.aborted) return;
    showPreview(upload);

    const form = new FormData();
    form.append("image", upload.blob, upload.resized ? "photo.jpg" : file.name || "photo");
    form.append("options", JSON.stringify({ top_k: Number(el.topk.value) || 12, locate: el.locate.checked }));

    setStatus(`Searching “${collection}”…`, true);
    el.resultsPanel.setAttribute("aria-busy", "true");
    const started = performance.now();
    let data;
    try {
      data = await api(`/v1/collections/${encodeURIComponent(collection)}/search`, {
        method: "POST",
        body: form,
        signal: abort.signal,
      });
    } catch (err) {
      if (err.name === "AbortError") return;
      setStatus("");
      el.resultsPanel.hidden = true;
      el.resultsPanel.removeAttribute("aria-busy");
      drawArtwork(null, upload);
      showError(err.message, err.code);
      document.body.dataset.state = "error";
      return;
    }
    const roundTrip = performance.now() - started;
    state.searchAbort = null;
    el.resultsPanel.removeAttribute("aria-busy");
    setStatus("");
    drawArtwork(data.query && data.query.artwork, upload);
    window.ArtsnapRegions.verdict(el.verdict, data.match, itemName);
    window.ArtsnapRegions.draw(el.regions, data, itemName, (i) => {
      const region = data.regions[i];
      window.ArtsnapRegions.verdict(el.verdict, region.match, itemName);
      renderResults({ ...data, results: region.results }, roundTrip, upload);
    });
    renderResults(data, roundTrip, upload);
    document.body.dataset.state = "results";
  }

  function showPreview(upload) {
    if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
    state.previewUrl = URL.createObjectURL(upload.blob);
    el.overlay.setAttribute("hidden", "");
    el.previewCaption.textContent = "";
    el.previewImg.onerror = () => {
      el.preview.hidden = true; // not something the browser can show (e.g. a text file)
    };
    el.previewImg.src = state.previewUrl;
    el.preview.hidden = false;
  }

  /** Outline the located artwork over the preview (an SVG in the decoded image's pixels). */
  function drawArtwork(artwork, upload) {
    if (!artwork) {
      el.overlay.setAttribute("hidden", "");
      el.previewCaption.textContent = "";
      return;
    }
    if (!artwork.found) {
      el.overlay.setAttribute("hidden", "");
      el.previewCaption.textContent = el.locate.checked ? "Searched the whole photo (no framed artwork found in it)." : "";
      return;
    }
    const src = el.previewImg.src;
    const whenLoaded = () => {
      if (el.previewImg.src !== src) return; // another photo was chosen meanwhile
      // Upright size of what we sent; the preview <img> shows the same pixels.
      const w = upload.width || el.previewImg.naturalWidth;
      const h = upload.height || el.previewImg.naturalHeight;
      if (!w || !h) return;
      const [dw, dh] = Array.isArray(artwork.image_size) ? artwork.image_size : serverDecodedSize(w, h, upload.jpeg);
      // Corners use pixel centres at integers, so the image spans -0.5 .. size-0.5. The SVG
      // stretches over exactly the displayed <img> box, so no resize handling is needed.
      el.overlay.setAttribute("viewBox", `-0.5 -0.5 ${dw} ${dh}`);
      const pts = artwork.corners.map(([x, y]) => `${x},${y}`).join(" ");
      el.overlay.querySelector(".artwork-outline").setAttribute("points", pts);
      const [a, ...rest] = artwork.corners;
      const quad = `M${a[0]},${a[1]} ${rest.map(([x, y]) => `L${x},${y}`).join(" ")} Z`;
      const frame = `M-0.5,-0.5 H${dw - 0.5} V${dh - 0.5} H-0.5 Z`;
      el.overlay.querySelector(".artwork-shade").setAttribute("d", `${frame} ${quad}`);
      el.overlay.dataset.decodedSize = `${dw}x${dh}`;
      el.overlay.removeAttribute("hidden");
      el.previewCaption.textContent = `Artwork found in your photo (confidence ${pct(artwork.confidence)}).`;
    };
    if (el.previewImg.complete && el.previewImg.naturalWidth) whenLoaded();
    else el.previewImg.addEventListener("load", whenLoaded, { once: true });
  }

  function renderResults(data, roundTrip, upload) {
    const hits = data.results || [];
    el.results.replaceChildren(...hits.map((hit, i) => card(hit, i, el.results)));
    el.resultsPanel.hidden = false;
    el.timings.textContent = hits.length ? timingsLine(data.timings_ms, roundTrip, upload) : "";
    if (!hits.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = "Nothing in this collection matched. Try another photo, or a closer crop of the artwork.";
      el.results.append(li);
    }
    const models = (data.models || [])
      .map((m) => [m.model || m.name || m.descriptor, m.version && `(${String(m.version).slice(0, 8)})`].filter(Boolean).join(" "))
      .filter(Boolean);
    el.models.textContent = models.length ? `Models: ${models.join(", ")}` : "";
  }

  function ms(v) {
    return Math.round(Number(v) || 0);
  }

  function timingsLine(t, roundTrip, upload) {
    if (!t) return "";
    const parts = [["decode", t.decode_ms], ["locate", t.locate_ms], ["embed", t.embed_ms], ["search", t.search_ms]]
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `${k} ${ms(v)}`);
    let line = `answered in ${ms(t.total_ms)} ms: ${parts.join(" · ")}`;
    if (roundTrip) line += ` (round trip ${ms(roundTrip)} ms, sent ${kb(upload.blob.size)})`;
    return line;
  }

  function kb(bytes) {
    return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} kB`;
  }

  function pct(x) {
    return `${Math.round((Number(x) || 0) * 100)}%`;
  }

  /** A fused score is cosine similarity plus a bonus for shared labels, so it can pass 1:
   * the badge shows it capped at 100 % and the tooltip gives the exact figures. */
  function scorePct(hit) {
    const v = Math.max(0, Math.min(1, Number(hit.score) || 0));
    return pct(v);
  }

  function scoreTitle(hit) {
    const parts = Object.entries(hit.scores || {}).map(([k, v]) => `${k} ${Number(v).toFixed(2)}`);
    return `similarity ${Number(hit.score).toFixed(3)}${parts.length ? ` (${parts.join(", ")})` : ""}`;
  }

  function itemName(hit) {
    if (hit.title) return hit.title;
    const path = hit.source_path || `item ${hit.id}`;
    const base = path.split("/").pop().replace(/\.[A-Za-z0-9]+$/, "");
    return base.replace(/[_-]+/g, " ");
  }

  /** One result card: thumbnail, score, title, label chips, reasons (hover or "Why?"). */
  function card(hit, index, list) {
    const node = el.cardTemplate.content.firstElementChild.cloneNode(true);
    node.dataset.id = String(hit.id);
    node.dataset.score = String(hit.score);
    const name = itemName(hit);
    const labelNames = (hit.labels || []).filter((l) => l.status !== "rejected").map((l) => l.name);

    const main = node.querySelector(".card-main");
    const img = node.querySelector(".thumb img");
    if (index >= 8) img.loading = "lazy"; // the first screenful loads at once
    img.src = hit.thumbnail_url;
    img.alt = labelNames.length ? `${name} (${labelNames.join(", ")})` : name;
    img.addEventListener("error", () => node.querySelector(".thumb").classList.add("broken"), { once: true });
    const badge = node.querySelector(".score");
    badge.textContent = scorePct(hit);
    badge.title = scoreTitle(hit);
    node.querySelector(".card-title").textContent = name;
    node.querySelector(".card-title").title = hit.source_path || "";
    main.setAttribute(
      "aria-label",
      `${index + 1}. ${name}, ${scorePct(hit)} similar. Show related works.`,
    );
    main.addEventListener("click", () => showRelated(hit, node, list));

    const chips = node.querySelector(".chips");
    for (const lb of hit.labels || []) {
      const li = document.createElement("li");
      const machine = lb.source !== "curator";
      li.className = `chip ${machine ? "chip-machine" : "chip-curator"}${lb.status === "rejected" ? " chip-rejected" : ""}`;
      li.textContent = lb.name;
      if (machine && lb.confidence !== null && lb.confidence !== undefined) {
        const c = document.createElement("span");
        c.className = "chip-conf";
        c.textContent = ` ${pct(lb.confidence)}`;
        li.append(c);
      }
      li.title = machine
        ? `suggested by a model${lb.confidence != null ? ` (${pct(lb.confidence)} sure)` : ""}, ${lb.status}`
        : "label given by a curator";
      chips.append(li);
    }
    if (!chips.children.length) chips.remove();

    const reasons = node.querySelector(".reasons");
    const why = node.querySelector(".why");
    const items = hit.reasons && hit.reasons.length ? hit.reasons : [];
    if (items.length) {
      const rid = `reasons-${list.id}-${hit.id}`;
      reasons.id = rid;
      why.setAttribute("aria-controls", rid);
      reasons.replaceChildren(
        ...items.map((r) => {
          const li = document.createElement("li");
          li.textContent = r;
          return li;
        }),
      );
      why.addEventListener("click", () => {
        const open = why.getAttribute("aria-expanded") !== "true";
        why.setAttribute("aria-expanded", String(open));
        reasons.hidden = !open;
      });
    } else {
      why.remove();
      reasons.remove();
    }
    return node;
  }

  // ------------------------------------------------------------------------------ related

  async function showRelated(hit, cardNode, list) {
    for (const c of list.querySelectorAll(".card.selected")) c.classList.remove("selected");
    cardNode.classList.add("selected");
    if (state.relatedAbort) state.relatedAbort.abort();
    const abort = new AbortController();
    state.relatedAbort = abort;

    hideError();
    el.relatedPanel.hidden = false;
    el.relatedPanel.dataset.itemId = String(hit.id);
    el.relatedPanel.setAttribute("aria-busy", "true");
    el.relatedTitle.textContent = `Related to “${itemName(hit)}”`;
    el.relatedAbout.replaceChildren(document.createTextNode("Loading related works…"));
    el.related.replaceChildren();
    el.relatedPanel.scrollIntoView({ behavior: prefersReducedMotion() ? "auto" : "smooth", block: "start" });
    el.relatedPanel.focus({ preventScroll: true });

    const url = hit.related_url || `/v1/items/${hit.id}/related`;
    let data;
    try {
      data = await api(`${url}?top_k=${Number(el.topk.value) || 12}`, { signal: abort.signal });
    } catch (err) {
      if (err.name === "AbortError") return;
      el.relatedPanel.removeAttribute("aria-busy");
      el.relatedAbout.textContent = "";
      showError(err.message, err.code);
      return;
    }
    el.relatedPanel.removeAttribute("aria-busy");
    const results = (data.results || []).filter((h) => h.id !== hit.id);
    el.related.replaceChildren(...results.map((h, i) => card(h, i, el.related)));
    const open = document.createElement("a");
    open.href = hit.image_url || `/v1/items/${hit.id}/image`;
    open.textContent = "open the full picture";
    open.target = "_blank";
    open.rel = "noopener";
    const t = data.timings_ms ? ` in ${ms(data.timings_ms.total_ms)} ms` : "";
    el.relatedAbout.replaceChildren(
      document.createTextNode(`${results.length} works like ${hit.source_path || itemName(hit)}${t} — `),
      open,
    );
  }

  function hideRelated() {
    if (state.relatedAbort) state.relatedAbort.abort();
    el.relatedPanel.hidden = true;
    el.related.replaceChildren();
    for (const c of document.querySelectorAll(".card.selected")) c.classList.remove("selected");
  }

  el.relatedClose.addEventListener("click", () => {
    const id = el.relatedPanel.dataset.itemId;
    hideRelated();
    const back = id && el.results.querySelector(`.card[data-id="${CSS.escape(id)}"] .card-main`);
    if (back) back.focus();
  });

  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !el.relatedPanel.hidden) el.relatedClose.click();
  });

  // ------------------------------------------------------------------------------ status

  function setStatus(text, busy = false) {
    el.status.replaceChildren();
    if (!text) {
      el.status.hidden = true;
      return;
    }
    if (busy) {
      const spin = document.createElement("span");
      spin.className = "spinner";
      spin.setAttribute("aria-hidden", "true");
      el.status.append(spin);
    }
    el.status.append(document.createTextNode(text));
    el.status.hidden = false;
  }

  function showError(message, code) {
    el.error.replaceChildren();
    const strong = document.createElement("strong");
    strong.textContent = "Sorry — that didn't work. ";
    const msg = document.createElement("span");
    msg.className = "error-message";
    msg.textContent = message;
    el.error.append(strong, msg);
    if (code) el.error.dataset.code = code;
    else delete el.error.dataset.code;
    el.error.hidden = false;
  }

  function hideError() {
    el.error.hidden = true;
    el.error.replaceChildren();
  }

  function prefersReducedMotion() {
    return window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  }

  loadCollections();
})();
