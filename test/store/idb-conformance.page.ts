/**
 * Runs in Chromium (bundled by idb-conformance.test.ts). `?run=suite` runs the store conformance
 * suite on the real IndexedDB store and reports each case in `window.__result`; `?run=crash-write`
 * writes the crash batches (and is then killed with the whole browser by the Node test);
 * `?run=crash-check` reopens the database after the kill and checks what survived. The store runs
 * its transactions in the store-writer worker (served as /writer.js), as the app's dedicated sync
 * worker does (the suite's other Chromium runs, test/browser/idb-store.test.ts and faults.test.ts,
 * write on the calling thread); `writer-fallback` checks a writer that cannot start.
 */
import { IdbNodeStore } from '../../src/store/idb-store.ts'
import { type CrashWhen, checkAfterCrash, crashBatches, storeConformance, storesAt } from './conformance.ts'

export interface CaseResult {
  name: string
  skip?: string
  error?: string
}

declare global {
  interface Window {
    __result?: unknown
    __phase?: string
  }
}

/** The crash cases are run by the Node test instead: it SIGKILLs the whole browser mid-write. */
const IDB_CRASH_SKIP = 'run from Node: the browser is SIGKILLed'

const spawnWriter = () => new Worker('/writer.js', { type: 'module' })
const idb = storesAt((name) => IdbNodeStore.open(name, undefined, { spawnWriter }))

/** A writer whose script does not load: the store writes on this thread, and the write is whole. */
async function writerFallback(): Promise<CaseResult> {
  const name = `fallback-${Math.random()}`
  const broken = () => new Worker('/missing-writer.js', { type: 'module' })
  const store = await IdbNodeStore.open(name, undefined, { spawnWriter: broken })
  const { first } = crashBatches()
  await store.write(first)
  const offThread = await store.writesOffThread()
  store.close()
  const again = await IdbNodeStore.open(name)
  try {
    if (offThread) throw new Error('a writer that failed to load is reported as running')
    await checkAfterCrash(again, 'before')
    return { name: WRITER_FALLBACK }
  } catch (e) {
    return { name: WRITER_FALLBACK, error: String((e as Error)?.stack ?? e) }
  } finally {
    again.close()
  }
}

/** The id the Node test looks this case up by. */
const WRITER_FALLBACK = 'writer-fallback'

async function suite(): Promise<CaseResult[]> {
  const cases: { name: string; run: () => Promise<void>; skip?: string }[] = []
  storeConformance(
    {
      open: () => idb.open(`conformance-${Math.random()}`),
      reopen: idb.reopen,
      skipCrash: IDB_CRASH_SKIP,
    },
    (name, run, skip) => cases.push({ name, run, skip }),
  )
  const out: CaseResult[] = []
  for (const c of cases) {
    if (c.skip) {
      out.push({ name: c.name, skip: c.skip })
      continue
    }
    try {
      await c.run()
      out.push({ name: c.name })
    } catch (e) {
      out.push({ name: c.name, error: String((e as Error)?.stack ?? e) })
    }
  }
  // The suite above ran through the writer, not a silent fallback.
  const probe = await idb.open(`probe-${Math.random()}`)
  const used = await (probe as IdbNodeStore).writesOffThread()
  out.push({ name: 'writer-used', ...(used ? {} : { error: 'the store-writer worker did not start' }) })
  await probe.close()
  out.push(await writerFallback())
  return out
}

async function crashWrite(db: string, when: CrashWhen): Promise<void> {
  const store = await idb.open(db)
  const { first, second } = crashBatches()
  await store.write(first)
  if (when === 'during') {
    // Issued, not awaited: the browser is killed while the transaction is in flight.
    void store.write(second)
    window.__phase = 'writing'
  } else window.__phase = 'idle'
}

const q = new URLSearchParams(location.search)
const run = q.get('run')
const job =
  run === 'suite'
    ? suite()
    : run === 'crash-write'
      ? crashWrite(q.get('db')!, q.get('when') as CrashWhen)
      : run === 'crash-check'
        ? idb.open(q.get('db')!).then((s) => checkAfterCrash(s, q.get('when') as CrashWhen))
        : Promise.resolve(null)
job.then(
  (r) => (window.__result = r ?? 'done'),
  (e) => (window.__result = { error: String(e?.stack ?? e) }),
)
