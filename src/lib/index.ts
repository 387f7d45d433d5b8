/**
 * rootsync as a library (`import … from 'rootsync'`, built into dist-lib/rootsync.js): a light client
 * that syncs and verifies Ethereum-style state in a worker, an EIP-1193 provider over its verified
 * reads, and EIP-6963 discovery. The custom element is a separate entry (`rootsync/element`, element.ts).
 *
 *   const lc = createLightClient({ bootstrap: '/bootstrap.json' })
 *   await lc.start()
 *   const provider = createEip1193Provider(lc)
 *   announceProvider(provider)            // wallets and dApp libraries find it (EIP-6963)
 *
 * The worker scripts load from beside this file by default (`sync-worker.js`, `shared-worker.js`);
 * `workerUrl` / `sharedWorkerUrl` point elsewhere (a CDN, a bundler's asset URL).
 *
 * Security considerations: every answer is verified in the worker against a header verified from the
 * configured checkpoint; the configuration (`bootstrap`) is the root of trust and is only as
 * trustworthy as whoever supplies it (see docs/embedding.md).
 */

export type {
  AccountAnswer,
  BlockHeaderAnswer,
  BlockTag,
  BootstrapInfo,
  CodeAnswer,
  ConsistencyResult,
  HeaderView,
  LightEvent,
  LightPhase,
  PeerInfo,
  PeerView,
  ProofAnswer,
  RecoveryReport,
  StorageAnswer,
} from '../api/worker-protocol.ts'
export { ConsistencyError, ReadError, type ReadErrorCode, RecoveryError } from '../client/errors.ts'
export {
  type BlockReadOptions,
  type ClientEvent,
  createLightClient,
  type LightClient,
  type LightClientOptions,
} from '../client/light-client.ts'
export { dbNameOf, type ReadOptions } from '../client/rootsync-client.ts'
export { RootsyncError } from '../core/errors.ts'
export { BootstrapError, BootstrapError as ConfigError } from '../core/light/config.ts'
export {
  createEip1193Provider,
  type ProviderEvent,
  type ProviderOptions,
  ProviderRpcError,
  type RequestArguments,
  type RootsyncProvider,
  RPC_CODE,
} from '../provider/eip1193.ts'
export { announceProvider, type ProviderInfo, ROOTSYNC_ICON } from '../provider/eip6963.ts'
