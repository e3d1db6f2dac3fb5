"use strict";
/*
 * Asset page: the preview (click for 100 %, from the full rendition when there is one),
 * the metadata grouped the way a photographer reads it, downloads through the API's
 * redirect-to-signed-URL endpoints (so a link on an open page never expires), and the
 * reprocess and delete actions. The page polls while the asset is queued or processing.
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
  let timer = null;
  let shownImage = null; // "name|width" of the variant on screen, to avoid reloading it

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  // ---------------------------------------------------------------- viewer

  /** The variant to show fitted (preview, else the thumbnail) and the one to zoom into. */
  function viewerVariants() {
    const fit = R.variant(asset, "preview") || R.variant(asset, "thumbnail");
    const full = R.variant(asset, "full");
    return { fit, zoom: full || fit };
  }

  function renderViewer() {
    const { fit, zoom } = viewerVariants();
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
    const key = `${fit.name}|${fit.width}|${zoom.name}`;
    if (key === shownImage) return;
    shownImage = key;
    placeholder.hidden = true;
    zoomButton.hidden = false;
    setZoom(false);
    image.alt = `Preview of ${asset.original_filename}${describeShot()}`;
    const pixels = `${zoom.width} × ${zoom.height}`;
    zoomHint.textContent =
      zoom === fit
        ? `Click the image to see it at 100 % (${pixels}).`
        : `Click the image to see the full rendition at 100 % (${pixels}).`;
    zoomHint.hidden = false;
  }

  function describeShot() {
    const m = asset.metadata || {};
    const camera = R.cameraName(m.camera_make, m.camera_model);
    return camera ? `, taken with a ${camera}` : "";
  }

  function imageUrl(v) {
    return R.fill(cfg.api.variant, { id: asset.id, name: v.name });
  }

  function setZoom(zoomed) {
    const { fit, zoom } = viewerVariants();
    const v = zoomed ? zoom : fit;
    frame.classList.toggle("is-zoomed", zoomed);
    zoomButton.setAttribute("aria-pressed", String(zoomed));
    zoomButton.setAttribute(
      "aria-label",
      zoomed ? "Fit the image to the screen" : "View the image at 100 %",
    );
    image.width = v.width;
    image.height = v.height;
    // The signed URL from the API, or the redirect endpoint once it may have expired.
    image.src = Date.parse(v.expires_at) > Date.now() + 5000 ? v.url : imageUrl(v);
  }

  zoomButton.addEventListener("click", (event) => {
    const zoomed = !frame.classList.contains("is-zoomed");
    setZoom(zoomed);
    if (zoomed) {
      // Keep the clicked point under the pointer once the image is at 100 %.
      const rect = zoomButton.getBoundingClientRect();
      const fx = event.clientX ? (event.clientX - rect.left) / rect.width : 0.5;
      const fy = event.clientY ? (event.clientY - rect.top) / rect.height : 0.5;
      const { zoom } = viewerVariants();
      frame.scrollLeft = fx * zoom.width - frame.clientWidth / 2;
      frame.scrollTop = fy * zoom.height - frame.clientHeight / 2;
    }
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
          ["Uploaded", R.formatDateTime(asset.created_at)],
          ["Processed", R.formatDateTime(asset.processed_at)],
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
      showError(`Processing failed: ${R.failure(asset)}`);
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
    try {
      asset = await R.api("GET", R.fill(cfg.api.asset, { id: cfg.assetId }));
    } catch (err) {
      showError(`Could not load the photo: ${err.message}`);
      timer = setTimeout(load, cfg.pollMs * 3);
      return;
    }
    render();
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
      await R.api("POST", R.fill(cfg.api.reprocess, { id: asset.id }));
      shownImage = null;
      await load();
    }),
  );

  deleteButton.addEventListener("click", () => {
    if (!window.confirm(`Delete ${asset.original_filename} and all its renditions?`)) return;
    act(deleteButton, async () => {
      await R.api("DELETE", R.fill(cfg.api.asset, { id: asset.id }));
      location.assign(cfg.galleryUrl);
    });
  });

  load();
})();
