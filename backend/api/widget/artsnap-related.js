/*
 * <artsnap-related>: works related to one of yours, from an artsnap server. No framework.
 *
 *   <script src="https://artsnap.example/widget/artsnap-related.js" defer></script>
 *   <artsnap-related collection="museum" record="europeana:/2048128/618580" key="pk_..."
 *       href-template="https://portal.example/records{record_id}"></artsnap-related>
 *
 * Which work: record (your record id as kept at ingest), source-path, or item (our id).
 * Options: api (server; default: where this script came from), key (a publishable key),
 * top-k (1-50, default 8), href-template ({id} {record} {record_id} {source_path}; default:
 * the work's landing page), label (heading text), heading-level (1-6, default 2).
 * Styling: --artsnap-font, --artsnap-text, --artsnap-muted, --artsnap-accent, --artsnap-bg,
 * --artsnap-placeholder, --artsnap-radius, --artsnap-gap, --artsnap-thumb-size; parts:
 * heading, list, item, link, image, title, meta, message.
 */
(() => {
  "use strict";
  if (customElements.get("artsnap-related")) return;

  const script = document.currentScript;
  const DEFAULT_API = script && script.src ? new URL("..", script.src).href : "";
  const TEXT = {
    label: "Related works",
    loading: "Looking for related works\u2026",
    none: "No related works found.",
    unavailable: "Related works are not available at the moment.",
    untitled: "Untitled",
  };
  const CSS = `
:host { display: block; font-family: var(--artsnap-font, inherit); color: var(--artsnap-text, inherit);
  background: var(--artsnap-bg, transparent); }
:host([hidden]) { display: none; }
h1, h2, h3, h4, h5, h6 { font: inherit; font-size: 1.15em; font-weight: 600; margin: 0 0 .6em; }
ul { list-style: none; margin: 0; padding: 0; display: grid; gap: var(--artsnap-gap, 1em);
  grid-template-columns: repeat(auto-fill, minmax(var(--artsnap-thumb-size, 150px), 1fr)); }
li { min-width: 0; }
a { color: var(--artsnap-accent, #1a5fb4); }
.work { display: block; color: inherit; text-decoration: none; border-radius: var(--artsnap-radius, 6px); }
.work:focus-visible { outline: 3px solid var(--artsnap-accent, #1a5fb4); outline-offset: 3px; }
.work:hover .title { color: var(--artsnap-accent, #1a5fb4); text-decoration: underline; }
img, .ph { display: block; width: 100%; height: auto; aspect-ratio: 1; object-fit: cover;
  background: var(--artsnap-placeholder, #e8e8e8); border-radius: var(--artsnap-radius, 6px); }
.title { display: block; margin-top: .4em; font-weight: 600; overflow-wrap: anywhere; }
.meta { margin: .2em 0 0; font-size: .85em; color: var(--artsnap-muted, #595959); overflow-wrap: anywhere; }
.msg { margin: 0; color: var(--artsnap-muted, #595959); }
.busy ul { margin-top: .6em; }
@media (prefers-reduced-motion: no-preference) {
  .ph { animation: pulse 1.4s ease-in-out infinite; }
  @keyframes pulse { 50% { opacity: .55; } }
}`;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
    }
    if (text) node.textContent = text;
    return node;
  }

  function webUrl(value) {
    if (!value) return null;
    try {
      const url = new URL(value, document.baseURI);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function clampInt(text, fallback, lo, hi) {
    const n = parseInt(text, 10);
    return Number.isFinite(n) ? Math.min(hi, Math.max(lo, n)) : fallback;
  }

  // {record} is the full reference (europeana:/1/a); {record_id} the id after its scheme (/1/a).
  function fill(template, hit) {
    const att = hit.attribution || {};
    const record = att.record_id || "";
    const values = {
      id: String(hit.id),
      record,
      record_id: record.includes(":") ? record.slice(record.indexOf(":") + 1) : record,
      source_path: hit.source_path || "",
    };
    let missing = false;
    const href = template.replace(/\{(\w+)\}/g, (all, name) => {
      if (!(name in values)) return all;
      if (!values[name]) missing = true;
      return encodeURIComponent(values[name]).replace(/%2F/gi, "/");
    });
    return missing ? null : webUrl(href);
  }

  class ArtsnapRelated extends HTMLElement {
    static get observedAttributes() {
      return ["api", "collection", "item", "record", "source-path", "key", "top-k", "href-template", "label"];
    }

    constructor() {
      super();
      this._root = this.attachShadow({ mode: "open" });
      this._run = 0;
      this._visible = false;
    }

    connectedCallback() {
      if (!this._root.firstChild) this._busy();
      if (this._visible || this._io) return;
      if (!("IntersectionObserver" in window)) return this._show();
      // Nothing is fetched until the widget is about to scroll into view.
      this._io = new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting)) this._show();
      }, { rootMargin: "300px" });
      this._io.observe(this);
    }

    disconnectedCallback() {
      if (this._io) this._io.disconnect();
      this._io = null;
    }

    attributeChangedCallback(name, before, after) {
      if (this._visible && before !== after) this._load();
    }

    _show() {
      if (this._io) this._io.disconnect();
      this._io = null;
      this._visible = true;
      this._load();
    }

    _frame(busy) {
      const level = clampInt(this.getAttribute("heading-level"), 2, 1, 6);
      const section = el("section", { class: busy ? "busy" : null, "aria-busy": busy ? "true" : "false",
        "aria-labelledby": "heading" });
      section.append(el(`h${level}`, { id: "heading", part: "heading" }, this.getAttribute("label") || TEXT.label));
      this._root.replaceChildren(el("style", {}, CSS), section);
      return section;
    }

    _busy() {
      const section = this._frame(true);
      section.append(el("p", { class: "msg", role: "status", part: "message placeholder" }, TEXT.loading));
      const list = el("ul", { "aria-hidden": "true" });
      for (let i = 0; i < Math.min(4, clampInt(this.getAttribute("top-k"), 8, 1, 50)); i++) {
        const item = el("li");
        item.append(el("div", { class: "ph" }));
        list.append(item);
      }
      section.append(list);
    }

    _message(text) {
      this._frame(false).append(el("p", { class: "msg", role: "status", part: "message" }, text));
    }

    async _load() {
      const run = ++this._run;
      const api = (this.getAttribute("api") || DEFAULT_API).replace(/\/+$/, "");
      const collection = this.getAttribute("collection");
      const key = this.getAttribute("key") || "";
      const query = new URLSearchParams();
      for (const [attr, param] of [["record", "record"], ["source-path", "source_path"], ["item", "item"]]) {
        const value = this.getAttribute(attr);
        if (value && ![...query.keys()].length) query.set(param, value);
      }
      if (!api || !collection || ![...query.keys()].length) {
        console.warn("artsnap-related: set collection and one of record, source-path or item");
        return this._message(TEXT.unavailable);
      }
      if (key.startsWith("sk_")) console.warn("artsnap-related: a secret key (sk_) does not belong in a web page");
      query.set("top_k", String(clampInt(this.getAttribute("top-k"), 8, 1, 50)));
      this._busy();
      const headers = { Accept: "application/json" };
      if (key) headers.Authorization = `Bearer ${key}`;
      let resp = null;
      let body = null;
      try {
        resp = await fetch(`${api}/v1/collections/${encodeURIComponent(collection)}/related?${query}`,
          { headers, mode: "cors", credentials: "omit" });
        body = await resp.json().catch(() => null);
      } catch (_) {
        resp = null; // no answer the page may read: offline, or this page's origin is not allowed
      }
      if (run !== this._run) return;
      if (!resp || !resp.ok) {
        const code = body && body.error ? body.error.code : "no_answer";
        console.warn(`artsnap-related: ${code}`, body && body.error ? body.error.message : "");
        this.dispatchEvent(new CustomEvent("artsnap-error", { detail: { status: resp ? resp.status : 0, code } }));
        return this._message(resp && resp.status === 404 ? TEXT.none : TEXT.unavailable);
      }
      this._render(api, key, body.results || []);
    }

    _render(api, key, results) {
      if (!results.length) return this._message(TEXT.none);
      const section = this._frame(false);
      const template = this.getAttribute("href-template");
      const list = el("ul", { role: "list", part: "list", "aria-labelledby": "heading" });
      for (const hit of results) {
        const att = hit.attribution || {};
        const title = hit.title || TEXT.untitled;
        const href = template ? fill(template, hit) || webUrl(att.landing_page) : webUrl(att.landing_page);
        let src = `${api}${hit.thumbnail_url}`;
        if (key.startsWith("pk_")) src += `${src.includes("?") ? "&" : "?"}key=${encodeURIComponent(key)}`;
        const work = el(href ? "a" : "div", { class: "work", href, part: "link" });
        work.append(
          el("img", { src, alt: title, loading: "lazy", decoding: "async", width: "256", height: "256", part: "image" }),
          el("span", { class: "title", part: "title", "aria-hidden": "true" }, title),
        );
        if (!href) work.lastChild.removeAttribute("aria-hidden");
        const item = el("li", { part: "item" });
        item.append(work);
        const rights = webUrl(att.rights);
        const rightsText = att.rights_label || (rights ? "Rights" : att.rights);
        if (rightsText || att.provider) {
          const meta = el("p", { class: "meta", part: "meta" });
          if (rightsText) meta.append(rights ? el("a", { href: rights, rel: "license" }, rightsText) : rightsText);
          if (rightsText && att.provider) meta.append(" \u00b7 ");
          if (att.provider) meta.append(att.provider);
          item.append(meta);
        }
        list.append(item);
      }
      section.append(list);
    }
  }

  customElements.define("artsnap-related", ArtsnapRelated);
})();
