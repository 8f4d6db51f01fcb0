// A small line chart on a plain canvas: several named series, an automatic (or log) y range.

export const COLORS = ["#333", "#e08a1e", "#0877bd", "#3a9c3a", "#b0389c", "#7a5cc8",
  "#d23c3c", "#28a0a0"];
export const DASHES = [[], [7, 4], [2, 3], [9, 3, 2, 3]];

export class LineChart {
  constructor(canvas, {log = false, maxPoints = 600} = {}) {
    this.canvas = canvas; this.log = log; this.maxPoints = maxPoints;
    this.series = [];  // arrays of numbers
    this.names = [];
  }

  reset(names = []) {
    this.names = names;
    this.series = names.map(() => []);
    this.draw();
  }

  /** Append one value per series (NaN leaves a gap). */
  push(values) {
    if (values.length !== this.series.length) this.reset(values.map((_, k) => this.names[k] ?? `${k}`));
    values.forEach((v, k) => this.series[k].push(v));
    if (this.series[0].length > this.maxPoints) {   // halve the resolution, keep the shape
      this.series = this.series.map((s) => s.filter((_, k) => k % 2 === 0));
    }
  }

  /** Replace the data wholesale (e.g. the learning-rate curve). */
  set(seriesList, names = []) { this.series = seriesList.map((s) => Array.from(s)); this.names = names; this.draw(); }

  draw() {
    const ctx = this.canvas.getContext("2d"), W = this.canvas.width, h = this.canvas.height;
    ctx.clearRect(0, 0, W, h);
    // the legend takes a column of its own on the right: never over the curves
    ctx.font = "10px sans-serif";
    const legend = this.names.length ? Math.min(W * 0.4, 20 + Math.max(...this.names.map((n) => ctx.measureText(n).width))) : 0;
    const w = W - legend;
    const f = (v) => (this.log ? Math.log10(Math.max(v, 1e-12)) : v);
    let lo = Infinity, hi = -Infinity, n = 0;
    for (const s of this.series) {
      n = Math.max(n, s.length);
      for (const v of s) if (Number.isFinite(v)) { lo = Math.min(lo, f(v)); hi = Math.max(hi, f(v)); }
    }
    ctx.strokeStyle = "#ddd"; ctx.strokeRect(0.5, 0.5, w - 1, h - 1);
    this.names.forEach((name, j) => {
      const y = 12 + 12 * j;
      if (y > h) return;
      ctx.strokeStyle = COLORS[j % COLORS.length]; ctx.lineWidth = 2; ctx.setLineDash(DASHES[j % DASHES.length]);
      ctx.beginPath(); ctx.moveTo(w + 4, y - 3); ctx.lineTo(w + 12, y - 3); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = COLORS[j % COLORS.length];
      let label = name;
      while (label.length > 3 && ctx.measureText(label).width > legend - 16) label = label.slice(0, -2) + "…";
      ctx.fillText(label, w + 15, y);
    });
    if (!Number.isFinite(lo) || n < 1) return;
    if (!this.log) lo = Math.min(lo, 0);
    if (hi - lo < 1e-12) hi = lo + 1;
    const pad = 4, left = 34, X = (k) => left + (k / Math.max(n - 1, 1)) * (w - left - pad);
    const Y = (v) => h - pad - ((f(v) - lo) / (hi - lo)) * (h - 2 * pad);
    this.series.forEach((s, j) => {
      // a dash pattern per series: two runs with the same curve both stay visible
      ctx.beginPath(); ctx.strokeStyle = COLORS[j % COLORS.length]; ctx.lineWidth = 1.6;
      ctx.setLineDash(DASHES[j % DASHES.length]);
      let open = false;
      s.forEach((v, k) => {
        if (!Number.isFinite(v)) { open = false; return; }
        if (open) ctx.lineTo(X(k), Y(v)); else { ctx.moveTo(X(k), Y(v)); open = true; }
      });
      ctx.stroke();
    });
    ctx.setLineDash([]);
    ctx.fillStyle = "#555";
    const show = (v) => (this.log ? 10 ** v : v).toPrecision(3);
    ctx.fillText(show(hi), 2, 10); ctx.fillText(show(lo), 2, h - 4);
  }
}
