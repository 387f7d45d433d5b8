/**
 * The recovery strategies by name, so an app's config or a CLI flag (`parseStrategies`) picks them
 * and their order. Each lives in its own module with the same shape (`RecoveryStrategy`).
 */
import { localSnapshotStrategy } from './local.ts'
import { peerRepairStrategy } from './peer-repair.ts'
import { replayStrategy } from './replay-strategy.ts'
import { networkSnapshotStrategy } from './snapshot-sync.ts'
import type { RecoveryStrategy, StrategyName } from './types.ts'

export const STRATEGIES: Record<StrategyName, RecoveryStrategy> = {
  local: localSnapshotStrategy,
  peer: peerRepairStrategy,
  replay: replayStrategy,
  snapshot: networkSnapshotStrategy,
}

export const strategiesNamed = (names: readonly StrategyName[]): RecoveryStrategy[] =>
  names.map((n) => STRATEGIES[n])
