// Heatmaps: quantized bytes (0 = -1 orange, 128 = 0 white, 255 = +1 blue) drawn into a canvas
// through a 256-entry colour table (the main one pale, ``alpha`` about 60%, so that the
// points stay readable), and the data points on top.

const NEG = [245, 147, 34], MID = [232, 234, 235], POS = [8, 119, 189];
export const CLASS_COLORS = [[245, 147, 34], [8, 119, 189], [64, 160, 64], [200, 60, 160],
  [120, 90, 200], [220, 60, 60], [40, 170, 170], [150, 150, 40]];

function mix(a, b, t) { return a.map((v, k) => Math.round(v + (b[k] - v) * t)); }

const TABLE = new Uint8ClampedArray(256 * 3);
const DISCRETE = new Uint8ClampedArray(256 * 3);
for (let q = 0; q < 256; q++) {
  const v = q / 127.5 - 1;
  const c = v < 0 ? mix(MID, NEG, -v) : mix(MID, POS, v);
  TABLE.set(c, q * 3);
  DISCRETE.set(mix(MID, v < 0 ? NEG : POS, 0.85), q * 3);
}

/** Paint an n×n byte image (row 0 at the top) onto ``canvas``, scaled to its size. */
export function paint(canvas, bytes, n, {discretize = false, classes = null, alpha = 255} = {}) {
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(n, n);
  const px = image.data, table = discretize ? DISCRETE : TABLE;
  for (let k = 0; k < n * n; k++) {
    let r, g, b;
    if (classes) {
      const color = CLASS_COLORS[classes[k] % CLASS_COLORS.length];
      const t = discretize ? 0.85 : 0.15 + 0.7 * (bytes[k] / 255);
      [r, g, b] = mix(MID, color, t);
    } else {
      r = table[bytes[k] * 3]; g = table[bytes[k] * 3 + 1]; b = table[bytes[k] * 3 + 2];
    }
    px[k * 4] = r; px[k * 4 + 1] = g; px[k * 4 + 2] = b; px[k * 4 + 3] = alpha;
  }
  const off = paint.scratch || (paint.scratch = document.createElement("canvas"));
  off.width = n; off.height = n;
  off.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = !discretize;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
}

/** The points (x1, x2, label, isTest) over the heatmap; test points outlined in black.
 * They change only with the data: drawn once into a layer of their own, which each frame
 * copies over the heatmap in one drawImage. */
export function drawPoints(canvas, points, domain, {showTest = false, task = "binary"} = {}) {
  if (!points) return;
  const key = [points, domain.join(), showTest, task, canvas.width, canvas.height];
  const layer = drawPoints.layer || (drawPoints.layer = {canvas: document.createElement("canvas"), key: []});
  if (key.some((v, k) => v !== layer.key[k])) {
    layer.canvas.width = canvas.width; layer.canvas.height = canvas.height;
    pointsInto(layer.canvas, points, domain, showTest, task);
    layer.key = key;
  }
  canvas.getContext("2d").drawImage(layer.canvas, 0, 0);
}

function pointsInto(canvas, points, domain, showTest, task) {
  const ctx = canvas.getContext("2d");
  const [lo, hi] = domain, w = canvas.width, h = canvas.height;
  for (let k = 0; k < points.length; k += 4) {
    const test = points[k + 3] > 0.5;
    if (test && !showTest) continue;
    const x = ((points[k] - lo) / (hi - lo)) * w, y = ((hi - points[k + 1]) / (hi - lo)) * h;
    const label = points[k + 2];
    let color;
    if (task === "regression") {
      const v = Math.max(-1, Math.min(1, label));
      color = v < 0 ? mix(MID, NEG, -v) : mix(MID, POS, v);
    } else if (task === "multiclass") {
      color = CLASS_COLORS[label % CLASS_COLORS.length];
    } else {
      color = label > 0.5 ? POS : NEG;
    }
    ctx.beginPath();
    ctx.arc(x, y, 3.2, 0, 2 * Math.PI);
    ctx.fillStyle = `rgb(${color.join(",")})`;
    ctx.fill();
    ctx.lineWidth = test ? 1.4 : 0.8;
    ctx.strokeStyle = test ? "#000" : "#fff";
    ctx.stroke();
  }
}
