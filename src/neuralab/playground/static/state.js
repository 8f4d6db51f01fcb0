// The single state object of the page: every control reads and writes it, the server gets
// the changes, and the URL's hash carries all of it (#field=value&...), so a link reproduces
// the setup. Field kinds come from the server's hello (protocol.STATE).

export const state = {};
let kinds = {};

/** Take the server's field kinds and defaults. */
export function init(fieldKinds, defaults) {
  kinds = fieldKinds;
  Object.assign(state, defaults);
}

function encodeValue(kind, value) {
  if (kind === "hidden" || kind === "features" || kind === "hide" || kind === "activations") return value.join(",");
  if (kind === "race") return value.map((r) => `${r.optimizer}:${r.lr}`).join(",");
  return String(value);
}

function decodeValue(kind, text) {
  const list = text === "" ? [] : text.split(",");
  switch (kind) {
    case "int": case "float": return Number(text);
    case "bool": return text === "true";
    case "hidden": return list.map(Number);
    case "features": case "hide": case "activations": return list;
    case "race": return list.map((item) => {
      const [optimizer, lr] = item.split(":");
      return {optimizer, lr: Number(lr)};
    });
    default: return text;
  }
}

/** The whole state as a URL hash. */
export function toHash(s = state) {
  return "#" + Object.keys(kinds).filter((k) => k in s)
    .map((k) => `${k}=${encodeURIComponent(encodeValue(kinds[k][0], s[k]))}`).join("&");
}

/** The fields a hash sets (unknown keys are ignored; the server checks the values). */
export function fromHash(hash) {
  const out = {};
  for (const pair of hash.replace(/^#/, "").split("&")) {
    if (!pair) continue;
    const at = pair.indexOf("=");
    const key = decodeURIComponent(at < 0 ? pair : pair.slice(0, at));
    if (!(key in kinds)) continue;
    out[key] = decodeValue(kinds[key][0], decodeURIComponent(at < 0 ? "" : pair.slice(at + 1)));
  }
  return out;
}

/** Write the state into the address bar without adding a history entry per change. */
export function saveToUrl() {
  const url = location.pathname + location.search + toHash();
  history.replaceState(null, "", url);
}
