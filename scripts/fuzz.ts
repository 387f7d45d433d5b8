/** Long decoder fuzz run: `npm run fuzz -- [iterations] [seed]` (defaults: 2M, a time-based seed). */
import { defaultTargets, fuzz } from '../test/fuzz/harness.ts'

const iterations = Number(process.argv[2] ?? 2_000_000)
const seed = process.argv[3] ?? String(Date.now())
const started = performance.now()
const report = fuzz(await defaultTargets(), iterations, seed)
const secs = (performance.now() - started) / 1000
console.log(
  `seed ${seed}: ${report.inputs} inputs in ${secs.toFixed(1)} s; ${report.decoded} decoded, ${report.rejected} rejected, ${report.crashes.length} crashes`,
)
for (const c of report.crashes) console.log(`CRASH in ${c.target}: input ${c.input}\n${c.error}\n`)
process.exitCode = report.crashes.length ? 1 : 0
