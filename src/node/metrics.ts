/**
 * Prometheus metrics of a serving node (prom-client), exposed over HTTP at /metrics.
 */
import { createServer, type Server } from 'node:http'
import type { Libp2p } from '@libp2p/interface'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { Status } from '../core/protocol/messages.ts'
import type { RequestEvent } from '../net/server.ts'

export interface NodeMetrics {
  registry: Registry
  onRequest(e: RequestEvent): void
  head: Gauge
  peers: Gauge
  streamErrors: Counter
  /**
   * Keeps `rootsync_peers` and `rootsync_connections` current. Connections are counted apart from
   * peers: a serving node must notice clients that vanish (killed, network lost), and a connection
   * nobody closed would otherwise only show as libp2p refusing or pruning new ones.
   */
  watchConnections(node: Libp2p): void
  listen(host: string, port: number): Promise<Server>
}

export function createMetrics(): NodeMetrics {
  const registry = new Registry()
  const requests = new Counter({
    name: 'rootsync_requests_total',
    help: 'Requests served, by protocol and status',
    labelNames: ['protocol', 'status'],
    registers: [registry],
  })
  const items = new Counter({
    name: 'rootsync_items_served_total',
    help: 'Items served (nodes, headers, blocks, proofs)',
    labelNames: ['protocol'],
    registers: [registry],
  })
  const bytesOut = new Counter({
    name: 'rootsync_response_bytes_total',
    help: 'Response bytes sent',
    labelNames: ['protocol'],
    registers: [registry],
  })
  const bytesIn = new Counter({
    name: 'rootsync_request_bytes_total',
    help: 'Request bytes received',
    labelNames: ['protocol'],
    registers: [registry],
  })
  const errors = new Counter({
    name: 'rootsync_request_errors_total',
    help: 'Requests answered with an error status',
    labelNames: ['protocol', 'status'],
    registers: [registry],
  })
  const latency = new Histogram({
    name: 'rootsync_request_seconds',
    help: 'Time to serve a request',
    labelNames: ['protocol'],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers: [registry],
  })
  const head = new Gauge({
    name: 'rootsync_head_number',
    help: 'Height of the local head',
    registers: [registry],
  })
  const peers = new Gauge({ name: 'rootsync_peers', help: 'Connected peers', registers: [registry] })
  const connections = new Gauge({
    name: 'rootsync_connections',
    help: 'Open libp2p connections',
    registers: [registry],
  })
  const streamErrors = new Counter({
    name: 'rootsync_stream_errors_total',
    help: 'Streams reset for protocol violations or failures',
    labelNames: ['protocol'],
    registers: [registry],
  })
  return {
    registry,
    head,
    peers,
    streamErrors,
    watchConnections(node) {
      const update = () => {
        peers.set(node.getPeers().length)
        connections.set(node.getConnections().length)
      }
      node.addEventListener('connection:open', update)
      node.addEventListener('connection:close', update)
    },
    onRequest(e) {
      const status = Status[e.status] ?? String(e.status)
      requests.inc({ protocol: e.protocol, status })
      items.inc({ protocol: e.protocol }, e.items)
      bytesOut.inc({ protocol: e.protocol }, e.bytesOut)
      bytesIn.inc({ protocol: e.protocol }, e.bytesIn)
      latency.observe({ protocol: e.protocol }, e.ms / 1000)
      if (e.status !== Status.OK) errors.inc({ protocol: e.protocol, status })
    },
    listen(host, port) {
      const server = createServer(async (req, res) => {
        if (req.url !== '/metrics') {
          res.writeHead(404).end('see /metrics\n')
          return
        }
        res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics())
      })
      return new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, () => resolve(server))
      })
    },
  }
}
