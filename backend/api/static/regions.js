/* What the photo shows, as recognition answered it: "Found: <title>" or "Not in this
 * collection: similar works", and, when the photo holds several artworks, one outline per
 * artwork that the visitor can tap (or focus and press Enter) to see that artwork's answer.
 * app.js calls window.ArtsnapRegions; this file only draws. */
(() => {
  "use strict";
  const SVG_NS = "http://www.w3.org/2000/svg";

  /** The verdict line for one region's (or the whole answer's) match. */
  function verdict(node, match, name) {
    if (match === undefined) {
      node.hidden = true; // an answer without recognition (an older server)
      return;
    }
    node.hidden = false;
    node.className = match ? "verdict found" : "verdict not-found";
    node.textContent = match ? `Found: ${name(match)}` : "Not in this collection: similar works";
  }

  /** One tappable outline per region, in the uploaded photo's pixels (query.photo_size).
   * Drawn only when there are several: a single artwork keeps the located-artwork outline. */
  function draw(svg, data, name, onSelect) {
    svg.replaceChildren();
    const regions = data.regions || [];
    const size = data.query && data.query.photo_size;
    if (regions.length < 2 || !Array.isArray(size)) {
      svg.setAttribute("hidden", "");
      return;
    }
    // Corners use pixel centres at integers: the photo spans -0.5 .. size - 0.5.
    svg.setAttribute("viewBox", `-0.5 -0.5 ${size[0]} ${size[1]}`);
    regions.forEach((region, i) => {
      const poly = document.createElementNS(SVG_NS, "polygon");
      poly.setAttribute("points", region.corners.map(([x, y]) => `${x},${y}`).join(" "));
      poly.setAttribute("class", `region-outline${region.match ? " recognised" : ""}`);
      poly.setAttribute("vector-effect", "non-scaling-stroke");
      poly.setAttribute("tabindex", "0");
      poly.setAttribute("role", "button");
      poly.setAttribute("aria-pressed", "false");
      poly.setAttribute(
        "aria-label",
        region.match ? `Artwork ${i + 1}: ${name(region.match)}` : `Artwork ${i + 1}: not in this collection`,
      );
      poly.dataset.region = String(i);
      const choose = () => select(svg, i, onSelect);
      poly.addEventListener("click", choose);
      poly.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          choose();
        }
      });
      svg.append(poly);
    });
    svg.removeAttribute("hidden");
    const main = regions.findIndex((r) => data.match && r.match && r.match.id === data.match.id);
    mark(svg, main >= 0 ? main : 0);
  }

  function mark(svg, index) {
    for (const poly of svg.querySelectorAll(".region-outline")) {
      const on = poly.dataset.region === String(index);
      poly.classList.toggle("selected", on);
      poly.setAttribute("aria-pressed", String(on));
    }
  }

  function select(svg, index, onSelect) {
    mark(svg, index);
    onSelect(index);
  }

  window.ArtsnapRegions = { draw, verdict };
})();
