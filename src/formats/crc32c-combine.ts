/**
 * CRC32C of a concatenation from the CRCs of its parts: crc(A || B) = combine(crc(A), crc(B), len(B)).
 * CRC is linear over GF(2), so appending len(B) bytes to A multiplies A's remainder by x^(8·len(B)) mod P;
 * this computes that factor from a table of x^(2^k) mod P (the method of zlib's crc32_combine), in
 * O(log len) carry-less multiplications. Written here because no maintained npm package offers a
 * combine for the Castagnoli polynomial; it is tested against @node-rs/crc32 on random data.
 */
const POLY = 0x82f63b78; // Castagnoli, reflected
const X0 = 0x80000000; // the polynomial 1 in reflected bit order

/** a(x) · b(x) mod P(x), reflected 32-bit. */
function multModP(a: number, b: number): number {
  let m = X0;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) mod P */
const X2N: number[] = (() => {
  const t: number[] = [];
  let p = X0 >>> 1; // x^1
  for (let k = 0; k < 32; k++) {
    t.push(p);
    p = multModP(p, p);
  }
  return t;
})();

/** x^(n · 2^k) mod P */
function x2nModP(n: number, k: number): number {
  let p = X0;
  while (n) {
    if (n & 1) p = multModP(X2N[k & 31]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/**
 * The factor x^(8·n) for each length n seen, kept because a snapshot's leaves repeat lengths: the status
 * of a 2 GiB snapshot combines ~500,000 CRCs of a few thousand distinct lengths.
 */
const factors = new Map<number, number>();
const MAX_FACTORS = 1 << 16;

function factorFor(lengthB: number): number {
  let f = factors.get(lengthB);
  if (f === undefined) {
    f = x2nModP(lengthB, 3);
    if (factors.size >= MAX_FACTORS) factors.clear();
    factors.set(lengthB, f);
  }
  return f;
}

export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB === 0) return crcA >>> 0;
  // shifting the empty remainder gives nothing: crc(A || B) is crc(B) when crc(A) is 0
  if (crcA === 0) return crcB >>> 0;
  return (multModP(factorFor(lengthB), crcA >>> 0) ^ crcB) >>> 0;
}
