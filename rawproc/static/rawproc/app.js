"use strict";
/*
 * Shared helpers for the raw-processor pages, exposed as window.Rawproc.
 *
 * The pages talk to the same JSON API as every other client, with the Django session
 * cookie for authentication; writes carry the CSRF token the server put in the page.
 * API errors arrive as {code, message} and are turned into ApiError.
 */
(function () {
  const config = JSON.parse(document.getElementById("page-config").textContent);

  const STATUS_LABELS = {
    uploading: "Uploading",
    queued: "Queued",
    processing: "Processing",
    ready: "Ready",
    failed: "Failed",
  };
  const BUSY_STATUSES = new Set(["queued", "processing"]);

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function networkError() {
    return new ApiError(0, "network_error", "Network error: the server could not be reached.");
  }

  /** Send the visitor to the sign-in page when the session has ended. */
  function requireSignIn(status, code) {
    if (status === 401 || (status === 403 && code === "not_authenticated")) {
      const next = encodeURIComponent(location.pathname + location.search);
      location.assign(`${config.loginUrl}?next=${next}`);
      return true;
    }
    return false;
  }

  async function api(method, url, body) {
    const { data } = await send(method, url, body);
    return data;
  }

  // The last answer to each GET polled with get(): {etag, data}.
  const validated = new Map();

  /** GET ``url`` with If-None-Match when an earlier answer to it is kept: a 304 (nothing
   * changed) costs the server no serialising and the page no re-rendering. Resolves to
   * {data, changed}: the fresh answer, or the kept one with changed false. */
  async function get(url) {
    const kept = validated.get(url);
    const { response, data } = await send("GET", url, undefined, kept ? { "If-None-Match": kept.etag } : {});
    if (response.status === 304 && kept) return { data: kept.data, changed: false };
    const etag = response.headers.get("ETag");
    if (etag) validated.set(url, { etag, data });
    else validated.delete(url);
    return { data, changed: true };
  }

  async function send(method, url, body, extraHeaders) {
    const headers = { Accept: "application/json", ...(extraHeaders || {}) };
    if (method !== "GET") headers["X-CSRFToken"] = config.csrfToken;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch (err) {
      throw networkError();
    }
    let data = null;
    if (response.status !== 204 && response.status !== 304) {
      try {
        data = await response.json();
      } catch (err) {
        data = null;
      }
    }
    if (!response.ok && response.status !== 304) {
      const code = (data && data.code) || `http_${response.status}`;
      const message = (data && data.message) || `The server answered ${response.status}.`;
      requireSignIn(response.status, code);
      const error = new ApiError(response.status, code, message);
      // 429 (upload rate): how many seconds the server asks the client to wait.
      error.retryAfter = Number(response.headers.get("Retry-After")) || 0;
      throw error;
    }
    return { response, data };
  }

  /** Fill a URL template from the page config: "/api/assets/__id__/" -> "/api/assets/42/". */
  function fill(template, values) {
    return template.replace(/__(\w+)__/g, (_, key) => encodeURIComponent(values[key]));
  }

  /** Build an element: h("a", {href: "/", class: "x"}, "text", childNode). */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** Sizes in 1024-based units, as Django's filesizeformat shows the upload limit. */
  function formatBytes(bytes) {
    if (bytes === null || bytes === undefined) return "";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
  }

  function monthName(y, mo) {
    return new Date(Date.UTC(+y, +mo - 1, 1)).toLocaleString("en", { month: "short", timeZone: "UTC" });
  }

  /** A shot's date-time as the camera's clock showed it: the wall-clock time written in the
   * file, never shifted to another zone and never labelled with one, so every photo reads
   * the same way whether or not its camera recorded an offset. */
  function formatDateTime(text) {
    if (!text) return "";
    const match = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d))?/.exec(text);
    if (!match) return text;
    const [, y, mo, d, hh, mm, ss] = match;
    return `${+d} ${monthName(y, mo)} ${y}, ${hh}:${mm}${ss ? `:${ss}` : ""}`;
  }

  /** A moment the server recorded (upload, processing), in this browser's time zone and in
   * the same form as shot dates. */
  function formatInstant(text) {
    const when = text ? new Date(text) : null;
    if (!when || Number.isNaN(when.getTime())) return text || "";
    const pad = (n) => String(n).padStart(2, "0");
    return formatDateTime(
      `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}T` +
        `${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}`,
    );
  }

  /** A day ("2023-06-14") as a heading: "Wednesday 14 June 2023". */
  function formatDay(day) {
    const [y, mo, d] = day.split("-").map(Number);
    return new Date(Date.UTC(y, mo - 1, d)).toLocaleDateString("en-GB", {
      weekday: "long",
      day: "numeric",
      month: "long",
      year: "numeric",
      timeZone: "UTC",
    });
  }

  /** Set a status badge's text and colour; failed badges carry the reason. */
  function setBadge(node, status, reason) {
    node.className = `badge badge-${status}`;
    node.textContent = STATUS_LABELS[status] || status;
    if (status === "failed" && reason) node.title = reason;
    else node.removeAttribute("title");
  }

  /** Why an asset failed, for people: the server's message, else its code. */
  function failure(asset) {
    return asset.error ? asset.error.message || asset.error.code : "";
  }

  /** A failure for people: a short sentence, and the technical detail to show on demand. */
  function problem(asset) {
    if (!asset.error) return null;
    const message = asset.error.message || asset.error.code;
    // The first sentence is what a person needs; the rest goes with the detail.
    const first = /^(.{1,140}?[.!?])(\s|$)/.exec(message);
    const short = first ? first[1] : message.length > 140 ? `${message.slice(0, 139)}…` : message;
    const detail = [message !== short ? message : "", asset.error.detail || ""]
      .filter(Boolean)
      .join("\n");
    return { code: asset.error.code, message: short, detail };
  }

  /** Why the renditions are less than they could be, for people (e.g. "The file is
   * incomplete: shown from the camera's 1024 px preview."); one sentence each. */
  function warnings(asset) {
    return (asset.warnings || []).map((w) => w.message || w.code);
  }

  // Words a maker's registered name carries that people do not say ("NIKON CORPORATION").
  const MAKER_SUFFIX =
    /[\s,]+(corporation|corp\.?|co\.?|ltd\.?|inc\.?|imaging|optical|company|camera|gmbh|ag|a\/s)$/i;

  /** The camera as people name it: the model, led by the maker unless the model already
   * names it ("NIKON CORPORATION" + "NIKON D7100" is "NIKON D7100", "SONY" + "ILCE-7RM3"
   * is "SONY ILCE-7RM3"). */
  function cameraName(make, model) {
    let brand = (make || "").trim();
    while (MAKER_SUFFIX.test(brand)) brand = brand.replace(MAKER_SUFFIX, "");
    const name = (model || "").trim();
    if (!name) return brand;
    const first = name.split(/\s+/)[0].toLowerCase();
    const words = brand.toLowerCase().split(/\s+/);
    return !brand || words.includes(first) ? name : `${brand} ${name}`;
  }

  /** One variant of an asset by name, or null. */
  function variant(asset, name) {
    return (asset.variants || []).find((v) => v.name === name) || null;
  }

  window.Rawproc = {
    config,
    ApiError,
    networkError,
    requireSignIn,
    api,
    get,
    fill,
    h,
    formatBytes,
    formatDateTime,
    formatInstant,
    formatDay,
    problem,
    setBadge,
    variant,
    cameraName,
    failure,
    warnings,
    STATUS_LABELS,
    BUSY_STATUSES,
  };
})();
