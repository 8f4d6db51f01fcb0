// Decoder of the server's binary messages (neuralab/playground/frames.py):
// header "NLPG" u16 version u16 kind u32 seq u32 n; sections u16 id u16 dtype u32 count.

export const KIND = {FRAME: 1, DATA: 2, CURVE: 3, EXPORT: 4};
export const SECTION = {SCALARS: 1, SHAPE: 2, WEIGHTS: 3, GRADS: 4, OUTPUT: 5, CLASSES: 6,
  NEURONS: 7, FOCUS: 8, RACE: 9, POINTS: 10, INPUTS: 11, LR_CURVE: 12, DOMAIN: 13,
  FILE_NAME: 14, FILE_TYPE: 15, FILE: 16, CONFUSION: 17};
const TYPES = {1: Uint8Array, 2: Uint16Array, 3: Float32Array, 4: Float64Array};

export function decode(buffer) {
  const view = new DataView(buffer);
  const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4));
  if (magic !== "NLPG") throw new Error("not a playground frame");
  const version = view.getUint16(4, true);
  if (version !== 1) throw new Error(`frame version ${version}`);
  const kind = view.getUint16(6, true), seq = view.getUint32(8, true);
  const n = view.getUint32(12, true);
  const sections = new Map();
  let offset = 16;
  for (let k = 0; k < n; k++) {
    const id = view.getUint16(offset, true), type = TYPES[view.getUint16(offset + 2, true)];
    const count = view.getUint32(offset + 4, true);
    offset += 8;
    sections.set(id, new type(buffer, offset, count));
    offset += count * type.BYTES_PER_ELEMENT;
    offset += (8 - (offset % 8)) % 8;
  }
  return {kind, seq, sections};
}
