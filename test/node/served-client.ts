/**
 * A client process for serve-busy-client.test.ts: it asks the serving node at argv[2] for its
 * status, prints `served`, then idles (connection open) until killed. Started bundled
 * (test/helpers/cli.ts `scriptArgv`), as the test starts several.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { PeerClient } from '../../src/net/client.ts'
import { createClientLibp2p } from '../../src/node/libp2p.ts'

const node = await createClientLibp2p()
await new PeerClient(node, multiaddr(process.argv[2]!)).status()
process.stdout.write('served\n')
setInterval(() => {}, 60_000)
