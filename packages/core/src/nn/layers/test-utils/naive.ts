/** Float64 reference loops (PyTorch semantics, NHWC activations, PyTorch-layout weights). */

export interface ConvSpec {
  B: number;
  H: number;
  W: number;
  cin: number;
  cout: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  /** [top, bottom, left, right] */
  pads: [number, number, number, number];
  dh: number;
  dw: number;
  groups: number;
}

export function convOut(s: ConvSpec): [number, number] {
  return [
    Math.floor((s.H + s.pads[0] + s.pads[1] - s.dh * (s.kh - 1) - 1) / s.sh) + 1,
    Math.floor((s.W + s.pads[2] + s.pads[3] - s.dw * (s.kw - 1) - 1) / s.sw) + 1,
  ];
}

/**
 * y = conv(x, w) + b, and with r (same shape as y) the gradients of sum(y*r):
 * x NHWC, w torch (out, in/groups, kh, kw), b (out) or null.
 */
export function naiveConv(s: ConvSpec, x: Float64Array, w: Float64Array, b: Float64Array | null, r?: Float64Array) {
  const [Ho, Wo] = convOut(s);
  const cinG = s.cin / s.groups;
  const coutG = s.cout / s.groups;
  const y = new Float64Array(s.B * Ho * Wo * s.cout);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const db = new Float64Array(s.cout);
  for (let bi = 0; bi < s.B; bi++)
    for (let oh = 0; oh < Ho; oh++)
      for (let ow = 0; ow < Wo; ow++)
        for (let o = 0; o < s.cout; o++) {
          const g = Math.floor(o / coutG);
          const yi = ((bi * Ho + oh) * Wo + ow) * s.cout + o;
          const rr = r ? r[yi] : 0;
          let acc = b ? b[o] : 0;
          db[o] += rr;
          for (let ci = 0; ci < cinG; ci++)
            for (let ki = 0; ki < s.kh; ki++) {
              const ih = oh * s.sh - s.pads[0] + ki * s.dh;
              if (ih < 0 || ih >= s.H) continue;
              for (let kj = 0; kj < s.kw; kj++) {
                const iw = ow * s.sw - s.pads[2] + kj * s.dw;
                if (iw < 0 || iw >= s.W) continue;
                const xi = ((bi * s.H + ih) * s.W + iw) * s.cin + g * cinG + ci;
                const wi = ((o * cinG + ci) * s.kh + ki) * s.kw + kj;
                acc += x[xi] * w[wi];
                dx[xi] += rr * w[wi];
                dw[wi] += rr * x[xi];
              }
            }
          y[yi] = acc;
        }
  return { y, dx, dw, db, Ho, Wo };
}
