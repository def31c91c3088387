// GrowthBook's reference JavaScript hashing (sdk-js src/util.ts: hashFnv32a + hash), verbatim in
// logic: FNV-1a over charCodeAt (UTF-16 code units) with the shift-add form of the FNV prime.
// Usage: node gb_hash.js < inputs.json  ->  prints [{seed, value, fnv, v2, v1}, ...]
function hashFnv32a(str) {
  let hval = 0x811c9dc5;
  const l = str.length;
  for (let i = 0; i < l; i++) {
    hval ^= str.charCodeAt(i);
    hval += (hval << 1) + (hval << 4) + (hval << 7) + (hval << 8) + (hval << 24);
  }
  return hval >>> 0;
}
function hash(seed, value, version) {
  if (version === 2) return (hashFnv32a(hashFnv32a(seed + value) + "") % 10000) / 10000;
  if (version === 1) return (hashFnv32a(value + seed) % 1000) / 1000;
  return null;
}
const inputs = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = inputs.map(([seed, value]) => ({
  seed,
  value,
  fnv: hashFnv32a(seed + value),
  v2: hash(seed, value, 2),
  v1: hash(seed, value, 1),
}));
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
