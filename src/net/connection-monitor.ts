/**
 * How long a peer may take to answer libp2p's liveness ping — for every libp2p node we create: the
 * serving node, the CLI's client, the browser worker's and the page's.
 *
 * libp2p's connection monitor pings every connection every 10 s and aborts it when a ping takes
 * longer than an adaptive timeout that is at least 5 s by default. A light client verifying a chunk of
 * 512 signed headers keeps its event loop busy for seconds (3.3–6.3 s measured on a loaded 2-core
 * machine): it cannot answer a ping meanwhile, so the serving node aborted live clients mid-sync
 * (`rootsync recover`: "The connection muxer is "closed" and not "open"", both peers at once), and a
 * client's own monitor can abort its connection the same way (after a long task, timers run before
 * I/O, so the ping's timeout fires before its reply is read). So a ping may take 20 s. The interval
 * stays above that timeout: a heartbeat starting while the last one still waits opens a second ping
 * stream, which the ping protocol refuses (one outbound stream per peer) — and that too aborts the
 * connection. A peer that is really gone without closing its connection (network lost) is still
 * dropped within 50 s; a killed process at once (the kernel closes its TCP socket).
 */
export const CONNECTION_MONITOR = {
  pingInterval: 30_000,
  pingTimeout: { minTimeout: 20_000, maxTimeout: 20_000 },
}
