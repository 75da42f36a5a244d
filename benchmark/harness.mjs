// Tiny benchmark harness: ops/s over repeated timed rounds (best round wins, the machine is
// shared and noisy), and ratios against a baseline measured in the same process.
import { createRequire } from 'node:module'

export const quick = process.env.BENCH_QUICK === '1'
const roundMs = quick ? 50 : 400
const rounds = quick ? 2 : 5

/** Best ops/s of `fn` (called `batch` times per timing). */
export function opsPerSecond(fn, batch = 1000) {
  for (let i = 0; i < batch; i++) fn() // warm-up
  let best = 0
  for (let r = 0; r < rounds; r++) {
    let ops = 0
    const start = process.hrtime.bigint()
    let elapsed = 0
    while (elapsed < roundMs) {
      for (let i = 0; i < batch; i++) fn()
      ops += batch
      elapsed = Number(process.hrtime.bigint() - start) / 1e6
    }
    best = Math.max(best, (ops * 1000) / elapsed)
  }
  return best
}

/** The raw binding, for a plain Node-API baseline (`cancelCall` of no call touches no Python). */
export const native = createRequire(import.meta.url)('../dist/native.js').load()

export function fmt(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(n < 10 ? 2 : 1)
}

/**
 * Checks a target: a full run prints `met` or `NOT met` and fails the process (exit code 1) when
 * not met; a smoke run (BENCH_QUICK=1) is too short and noisy to judge, so it says so instead.
 */
export function target(description, met) {
  if (quick) {
    console.log(`target: ${description} → not checked in a smoke run (BENCH_QUICK=1)`)
    return
  }
  console.log(`target: ${description} → ${met ? 'met' : 'NOT met'}`)
  if (!met) process.exitCode = 1
}

/** Prints one result row: name, value with unit, and ratios to named baselines. */
export function report(name, value, unit, baselines = {}) {
  const ratios = Object.entries(baselines)
    .map(([label, base]) => `${(value / base).toFixed(2)}× ${label}`)
    .join(', ')
  console.log(`${name.padEnd(44)} ${`${fmt(value)} ${unit}`.padStart(14)}   ${ratios}`)
}
