// Exposes the vendored ThumbHash decoder to the page scripts (which are classic scripts).
import { thumbHashToDataURL } from "./vendor/thumbhash.js";

window.RawprocThumbHash = (base64) => {
  try {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return thumbHashToDataURL(bytes);
  } catch (err) {
    return null; // a malformed hash: no placeholder, the card's background shows instead
  }
};
window.dispatchEvent(new Event("rawproc:thumbhash"));
