"use strict";
/*
 * Gallery page: direct-to-storage uploads with per-file progress and errors, and a grid
 * that follows processing by polling the asset list while anything is queued or processing.
 *
 * Upload flow per file (the API's, see docs/api.md):
 *   1. POST /api/uploads/ {filename, size, content_type} -> asset id + an upload form
 *   2. POST the form fields and the bytes to the upload URL (S3 or the app), with XHR so the
 *      browser reports progress
 *   3. POST /api/assets/{id}/complete/ -> the server checks and moves the object, queues processing
 * A failed step can be retried; the retry resumes at that step.
 */
(function () {
  const R = window.Rawproc;
  const cfg = R.config;
  const h = R.h;

  const dropzone = document.getElementById("dropzone");
  const fileInput = document.getElementById("file-input");
  const uploadList = document.getElementById("upload-list");
  const grid = document.getElementById("gallery");
  const emptyNote = document.getElementById("gallery-empty");
  const galleryError = document.getElementById("gallery-error");
  const liveStatus = document.getElementById("live-status");
  const countNode = document.getElementById("asset-count");
  const pager = document.getElementById("pager");
  const uploadPanel = document.getElementById("upload-panel");
  const uploadSummary = document.getElementById("upload-summary");
  const uploadToggle = document.getElementById("upload-toggle");
  const uploadClear = document.getElementById("upload-clear");

  // ---------------------------------------------------------------- uploads

  const waiting = [];
  let active = 0;

  // The upload panel: finished uploads fold into a count ("3 uploaded"), failed ones stay
  // in sight until dismissed, and "Clear finished" empties the list of what is done.
  function updateUploadPanel() {
    const rows = Array.from(uploadList.children);
    const count = (state) => rows.filter((row) => row.classList.contains(`is-${state}`)).length;
    const done = count("done");
    const failed = count("error");
    const going = rows.length - done - failed;
    uploadPanel.hidden = rows.length === 0;
    const parts = [
      going && `${going} uploading`,
      done && `${done} uploaded`,
      failed && `${failed} failed`,
    ].filter(Boolean);
    uploadSummary.textContent = parts.join(" · ");
    uploadToggle.hidden = done === 0;
    uploadClear.hidden = done + failed === 0;
    const open = uploadList.classList.contains("show-finished");
    uploadToggle.textContent = open ? "Hide finished" : `Show finished (${done})`;
    uploadToggle.setAttribute("aria-expanded", String(open));
  }
  uploadToggle.addEventListener("click", () => {
    uploadList.classList.toggle("show-finished");
    updateUploadPanel();
  });
  uploadClear.addEventListener("click", () => {
    for (const row of uploadList.querySelectorAll(".upload.is-done, .upload.is-error")) row.remove();
    updateUploadPanel();
  });

  /** Errors worth a retry button: the network, the server or storage being unavailable. */
  function isTransient(err) {
    return err.status === 0 || err.status >= 500 || err.code === "url_expired";
  }

  function describeError(err) {
    if (err.code === "file_too_large" || err.status === 413) {
      return `Too large: the limit is ${R.formatBytes(cfg.maxUploadBytes)} per file.`;
    }
    if (err.code === "unsupported_format" || err.status === 415) {
      return `Not a RAW file: ${err.message}`;
    }
    if (err.code === "empty_file") return "The file is empty.";
    if (err.status === 0) return "Network error: the upload did not reach the server.";
    if (err.code === "url_expired") return "The upload link expired before the upload finished.";
    return err.message;
  }

  class Upload {
    constructor(file) {
      this.file = file;
      this.asset = null; // {id, ...} once the server has created it
      this.target = null; // the direct-upload form
      this.sent = false; // bytes are in storage
      this.render();
    }

    render() {
      const id = `upload-${Math.random().toString(36).slice(2)}`;
      this.progress = h("progress", { max: "100", value: "0", "aria-labelledby": `${id}-name` });
      this.message = h("span", { class: "upload-message", text: "Waiting…" });
      this.actions = h("span", { class: "upload-actions" });
      this.node = h(
        "li",
        { class: "upload is-waiting", "data-filename": this.file.name },
        h(
          "div",
          { class: "upload-line" },
          h("span", { class: "upload-name", id: `${id}-name`, text: this.file.name }),
          h("span", { class: "upload-size muted", text: R.formatBytes(this.file.size) }),
        ),
        this.progress,
        h("div", { class: "upload-line" }, this.message, this.actions),
      );
      uploadList.prepend(this.node);
      updateUploadPanel();
    }

    setState(state, text) {
      this.node.className = `upload is-${state}`;
      this.message.textContent = text;
      this.message.setAttribute("role", state === "error" ? "alert" : "status");
      this.actions.replaceChildren();
      updateUploadPanel();
    }

    setProgress(fraction) {
      this.progress.value = Math.round(fraction * 100);
    }

    fail(err) {
      this.setState("error", describeError(err));
      this.node.dataset.error = err.code;
      if (isTransient(err)) {
        this.actions.append(
          h("button", { type: "button", class: "btn btn-small", onclick: () => this.retry() }, "Retry"),
        );
      }
      this.actions.append(
        h(
          "button",
          { type: "button", class: "btn btn-small btn-quiet", onclick: () => {
            this.node.remove();
            updateUploadPanel();
          } },
          "Dismiss",
        ),
      );
    }

    /** Over the per-user upload rate: wait as long as the server asks, then queue again. */
    waitForRate(seconds) {
      const delay = Math.max(1, seconds || 5);
      this.setState("waiting", `Upload limit reached: continuing in ${delay} s…`);
      setTimeout(() => enqueue(this), delay * 1000);
    }

    retry() {
      delete this.node.dataset.error;
      if (this.target && Date.parse(this.target.expires_at) <= Date.now()) this.target = null;
      this.setState("waiting", "Waiting…");
      enqueue(this);
    }

    async run() {
      if (!this.target) {
        this.setState("uploading", "Starting…");
        const created = await R.api("POST", cfg.api.uploads, {
          filename: this.file.name,
          size: this.file.size,
          content_type: this.file.type || "application/octet-stream",
        });
        this.asset = created.asset;
        this.target = created.upload;
        this.completeUrl = created.complete_url;
        this.sent = false;
      }
      if (!this.sent) {
        this.setState("uploading", "Uploading…");
        await sendForm(this.target, this.file, (fraction) => this.setProgress(fraction));
        this.sent = true;
      }
      this.setState("uploading", "Checking…");
      this.setProgress(1);
      const asset = await R.api("POST", this.completeUrl);
      // A repeat of a photo already in the library is found by the worker: the asset then
      // fails with the code "duplicate" and names the other one in duplicate_of.
      this.setState("done", "Uploaded");
      this.node.append(
        h("a", { class: "upload-link", href: R.fill(cfg.assetPage, { id: asset.id }) }, "Open"),
      );
      gallery.refreshSoon();
    }
  }

  /** POST a presigned form (fields, then the file) and report upload progress. */
  function sendForm(target, file, onProgress) {
    return new Promise((resolve, reject) => {
      const form = new FormData();
      for (const [name, value] of Object.entries(target.fields || {})) form.append(name, value);
      form.append("file", file);
      const xhr = new XMLHttpRequest();
      const url = new URL(target.url, location.href);
      xhr.open(target.method || "POST", url);
      // Only our own server wants the CSRF header; a custom header to S3 would need CORS.
      if (url.origin === location.origin) xhr.setRequestHeader("X-CSRFToken", cfg.csrfToken);
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
      xhr.addEventListener("load", () => {
        if (xhr.status >= 200 && xhr.status < 300) return resolve();
        const error = uploadError(xhr);
        // A retry after a lost answer: the first attempt did write (a grant writes once).
        if (error.code === "upload_already_written") return resolve();
        reject(error);
      });
      xhr.addEventListener("error", () => reject(R.networkError()));
      xhr.addEventListener("abort", () => reject(R.networkError()));
      xhr.send(form);
    });
  }

  /** The error of a failed direct upload: JSON from our server, XML from S3. */
  function uploadError(xhr) {
    const text = xhr.responseText || "";
    try {
      const data = JSON.parse(text);
      if (data && data.code) return new R.ApiError(xhr.status, data.code, data.message);
    } catch (err) {
      // not JSON: S3 answers in XML
    }
    const code = (/<Code>([^<]+)<\/Code>/.exec(text) || [])[1] || "";
    if (xhr.status === 413 || code === "EntityTooLarge") {
      return new R.ApiError(413, "file_too_large", "The file is too large.");
    }
    if (xhr.status === 403 && /expired/i.test(text)) {
      return new R.ApiError(403, "url_expired", "The upload link expired.");
    }
    return new R.ApiError(xhr.status, code || `http_${xhr.status}`, `Storage answered ${xhr.status}.`);
  }

  function enqueue(upload) {
    waiting.push(upload);
    pump();
  }

  function pump() {
    while (active < cfg.uploadConcurrency && waiting.length) {
      const upload = waiting.shift();
      active += 1;
      upload
        .run()
        .catch((err) => {
          if (err instanceof R.ApiError && err.code === "throttled") {
            upload.waitForRate(err.retryAfter);
          } else {
            upload.fail(err instanceof R.ApiError ? err : R.networkError());
          }
        })
        .finally(() => {
          active -= 1;
          pump();
        });
    }
  }

  function addFiles(files) {
    for (const file of files) {
      const upload = new Upload(file);
      if (file.size > cfg.maxUploadBytes) {
        upload.fail(new R.ApiError(413, "file_too_large", "The file is too large."));
      } else if (file.size === 0) {
        upload.fail(new R.ApiError(400, "empty_file", "The file is empty."));
      } else {
        enqueue(upload);
      }
    }
  }

  fileInput.addEventListener("change", () => {
    addFiles(Array.from(fileInput.files));
    fileInput.value = "";
  });
  dropzone.addEventListener("click", (event) => {
    if (event.target !== fileInput) fileInput.click();
  });
  dropzone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      fileInput.click();
    }
  });
  for (const type of ["dragenter", "dragover"]) {
    dropzone.addEventListener(type, (event) => {
      event.preventDefault();
      dropzone.classList.add("is-over");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    dropzone.addEventListener(type, () => dropzone.classList.remove("is-over"));
  }
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    addFiles(Array.from(event.dataTransfer.files));
  });
  // A file dropped beside the zone must not navigate away from the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  // ---------------------------------------------------------------- filters

  // On a phone the filter bar folds behind its button (the CSS shows it everywhere else).
  const filterPanel = document.getElementById("filters-panel");
  const filterToggle = document.getElementById("filters-toggle");
  filterToggle.addEventListener("click", () => {
    const open = filterPanel.classList.toggle("is-open");
    filterToggle.setAttribute("aria-expanded", String(open));
  });

  // A range whose minimum is above its maximum is said as it is typed, not answered with
  // an empty grid; the form is not sent until it is fixed.
  const filterForm = document.getElementById("filters");
  const RANGES = [
    ["f-iso-min", "f-iso-max", "The maximum ISO is below the minimum.", Number],
    ["f-after", "f-before", "The end date is before the start date.", String],
  ];
  function checkRanges() {
    for (const [lowId, highId, message, parse] of RANGES) {
      const low = document.getElementById(lowId);
      const high = document.getElementById(highId);
      const wrong = low.value !== "" && high.value !== "" && parse(low.value) > parse(high.value);
      high.setCustomValidity(wrong ? message : "");
    }
  }
  for (const [lowId, highId] of RANGES) {
    for (const id of [lowId, highId]) {
      document.getElementById(id).addEventListener("input", () => {
        checkRanges();
        document.getElementById(highId).reportValidity();
      });
    }
  }
  // Active filters as chips above the grid; removing one reloads the view without it.
  const CHIP_LABELS = {
    q: "Search",
    status: "Status",
    camera_model: "Camera",
    lens_model: "Lens",
    iso_min: "ISO from",
    iso_max: "ISO to",
    taken_after: "Taken from",
    taken_before: "Taken to",
  };
  function renderChips() {
    const params = new URLSearchParams(location.search);
    const chips = [];
    for (const [name, label] of Object.entries(CHIP_LABELS)) {
      const value = (params.get(name) || "").trim();
      if (!value) continue;
      const without = new URLSearchParams(params);
      without.delete(name);
      without.delete("page");
      const shown = name === "status" ? R.STATUS_LABELS[value] || value : value;
      chips.push(
        h(
          "li",
          { class: "chip", "data-param": name },
          h("span", { class: "chip-label" }, `${label}: `, h("strong", { text: shown })),
          h(
            "a",
            {
              class: "chip-remove",
              href: `?${without}`,
              "aria-label": `Remove the filter ${label}: ${shown}`,
              title: "Remove this filter",
            },
            "×",
          ),
        ),
      );
    }
    const chipList = document.getElementById("chips");
    chipList.replaceChildren(...chips);
    chipList.hidden = chips.length === 0;
  }
  renderChips();

  // Fields checked as they are typed, besides the ranges: the search's length, ISO as a
  // whole number (the browser's own checks for type=number say the rest).
  const search = document.getElementById("f-q");
  search.addEventListener("input", () => {
    search.setCustomValidity(search.value.length > 200 ? "The search is at most 200 characters." : "");
  });

  filterForm.addEventListener("submit", (event) => {
    checkRanges();
    if (!filterForm.reportValidity()) event.preventDefault();
  });

  // ---------------------------------------------------------------- gallery

  /** The exposure as a photographer reads it: focal length, aperture, shutter, ISO. */
  function exposure(asset) {
    const m = asset.metadata || {};
    const iso = asset.iso || m.iso;
    return [
      m.focal_length_mm && `${m.focal_length_mm} mm`,
      m.f_number && `f/${m.f_number}`,
      m.exposure_time_display && `${m.exposure_time_display} s`,
      iso && `ISO ${iso}`,
    ]
      .filter(Boolean)
      .join(" · ");
  }

  function camera(asset) {
    const m = asset.metadata || {};
    return R.cameraName(asset.camera_make || m.camera_make, asset.camera_model || m.camera_model);
  }

  /** Width / height of the card's picture: the thumbnail's own, else a 3:2 frame. */
  function aspect(asset) {
    const thumb = R.variant(asset, "thumbnail");
    if (thumb && thumb.width && thumb.height) {
      return Math.min(4, Math.max(0.25, thumb.width / thumb.height)); // panoramas stay visible
    }
    // No picture yet: a 3:2 frame (the sizes read from a damaged file are not to be trusted).
    return 1.5;
  }

  // Whether the server makes renditions on demand (GET .../renditions/{spec}/); asked once.
  let renditionsServed = sessionStorage.getItem("rawproc.renditions");

  async function probeRenditions(asset) {
    if (renditionsServed !== null || !cfg.api.rendition) return;
    renditionsServed = "probing";
    try {
      // The status route reports without making anything.
      const url = `${R.fill(cfg.api.rendition, { id: asset.id, spec: "640.webp" })}status/`;
      const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      renditionsServed = answer.status === 404 ? "0" : "1";
    } catch (err) {
      renditionsServed = "0";
    }
    sessionStorage.setItem("rawproc.renditions", renditionsServed);
  }

  /** srcset from the variants the asset has (thumbnail, preview) plus, unless told not to,
   * the on-demand renditions. */
  function srcset(asset, onDemand = true) {
    const candidates = (asset.variants || [])
      .filter((v) => v.name === "thumbnail" || v.name === "preview")
      .map((v) => [v.url, v.width]);
    if (onDemand && renditionsServed === "1") {
      for (const size of [640, 1080]) {
        candidates.push([R.fill(cfg.api.rendition, { id: asset.id, spec: `${size}.webp` }), size]);
      }
    }
    candidates.sort((a, b) => a[1] - b[1]);
    return candidates.map(([url, width]) => `${url} ${width}w`).join(", ");
  }

  function thumbnail(asset) {
    const thumb = R.variant(asset, "thumbnail");
    if (!thumb) {
      const busy = R.BUSY_STATUSES.has(asset.status);
      return h(
        "div",
        { class: `thumb-placeholder${busy ? " is-busy" : ""}`, "aria-hidden": "true" },
        h("span", { class: "thumb-ext", text: asset.original_filename.split(".").pop() }),
      );
    }
    const rowHeight = window.innerWidth < 560 ? 150 : 240;
    const img = h("img", {
      src: thumb.url,
      srcset: srcset(asset),
      sizes: `${Math.ceil(aspect(asset) * rowHeight * 1.4)}px`,
      alt: `Thumbnail of ${asset.original_filename}`,
      width: thumb.width,
      height: thumb.height,
      loading: "lazy",
      decoding: "async",
    });
    img.addEventListener("load", () => img.classList.add("is-loaded"), { once: true });
    // A rendition not made yet (the route answers 202 while it makes it): the stored sizes;
    // a signed URL that expired while the page stayed open: the API's redirect to a fresh
    // thumbnail. The image stays transparent until one loads (the ThumbHash shows), so a
    // failed candidate is never seen as a broken image.
    const stored = srcset(asset, false);
    const fallbacks = [];
    if (stored !== img.getAttribute("srcset")) fallbacks.push(() => img.setAttribute("srcset", stored));
    fallbacks.push(() => {
      img.removeAttribute("srcset");
      img.src = R.fill(cfg.api.variant, { id: asset.id, name: "thumbnail" });
    });
    img.addEventListener("error", () => {
      img.dataset.fallback = String(Number(img.dataset.fallback || 0) + 1);
      const next = fallbacks.shift();
      if (next) next();
    });
    return img;
  }

  /** Paint the asset's ThumbHash (when the API gives one) behind the image while it loads. */
  function paintPlaceholder(media, asset) {
    if (!asset.thumbhash) return;
    const paint = () => {
      const url = window.RawprocThumbHash && window.RawprocThumbHash(asset.thumbhash);
      if (url) media.style.backgroundImage = `url("${url}")`;
    };
    if (window.RawprocThumbHash) paint();
    else window.addEventListener("rawproc:thumbhash", paint, { once: true });
  }

  function card(asset) {
    const badge = h("span", {});
    R.setBadge(badge, asset.status, R.failure(asset));
    const problem = asset.status === "failed" ? R.problem(asset) : null;
    const failure = problem
      ? h("span", { class: "card-error", title: problem.detail || problem.message, text: problem.message })
      : null;
    const notes = asset.status === "ready" ? R.warnings(asset) : [];
    const warning = notes.length
      ? h("span", { class: "card-warning", title: notes.join(" "), text: notes.join(" ") })
      : null;
    const picked = selection.ids.has(asset.id);
    const check = h("button", {
      type: "button",
      class: "card-select",
      "aria-pressed": String(picked),
      "aria-label": `Select ${asset.original_filename}`,
      title: "Select (Shift-click for a range, Space on a photo)",
      onclick: (event) => {
        event.preventDefault();
        event.stopPropagation();
        selection.click(asset.id, event.shiftKey);
      },
    });
    const media = h("div", { class: "card-media" }, thumbnail(asset), badge, check);
    paintPlaceholder(media, asset);
    const shot = exposure(asset);
    const node = h(
      "li",
      {
        class: "card",
        "data-asset-id": asset.id,
        "data-status": asset.status,
        "data-filename": asset.original_filename,
        "data-selected": String(picked),
      },
      h(
        "a",
        { href: R.fill(cfg.assetPage, { id: asset.id }), class: "card-link", onclick: (event) => openPhoto(event, asset.id) },
        media,
        h(
          "span",
          { class: "card-body" },
          h("span", { class: "card-title", title: asset.original_filename, text: asset.original_filename }),
          h("span", { class: "card-meta muted", text: camera(asset) }),
          shot ? h("span", { class: "card-exposure muted", text: shot }) : null,
          failure,
          warning,
        ),
      ),
    );
    // Through the CSSOM: the page's CSP refuses inline style attributes.
    node.style.setProperty("--r", aspect(asset).toFixed(4));
    if (asset.status === "ready") probeRenditions(asset);
    return node;
  }

  /** The day a photo was taken, as the camera wrote it (no zone shift), for grouping. */
  function takenDay(asset) {
    const text = (asset.metadata && asset.metadata.taken_at) || asset.taken_at || "";
    const match = /^(\d{4}-\d\d-\d\d)/.exec(text);
    return match ? match[1] : "";
  }

  function dayHeader(day) {
    const label = day ? R.formatDay(day) : "Date unknown";
    return h("li", { class: "day-header", "data-day": day, role: "presentation" }, h("h3", { text: label }));
  }

  // ---------------------------------------------------------------- place in the gallery

  // Opening a photo and coming back (Back, Escape, or the photo page's Gallery link) puts the
  // grid back where it was: the scroll offset and the order of the photos are kept per URL.
  const PLACE_KEY = `rawproc.place:${location.search}`;
  // The gallery's own URL (the location names a photo while the lightbox is open).
  const galleryUrl = location.pathname + location.search;

  function rememberPlace() {
    const ids = Array.from(grid.querySelectorAll(".card"), (node) => node.dataset.assetId);
    sessionStorage.setItem(PLACE_KEY, JSON.stringify({ y: window.scrollY }));
    sessionStorage.setItem(
      "rawproc.sequence",
      JSON.stringify({ ids, gallery: galleryUrl }),
    );
  }
  window.addEventListener("pagehide", rememberPlace);

  function restorePlace() {
    const saved = JSON.parse(sessionStorage.getItem(PLACE_KEY) || "null");
    if (saved && saved.y) {
      // Images have their sizes before they load, so the layout is final now.
      window.scrollTo(0, saved.y);
    }
  }

  // ---------------------------------------------------------------- lightbox

  // A photo opens over the grid (asset.js, the same viewer as the photo page): the grid and
  // its scroll position stay behind it. Each photo has its URL (pushState on opening,
  // replaceState between photos), so Back closes the lightbox, Forward opens it again, and a
  // photo's URL loaded afresh is the photo page. Without the viewer the link navigates.
  const viewer = window.RawprocViewer;
  const lightbox = document.getElementById("lightbox");
  const behind = [document.querySelector(".topbar"), document.querySelector(".uploader"), document.querySelector(".library")];
  const galleryTitle = document.title;

  const lightboxHost = {
    order: () => selection.order(),
    galleryUrl,
    navigate(id) {
      history.replaceState({ photo: id }, "", R.fill(cfg.assetPage, { id }));
      openLightbox(id);
    },
    close() {
      // The photo's history entry was pushed when it opened: going back closes it.
      if (history.state && history.state.photo) history.back();
      else closeLightbox();
    },
    deleted() {
      this.close();
      gallery.refresh();
    },
    changed(id, answer) {
      if (answer) gallery.show(answer);
      gallery.refresh(); // it polls on while the photo is queued or processing
    },
  };

  function openLightbox(id) {
    const wasOpen = !lightbox.hidden;
    for (const node of behind) if (node) node.inert = true;
    viewer.open(id, lightboxHost);
    if (!wasOpen) lightbox.focus({ preventScroll: true });
  }

  function closeLightbox() {
    const id = viewer.assetId;
    viewer.hide();
    for (const node of behind) if (node) node.inert = false;
    document.title = galleryTitle;
    // The focus goes back to the photo last shown (its card may have been rebuilt since).
    const card = id && grid.querySelector(`.card[data-asset-id="${id}"] .card-link`);
    if (card) card.focus({ preventScroll: true });
  }

  function openPhoto(event, id) {
    rememberPlace(); // for the photo page, should the photo be reloaded
    if (!viewer || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    history.pushState({ photo: id }, "", R.fill(cfg.assetPage, { id }));
    openLightbox(id);
  }

  window.addEventListener("popstate", (event) => {
    const id = event.state && event.state.photo;
    if (id && viewer) openLightbox(id);
    else if (!lightbox.hidden) closeLightbox();
  });

  /** What a card shows; a card is only rebuilt when this changes, so images do not flicker. */
  function fingerprint(asset) {
    const thumb = R.variant(asset, "thumbnail");
    const notes = R.warnings(asset).join(" ");
    return [asset.status, R.failure(asset), notes, thumb && thumb.name, thumb && thumb.width].join("|");
  }

  // ---------------------------------------------------------------- selection

  // Photos are picked with the round button on each (Shift-click picks the range from the
  // last one picked), or Space on a focused photo; "Select all" takes every photo that
  // matches the search and filters, on every page. The bar above the grid acts on them.
  const bar = document.getElementById("selection-bar");
  const selection = {
    ids: new Set(),
    names: new Map(), // id -> file name, for the confirmation
    last: null,

    order() {
      return Array.from(grid.querySelectorAll(".card"), (node) => node.dataset.assetId);
    },

    click(id, range) {
      const order = this.order();
      if (range && this.last && order.includes(this.last)) {
        const [a, b] = [order.indexOf(this.last), order.indexOf(id)].sort((x, y) => x - y);
        for (const other of order.slice(a, b + 1)) this.add(other);
      } else if (this.ids.has(id)) {
        this.ids.delete(id);
      } else {
        this.add(id);
      }
      this.last = id;
      this.show();
    },

    add(id) {
      this.ids.add(id);
      const node = grid.querySelector(`.card[data-asset-id="${id}"]`);
      if (node) this.names.set(id, node.dataset.filename);
    },

    clear() {
      this.ids.clear();
      this.names.clear();
      this.last = null;
      this.show();
    },

    show() {
      for (const node of grid.querySelectorAll(".card")) {
        const on = this.ids.has(node.dataset.assetId);
        node.dataset.selected = String(on);
        node.querySelector(".card-select").setAttribute("aria-pressed", String(on));
      }
      grid.classList.toggle("is-selecting", this.ids.size > 0);
      bar.hidden = this.ids.size === 0;
      const n = this.ids.size;
      document.getElementById("selection-count").textContent = `${n} ${n === 1 ? "photo" : "photos"} selected`;
    },

    /** Every photo that matches the search and filters, page after page. */
    async selectAll() {
      let url = gallery.url().replace(/\?/, "?page_size=200&");
      while (url) {
        const page = await R.api("GET", url);
        for (const asset of page.results) {
          this.ids.add(asset.id);
          this.names.set(asset.id, asset.original_filename);
        }
        url = page.next;
      }
      this.show();
    },

    describe() {
      const names = Array.from(this.ids, (id) => this.names.get(id) || id);
      const shown = names.slice(0, 5).join(", ");
      return names.length > 5 ? `${shown} and ${names.length - 5} more` : shown;
    },

    async each(work) {
      const failures = [];
      for (const id of Array.from(this.ids)) {
        try {
          await work(id);
        } catch (err) {
          failures.push(`${this.names.get(id) || id}: ${err.message}`);
        }
      }
      if (failures.length) {
        galleryError.textContent = failures.join(" ");
        galleryError.hidden = false;
      }
      return failures.length;
    },
  };

  document.getElementById("select-none").addEventListener("click", () => selection.clear());
  document.getElementById("select-all").addEventListener("click", () => selection.selectAll());
  document.getElementById("bulk-delete").addEventListener("click", async () => {
    const n = selection.ids.size;
    const what = `${n} ${n === 1 ? "photo" : "photos"} (${selection.describe()})`;
    if (!window.confirm(`Delete ${what} with their renditions and original files? This cannot be undone.`)) return;
    await selection.each((id) => R.api("DELETE", R.fill(cfg.api.asset, { id })));
    liveStatus.textContent = `Deleted ${what}.`;
    selection.clear();
    gallery.refresh();
  });
  document.getElementById("bulk-reprocess").addEventListener("click", async () => {
    const n = selection.ids.size;
    await selection.each((id) => R.api("POST", R.fill(cfg.api.reprocess, { id })));
    liveStatus.textContent = `Reprocessing ${n} ${n === 1 ? "photo" : "photos"}.`;
    selection.clear();
    gallery.refresh();
  });
  document.getElementById("bulk-download").addEventListener("click", () => {
    // One download per original, through the API's redirect to a fresh signed URL.
    let delay = 0;
    for (const id of selection.ids) {
      const link = h("a", { href: R.fill(cfg.api.original, { id }), download: "", hidden: true });
      setTimeout(() => {
        document.body.append(link);
        link.click();
        link.remove();
      }, delay);
      delay += 400;
    }
  });
  grid.addEventListener("keydown", (event) => {
    const link = event.target.closest && event.target.closest(".card-link");
    if (event.key !== " " || !link) return;
    event.preventDefault();
    selection.click(link.closest(".card").dataset.assetId, event.shiftKey);
  });

  /** This page's URL for the API's next/previous page link: same filters, that page. */
  function pageLink(apiUrl) {
    if (!apiUrl) return null;
    const params = new URLSearchParams(location.search);
    const page = new URL(apiUrl, location.href).searchParams.get("page");
    if (page) params.set("page", page);
    else params.delete("page");
    return `?${params}`;
  }

  const gallery = {
    cards: new Map(), // asset id -> {node, fingerprint, status}
    timer: null,
    loaded: false,

    /** The API query for this page: the filter form's fields (empty ones dropped) and page. */
    url() {
      const params = new URLSearchParams();
      for (const [name, value] of new URLSearchParams(location.search)) {
        if (value.trim()) params.set(name, value.trim());
      }
      // The form's "taken to" date includes that day; the API's bound is exclusive.
      const before = params.get("taken_before");
      if (/^\d{4}-\d\d-\d\d$/.test(before || "")) {
        const next = new Date(`${before}T00:00:00Z`);
        next.setUTCDate(next.getUTCDate() + 1);
        params.set("taken_before", next.toISOString().slice(0, 10));
      }
      return `${cfg.api.assets}?${params}`;
    },

    async refresh() {
      clearTimeout(this.timer);
      let page;
      let changed;
      try {
        // Conditional: an unchanged list is a bodiless 304, and the grid is left as it is.
        ({ data: page, changed } = await R.get(this.url()));
        galleryError.hidden = true;
      } catch (err) {
        galleryError.textContent = `Could not load the photos: ${err.message}`;
        galleryError.hidden = false;
        this.schedule(cfg.pollMs * 3);
        return;
      }
      const news = changed || !this.loaded ? this.render(page) : [];
      const busy = page.results.filter((a) => R.BUSY_STATUSES.has(a.status)).length;
      if (busy && changed) news.push(`${busy} still processing`);
      if (news.length) liveStatus.textContent = `${news.join(". ")}.`;
      // Quickly while anything is on its way; slowly otherwise, for photos added elsewhere.
      this.schedule(busy || active || waiting.length ? cfg.pollMs : cfg.idlePollMs);
    },

    /** One photo's card redrawn from an answer the page already holds (a reprocess's). */
    show(asset) {
      const entry = this.cards.get(asset.id);
      if (!entry) return;
      const node = card(asset);
      entry.node.replaceWith(node);
      this.cards.set(asset.id, { node, fingerprint: fingerprint(asset), status: asset.status });
    },

    refreshSoon() {
      this.schedule(300);
    },

    schedule(ms) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.refresh(), ms);
    },

    render(page) {
      const seen = new Set();
      const nodes = [];
      const announcements = [];
      for (const asset of page.results) {
        seen.add(asset.id);
        const print = fingerprint(asset);
        let entry = this.cards.get(asset.id);
        if (!entry || entry.fingerprint !== print) {
          if (entry && entry.status !== asset.status && !R.BUSY_STATUSES.has(asset.status)) {
            announcements.push(`${asset.original_filename}: ${R.STATUS_LABELS[asset.status]}`);
          }
          entry = { node: card(asset), fingerprint: print, status: asset.status };
          this.cards.set(asset.id, entry);
        }
        nodes.push(entry.node);
      }
      for (const id of this.cards.keys()) if (!seen.has(id)) this.cards.delete(id);
      const ordering = new URLSearchParams(location.search).get("ordering") || "";
      if (ordering.endsWith("taken_at")) this.groupByDay(page.results, nodes);
      // Re-inserting unchanged cards would drop keyboard focus, so only touch a changed list.
      const shown = Array.from(grid.children);
      if (shown.length !== nodes.length || shown.some((node, i) => node !== nodes[i])) {
        grid.replaceChildren(...nodes);
      }
      grid.setAttribute("aria-busy", "false");
      if (!this.loaded) {
        this.loaded = true;
        restorePlace();
      }
      emptyNote.hidden = nodes.length > 0;
      countNode.textContent = page.count === undefined ? "" : `(${page.count})`;

      const prev = pageLink(page.previous);
      const next = pageLink(page.next);
      pager.hidden = !prev && !next;
      this.pagerButton("page-prev", prev);
      this.pagerButton("page-next", next);
      const current = Number(new URLSearchParams(location.search).get("page")) || 1;
      const pages = Math.max(1, Math.ceil(page.count / cfg.pageSize));
      document.getElementById("page-info").textContent = `Page ${current} of ${pages}`;
      return announcements;
    },

    /** Sorted by shot date: a header before each day's photos (headers are kept, so focus
     * and the grid stay put while the page polls). */
    groupByDay(results, nodes) {
      this.headers = this.headers || new Map();
      let last = null;
      for (let i = results.length - 1; i >= 0; i -= 1) {
        const day = takenDay(results[i]);
        const previous = i > 0 ? takenDay(results[i - 1]) : null;
        if (day !== previous) {
          if (!this.headers.has(day)) this.headers.set(day, dayHeader(day));
          nodes.splice(i, 0, this.headers.get(day));
        }
        last = day;
      }
      return last;
    },

    pagerButton(id, href) {
      const button = document.getElementById(id);
      button.disabled = !href;
      button.onclick = href ? () => location.assign(href) : null;
    },
  };

  // Back in a tab that was hidden: look again at once (a 304 when nothing changed).
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") gallery.refresh();
  });

  gallery.refresh();
})();
