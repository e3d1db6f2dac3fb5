"use strict";
/*
 * The photo viewer: the preview (click for 100 %, from the full rendition when there is one),
 * the metadata grouped the way a photographer reads it, downloads through the API's
 * redirect-to-signed-URL endpoints (so a link on an open page never expires), and the
 * reprocess and delete actions. It polls while the asset is queued or processing.
 *
 * One module for two places: the photo page (a deep link, or without the gallery), and the
 * lightbox over the gallery grid. The gallery opens it with window.RawprocViewer.open(id,
 * host), where the host says the order of the photos and how to move and close; the photo
 * page's host walks the order the gallery left in sessionStorage and navigates.
 */
(function () {
  const R = window.Rawproc;
  const cfg = R.config;
  const h = R.h;

  const title = document.getElementById("asset-title");
  const subtitle = document.getElementById("asset-subtitle");
  const statusBadge = document.getElementById("asset-status");
  const errorBox = document.getElementById("asset-error");
  const warningBox = document.getElementById("asset-warnings");
  const placeholder = document.getElementById("viewer-placeholder");
  const zoomButton = document.getElementById("zoom-btn");
  const image = document.getElementById("viewer-img");
  const zoomHint = document.getElementById("zoom-hint");
  const frame = document.getElementById("viewer-frame");
  const metadataBox = document.getElementById("metadata");
  const downloads = document.getElementById("downloads");
  const reprocessButton = document.getElementById("reprocess-btn");
  const deleteButton = document.getElementById("delete-btn");

  let asset = null;
  let assetId = cfg.assetId || null;
  let timer = null;
  const overlay = document.getElementById("lightbox"); // only over the gallery
  let shownImage = null; // "name|width" of the variant on screen, to avoid reloading it

  const errorText = document.getElementById("asset-error-text");
  const errorDetail = document.getElementById("asset-error-detail");

  /** A sentence for people; the technical detail folded under it, shown on demand. */
  function showError(message, detail) {
    errorText.textContent = message;
    errorDetail.hidden = !detail;
    errorDetail.querySelector("pre").textContent = detail || "";
    errorBox.hidden = !message;
  }

  // ---------------------------------------------------------------- viewer

  // What 100 % shows: the stored full rendition; else one made on demand by the renditions
  // route (202 while it is made, then a redirect to it); else, on a server without that
  // route, the preview, and the hint says so.
  const fullSize = { state: "unknown", url: null, width: 0, height: 0 };

  /** The variant to show fitted (preview, else the thumbnail). */
  function fitVariant() {
    return R.variant(asset, "preview") || R.variant(asset, "thumbnail");
  }

  function photoSize() {
    const m = asset.metadata || {};
    const full = R.variant(asset, "full");
    if (full) return [full.width, full.height];
    return m.width && m.height ? [m.width, m.height] : [0, 0];
  }

  /** Ask for the full-size rendition until it is there (or the server cannot make one). */
  async function prepareFullSize() {
    const stored = R.variant(asset, "full");
    if (stored) {
      Object.assign(fullSize, { state: "ready", url: imageUrl(stored), width: stored.width, height: stored.height });
      return;
    }
    if (fullSize.state === "ready" || fullSize.state === "none") return;
    const id = asset.id;
    const url = R.fill(cfg.api.rendition, { id, spec: "full.jpeg" });
    for (let attempt = 0; attempt < 120; attempt += 1) {
      let answer;
      try {
        answer = await fetch(url, { credentials: "same-origin", redirect: "manual", headers: { Accept: "image/jpeg" } });
      } catch (err) {
        break;
      }
      if (!asset || asset.id !== id) return; // the viewer moved on to another photo
      // A redirect to the signed URL (opaque to scripts): the image is there.
      if (answer.type === "opaqueredirect" || answer.ok) {
        const [width, height] = photoSize();
        Object.assign(fullSize, { state: "ready", url, width, height });
        return;
      }
      if (answer.status !== 202) break;
      fullSize.state = "preparing";
      renderZoomHint();
      const wait = Number(answer.headers.get("Retry-After")) || 1;
      await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 5) * 1000));
    }
    fullSize.state = "none";
  }

  function renderZoomHint() {
    const fit = fitVariant();
    const [width, height] = photoSize();
    const zoomed = frame.classList.contains("is-zoomed");
    let text;
    if (fullSize.state === "preparing") text = "Preparing the full size…";
    else if (fullSize.state === "none") {
      text = `Full size is not available here: 100 % shows the ${fit.width} px preview, not the photo's ${width || "full"} px.`;
    } else if (zoomed) text = `100 %: ${fullSize.width} × ${fullSize.height} px. Click, Z or Esc to fit.`;
    else text = `Click the image or press Z to see it at 100 %${width ? ` (${width} × ${height} px)` : ""}.`;
    zoomHint.textContent = text;
    zoomHint.dataset.state = fullSize.state;
    zoomHint.hidden = false;
  }

  function renderViewer() {
    const fit = fitVariant();
    if (!fit) {
      zoomButton.hidden = true;
      placeholder.hidden = false;
      placeholder.textContent =
        asset.status === "failed"
          ? "No preview: processing failed."
          : R.BUSY_STATUSES.has(asset.status)
            ? "Rendering the preview…"
            : "No preview.";
      frame.classList.toggle("is-busy", R.BUSY_STATUSES.has(asset.status));
      return;
    }
    frame.classList.remove("is-busy");
    const full = R.variant(asset, "full");
    const key = `${fit.name}|${fit.width}|${full ? full.width : ""}`;
    if (key === shownImage) return;
    shownImage = key;
    placeholder.hidden = true;
    zoomButton.hidden = false;
    image.alt = `Preview of ${asset.original_filename}${describeShot()}`;
    showFitted();
  }

  function describeShot() {
    const m = asset.metadata || {};
    const camera = R.cameraName(m.camera_make, m.camera_model);
    return camera ? `, taken with a ${camera}` : "";
  }

  function imageUrl(v) {
    return R.fill(cfg.api.variant, { id: asset.id, name: v.name });
  }

  function showFitted() {
    const fit = fitVariant();
    frame.classList.remove("is-zoomed");
    zoomButton.setAttribute("aria-pressed", "false");
    zoomButton.setAttribute("aria-label", "View the image at 100 %");
    image.width = fit.width;
    image.height = fit.height;
    // The signed URL from the API, or the redirect endpoint once it may have expired.
    image.src = Date.parse(fit.expires_at) > Date.now() + 5000 ? fit.url : imageUrl(fit);
    renderZoomHint();
  }

  /** 100 %: one image pixel on one screen pixel, centred on (fx, fy) of the picture. */
  async function showActualSize(fx, fy) {
    await prepareFullSize();
    const fit = fitVariant();
    const ready = fullSize.state === "ready";
    const width = ready ? fullSize.width || fit.width : fit.width;
    const height = ready ? fullSize.height || fit.height : fit.height;
    frame.classList.add("is-zoomed");
    zoomButton.setAttribute("aria-pressed", "true");
    zoomButton.setAttribute("aria-label", "Fit the image to the screen");
    image.width = width;
    image.height = height;
    image.src = ready ? fullSize.url : fit.url;
    // CSS pixels: at 100 % an image pixel is a device pixel.
    const ratio = window.devicePixelRatio || 1;
    image.style.width = `${width / ratio}px`;
    image.style.height = `${height / ratio}px`;
    frame.scrollLeft = (fx * width) / ratio - frame.clientWidth / 2;
    frame.scrollTop = (fy * height) / ratio - frame.clientHeight / 2;
    renderZoomHint();
  }

  function setZoom(zoomed, fx = 0.5, fy = 0.5) {
    if (zoomed) return showActualSize(fx, fy);
    image.style.width = "";
    image.style.height = "";
    showFitted();
    return Promise.resolve();
  }

  zoomButton.addEventListener("click", (event) => {
    const zoomed = !frame.classList.contains("is-zoomed");
    // Keep the clicked point under the pointer once the image is at 100 %.
    const rect = image.getBoundingClientRect();
    const fx = event.clientX ? Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width)) : 0.5;
    const fy = event.clientY ? Math.min(1, Math.max(0, (event.clientY - rect.top) / rect.height)) : 0.5;
    setZoom(zoomed, fx, fy);
  });

  // ---------------------------------------------------------------- previous, next, keys

  const backLink = document.getElementById("back-link");
  const prevLink = document.getElementById("prev-link");
  const nextLink = document.getElementById("next-link");
  const layout = document.getElementById("asset-layout");
  const infoButton = document.getElementById("info-btn");
  const fullscreenButton = document.getElementById("fullscreen-btn");

  /** The photo page's host: the gallery left the order of the photos it showed; it is
   * walked with location.replace(), so Back from any photo returns to the gallery. */
  function pageHost() {
    const sequence = JSON.parse(sessionStorage.getItem("rawproc.sequence") || "null");
    const ids = sequence && Array.isArray(sequence.ids) ? sequence.ids : [];
    const gallery = (sequence && sequence.gallery) || cfg.galleryUrl;
    return {
      order: () => ids,
      galleryUrl: gallery,
      navigate: (id) => location.replace(R.fill(cfg.assetPage, { id })),
      close: () => location.assign(gallery),
      deleted: () => location.assign(cfg.galleryUrl),
    };
  }
  let host = overlay ? null : pageHost();

  function neighbour(step) {
    const ids = host.order();
    const at = ids.indexOf(assetId);
    return at < 0 ? null : ids[at + step] || null;
  }

  function renderNav() {
    backLink.href = host.galleryUrl;
    for (const [link, step] of [[prevLink, -1], [nextLink, 1]]) {
      const id = neighbour(step);
      link.hidden = !id;
      if (id) link.href = R.fill(cfg.assetPage, { id });
    }
    const ids = host.order();
    document.getElementById("sequence-info").textContent = ids.includes(assetId)
      ? `${ids.indexOf(assetId) + 1} of ${ids.length}`
      : "";
  }

  function go(step) {
    const id = neighbour(step);
    if (id) host.navigate(id);
  }

  function close() {
    if (frame.classList.contains("is-zoomed")) setZoom(false);
    host.close();
  }

  for (const [link, step] of [[prevLink, -1], [nextLink, 1]]) {
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault();
      go(step);
    });
  }
  backLink.addEventListener("click", (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    close();
  });

  function toggleInfo() {
    const hidden = layout.classList.toggle("no-details");
    infoButton.setAttribute("aria-pressed", String(!hidden));
    sessionStorage.setItem("rawproc.info", hidden ? "hidden" : "shown");
  }
  if (sessionStorage.getItem("rawproc.info") === "hidden") toggleInfo();
  infoButton.addEventListener("click", toggleInfo);

  function toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (frame.requestFullscreen) frame.requestFullscreen().catch(() => {});
  }
  fullscreenButton.addEventListener("click", toggleFullscreen);

  /** Whether the viewer is on screen: always on the photo page, while open over the gallery. */
  function showing() {
    return !overlay || !overlay.hidden;
  }

  document.addEventListener("keydown", (event) => {
    if (!showing() || event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) return;
    const zoomed = frame.classList.contains("is-zoomed");
    const pan = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[event.key];
    if (zoomed && pan) {
      frame.scrollBy({ left: pan[0] * frame.clientWidth * 0.2, top: pan[1] * frame.clientHeight * 0.2 });
    } else if (event.key === "ArrowLeft") go(-1);
    else if (event.key === "ArrowRight") go(1);
    else if (event.key === "Escape") {
      if (document.fullscreenElement) return; // the browser leaves full screen itself
      if (zoomed) setZoom(false);
      else close();
    } else if (event.key === "z" || event.key === "Z") {
      if (!zoomButton.hidden) setZoom(!zoomed);
    } else if (event.key === "f" || event.key === "F") toggleFullscreen();
    else if (event.key === "i" || event.key === "I") toggleInfo();
    else return;
    event.preventDefault();
  });

  // Swipe on touch screens: left for the next photo, right for the previous one.
  let touchStart = null;
  frame.addEventListener("touchstart", (event) => {
    touchStart = event.touches.length === 1 ? [event.touches[0].clientX, event.touches[0].clientY] : null;
  }, { passive: true });
  frame.addEventListener("touchend", (event) => {
    if (!touchStart || frame.classList.contains("is-zoomed")) return;
    const touch = event.changedTouches[0];
    const dx = touch.clientX - touchStart[0];
    const dy = touch.clientY - touchStart[1];
    if (Math.abs(dx) > 60 && Math.abs(dx) > 2 * Math.abs(dy)) go(dx < 0 ? 1 : -1);
    touchStart = null;
  });

  // ---------------------------------------------------------------- metadata

  function signed(value, digits) {
    const text = Number(value).toFixed(digits).replace(/\.?0+$/, "");
    return value > 0 ? `+${text}` : text;
  }

  function coordinate(value, positive, negative) {
    return `${Math.abs(value).toFixed(5)}° ${value >= 0 ? positive : negative}`;
  }

  function osmLink(gps) {
    const lat = gps.latitude.toFixed(6);
    const lon = gps.longitude.toFixed(6);
    const href = `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=15/${lat}/${lon}`;
    return h("a", { href, rel: "noopener noreferrer", target: "_blank" }, "Open in OpenStreetMap");
  }

  /** Groups of [label, value] rows; rows without a value are left out. */
  function metadataGroups() {
    const m = asset.metadata || {};
    const gps = m.gps || {};
    const hasGps = typeof gps.latitude === "number" && typeof gps.longitude === "number";
    const megapixels = m.width && m.height ? ` (${((m.width * m.height) / 1e6).toFixed(1)} MP)` : "";
    return [
      [
        "Camera and lens",
        [
          ["Camera", R.cameraName(m.camera_make, m.camera_model)],
          ["Lens", [m.lens_make, m.lens_model].filter(Boolean).join(" ")],
          ["Serial number", m.serial_number],
        ],
      ],
      [
        "Exposure",
        [
          ["Shutter", m.exposure_time_display && `${m.exposure_time_display} s`],
          ["Aperture", m.f_number && `f/${m.f_number}`],
          ["ISO", m.iso],
          ["Exposure bias", m.exposure_bias_ev != null && `${signed(m.exposure_bias_ev, 2)} EV`],
          ["Focal length", m.focal_length_mm && `${m.focal_length_mm} mm`],
          ["Program", m.exposure_program],
          ["Metering", m.metering_mode],
          ["Flash", m.flash_fired == null ? null : m.flash_fired ? "Fired" : "Did not fire"],
          ["White balance", m.white_balance],
        ],
      ],
      ["Date", [["Taken", R.formatDateTime(m.taken_at)]]],
      [
        "Location",
        hasGps
          ? [
              ["Latitude", coordinate(gps.latitude, "N", "S")],
              ["Longitude", coordinate(gps.longitude, "E", "W")],
              ["Altitude", gps.altitude_m != null && `${Math.round(gps.altitude_m)} m`],
              ["Map", osmLink(gps)],
            ]
          : [],
      ],
      [
        "Image",
        [
          ["Dimensions", m.width && `${m.width} × ${m.height}${megapixels}`],
          ["RAW format", asset.raw_format || (m.raw && m.raw.format)],
          ["Software", m.software],
          ["Artist", m.artist],
          ["Copyright", m.copyright],
          ["Rendered from", asset.degraded ? "the camera's embedded preview" : null],
        ],
      ],
      [
        "File",
        [
          ["Name", asset.original_filename],
          ["Size", R.formatBytes(asset.size)],
          ["Uploaded", R.formatInstant(asset.created_at)],
          ["Processed", R.formatInstant(asset.processed_at)],
        ],
      ],
    ];
  }

  function renderMetadata() {
    const sections = [];
    for (const [heading, rows] of metadataGroups()) {
      const present = rows.filter(([, value]) => value !== null && value !== undefined && value !== "" && value !== false);
      if (!present.length) continue;
      const list = h("dl", { class: "meta" });
      for (const [label, value] of present) {
        list.append(h("dt", { text: label }), h("dd", {}, value));
      }
      const slug = heading.toLowerCase().replace(/\W+/g, "-");
      sections.push(h("section", { class: "meta-group", "data-group": slug }, h("h3", { text: heading }), list));
    }
    metadataBox.replaceChildren(...sections);
  }

  // ---------------------------------------------------------------- downloads and header

  const VARIANT_LABELS = { thumbnail: "Thumbnail", preview: "Preview", full: "Full size" };

  function renderDownloads() {
    const items = (asset.variants || []).map((v) =>
      h(
        "li",
        {},
        h(
          "a",
          { href: imageUrl(v), download: "", class: "download", "data-variant": v.name },
          h("span", { class: "download-name", text: VARIANT_LABELS[v.name] || v.name }),
          h(
            "span",
            { class: "muted small" },
            `${v.format.toUpperCase()} · ${v.width} × ${v.height} · ${R.formatBytes(v.size)}`,
          ),
        ),
      ),
    );
    const format = asset.raw_format || asset.original_filename.split(".").pop().toUpperCase();
    items.push(
      h(
        "li",
        {},
        h(
          "a",
          { href: R.fill(cfg.api.original, { id: asset.id }), download: "", class: "download", "data-variant": "original" },
          h("span", { class: "download-name", text: "Original RAW" }),
          h("span", { class: "muted small" }, `${format} · ${R.formatBytes(asset.size)}`),
        ),
      ),
    );
    downloads.replaceChildren(...items);
  }

  function renderHeader() {
    title.textContent = asset.original_filename;
    document.title = `${asset.original_filename} · raw-processor`;
    R.setBadge(statusBadge, asset.status, R.failure(asset));
    const m = asset.metadata || {};
    subtitle.textContent = [
      R.cameraName(m.camera_make, m.camera_model),
      R.formatDateTime(m.taken_at),
    ]
      .filter(Boolean)
      .join(" · ");
    reprocessButton.disabled = !["ready", "failed"].includes(asset.status);
    const notes = asset.status === "ready" ? R.warnings(asset) : [];
    warningBox.replaceChildren(...notes.map((text) => h("li", { text })));
    warningBox.hidden = !notes.length;
    if (asset.status === "failed") {
      const problem = R.problem(asset);
      showError(`Processing failed: ${problem.message}`, problem.detail);
    } else if (!errorBox.dataset.sticky) {
      showError("");
    }
  }

  function render() {
    renderHeader();
    renderViewer();
    renderMetadata();
    renderDownloads();
  }

  // ---------------------------------------------------------------- loading and actions

  async function load() {
    clearTimeout(timer);
    const id = assetId;
    let answer;
    let changed;
    try {
      // Conditional: while it polls, an unchanged photo is a bodiless 304.
      ({ data: answer, changed } = await R.get(R.fill(cfg.api.asset, { id })));
    } catch (err) {
      if (id !== assetId || !showing()) return;
      showError(`Could not load the photo: ${err.message}`);
      timer = setTimeout(load, cfg.pollMs * 3);
      return;
    }
    // An answer about a photo the viewer has since left is dropped.
    if (id !== assetId || !showing()) return;
    const fresh = asset === null;
    const before = fresh ? null : asset.status;
    asset = answer;
    if (changed || fresh) render();
    // Over the gallery, the grid behind follows the photo's status (after a reprocess).
    if (before !== null && before !== asset.status && host.changed) host.changed(asset.id);
    if (R.BUSY_STATUSES.has(asset.status)) timer = setTimeout(load, cfg.pollMs);
  }

  async function act(button, work) {
    button.disabled = true;
    delete errorBox.dataset.sticky;
    try {
      await work();
    } catch (err) {
      errorBox.dataset.sticky = "1";
      showError(err.message);
    } finally {
      button.disabled = false;
    }
  }

  reprocessButton.addEventListener("click", () =>
    act(reprocessButton, async () => {
      const queued = await R.api("POST", R.fill(cfg.api.reprocess, { id: asset.id }));
      shownImage = null;
      fullSize.state = "unknown";
      // The grid behind shows the photo queued at once, however fast the worker is.
      if (host.changed) host.changed(asset.id, queued);
      await load();
      if (host.changed) host.changed(asset.id);
    }),
  );

  deleteButton.addEventListener("click", () => {
    if (!window.confirm(`Delete ${asset.original_filename} and all its renditions?`)) return;
    act(deleteButton, async () => {
      await R.api("DELETE", R.fill(cfg.api.asset, { id: asset.id }));
      host.deleted(asset.id);
    });
  });

  /** Show the photo ``id`` (a new one, or the same one again). */
  function show(id) {
    if (frame.classList.contains("is-zoomed")) setZoom(false);
    if (id !== assetId) {
      asset = null;
      shownImage = null;
      fullSize.state = "unknown";
      image.removeAttribute("src");
      zoomButton.hidden = true;
      zoomHint.hidden = true;
      placeholder.hidden = false;
      placeholder.textContent = "Loading…";
      title.textContent = "";
      subtitle.textContent = "";
      statusBadge.textContent = "";
      metadataBox.replaceChildren();
      downloads.replaceChildren();
      delete errorBox.dataset.sticky;
      showError("");
    }
    assetId = id;
    renderNav();
    load();
  }

  if (overlay) {
    // Over the gallery: it opens and closes the viewer; the host is the gallery's.
    window.RawprocViewer = {
      open(id, galleryHost) {
        host = galleryHost;
        overlay.hidden = false;
        show(id);
      },
      hide() {
        clearTimeout(timer);
        if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
        if (frame.classList.contains("is-zoomed")) setZoom(false);
        overlay.hidden = true;
      },
      get assetId() {
        return overlay.hidden ? null : assetId;
      },
    };
  } else {
    show(assetId);
  }
})();
