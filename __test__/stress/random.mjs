// Seeded randomness for the stress test: one generator per run, and values that survive a round
// trip JS → Python → JS unchanged (so every echo can be asserted with deepStrictEqual).

/** mulberry32: small, fast, good enough to pick operations; the same seed gives the same picks. */
export function makeRandom(seed) {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
  const random = {
    next,
    /** An integer in [lo, hi]. */
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)],
    /** An item of `[{ weight, ... }]`, by weight. */
    weighted(items) {
      const total = items.reduce((sum, item) => sum + item.weight, 0)
      let r = next() * total
      for (const item of items) {
        r -= item.weight
        if (r < 0) return item
      }
      return items[items.length - 1]
    },
  }
  return random
}

const strings = ['', 'a', 'héllo', '𝄞 astral', 'x'.repeat(300), 'multi\nline', '__proto__']

function leaf(random) {
  switch (random.int(0, 8)) {
    case 0: return null
    case 1: return random.chance(0.5)
    case 2: return random.int(-(2 ** 31), 2 ** 31)
    case 3: return random.next() * 1e6 - 5e5 + 0.5
    case 4: return random.pick(strings)
    case 5: return 2n ** 64n + BigInt(random.int(0, 1000))
    case 6: return Buffer.from([random.int(0, 255), random.int(0, 255), 0])
    case 7: return random.pick([NaN, Infinity, -0, Number.MAX_SAFE_INTEGER])
    default: return Array.from({ length: random.int(64, 200) }, (_, i) => i * 0.25) // packed floats
  }
}

/** A random value of nested arrays, plain objects and sets around round-trip-safe leaves. */
export function value(random, depth = 3) {
  if (depth === 0 || random.chance(0.3)) return leaf(random)
  switch (random.int(0, 2)) {
    case 0: return Array.from({ length: random.int(0, 5) }, () => value(random, depth - 1))
    case 1: return Object.fromEntries(Array.from({ length: random.int(0, 4) }, (_, i) => [`k${i}`, value(random, depth - 1)]))
    default: return new Set(Array.from({ length: random.int(0, 4) }, () => random.int(0, 100)))
  }
}

/** A JS object worth passing twice: an array, a plain object or a Map. */
export function container(random) {
  switch (random.int(0, 2)) {
    case 0: return [random.int(0, 9), 'x']
    case 1: return { a: random.int(0, 9) }
    default: return new Map([[random.int(0, 9), 'v']])
  }
}
