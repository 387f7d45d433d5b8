/**
 * Run by level.test.ts as its own process, then SIGKILLed: writes the conformance suite's crash
 * batch 1 into the LevelDB store at argv[2], then announces on stdout either that it is idle before
 * batch 2 (`before`) or that batch 2's write has been issued (`during`), and waits to be killed.
 */
import { LevelNodeStore } from '../../src/store/level-store.ts'
import { crashBatches } from './conformance.ts'

const [path, when] = process.argv.slice(2)
const store = await LevelNodeStore.open(path!)
const { first, second } = crashBatches()
await store.write(first)
if (when === 'during') {
  void store.write(second)
  process.stdout.write('writing\n')
} else process.stdout.write('idle\n')
// Wait to be killed (a timer keeps the process alive; it is killed long before this fires).
setTimeout(() => process.exit(2), 60_000)
